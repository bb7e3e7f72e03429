// SandboxStore: the sandbox transport's memory in DATA_DIR (sandbox.db, its
// own SQLite file): the outbox of what the simulated WhatsApp accepted and the
// delivered/read receipts still to come. With it "sent exactly once" can be
// checked across worker restarts (GET /api/sandbox/outbox keeps its entries),
// and receipts due when a worker stopped are emitted by the next one instead
// of leaving messages `sent` forever.
#ifndef DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_STORE_H_
#define DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/model/outbound_message.h"

struct sqlite3;

namespace dynoguard::worker {

// One message the sandbox accepted.
struct SandboxOutboxEntry {
  std::string id;  // the provider id (wamid) the send returned
  std::string to;
  // The summary (SendRequest::text); "template:<json>" for a template from
  // before message kinds (no summary).
  std::string text;
  int64_t sent_at_ms = 0;
  std::string type = "text";  // the message kind
  std::string content_json;   // the Cloud "<type>" object; may be empty
};

// A status callback the sandbox will emit once due.
struct SandboxReceipt {
  int64_t due_ms = 0;
  std::string provider_id;
  MessageStatus status = MessageStatus::kDelivered;
};

// Not thread-safe: its owner (SandboxTransport) serializes calls. The file is
// 0600; WAL with synchronous=NORMAL (a simulator: durable across a killed
// process, not across power loss). Schema 2 (type, content_json); a schema 1
// file gains the columns in place (its entries read back as texts).
class SandboxStore {
 public:
  // Opens or creates `path`. IOError naming the path.
  static common::Result<std::unique_ptr<SandboxStore>> Open(
      const std::string& path);
  ~SandboxStore();
  SandboxStore(const SandboxStore&) = delete;
  SandboxStore& operator=(const SandboxStore&) = delete;

  struct Contents {
    std::vector<SandboxOutboxEntry> outbox;  // oldest first, at most capacity
    std::vector<SandboxReceipt> receipts;    // every pending one
    uint64_t last_sequence = 0;              // the highest send number used
  };
  common::Result<Contents> Load(size_t capacity);

  // One accepted send with its receipts, in one transaction; the outbox is
  // then trimmed to `capacity` entries. `sequence` is the send's number.
  common::Status RecordSend(uint64_t sequence, const SandboxOutboxEntry& entry,
                            const std::vector<SandboxReceipt>& receipts,
                            size_t capacity);
  // Forgets receipts that were emitted.
  common::Status RemoveReceipts(const std::vector<SandboxReceipt>& receipts);

 private:
  explicit SandboxStore(sqlite3* db, std::string context)
      : db_(db), context_(std::move(context)) {}

  sqlite3* db_;
  const std::string context_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_STORE_H_
