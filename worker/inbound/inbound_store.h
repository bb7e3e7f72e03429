// InboundStore: the receiving side's durable state in DATA_DIR/inbound.db
// (SQLite, WAL, synchronous=FULL, 0600):
//  - the inbox: every signature-checked webhook body as it came (and every
//    simulated sandbox message as a Cloud-shaped body), with its receive
//    time and whether it has been processed; a body is committed here before
//    POST /webhook answers 200, so a crash never loses one;
//  - `seen`: the dedup keys (inbound_policy.h) of the events already handed
//    to the sinks, kept 7 days (Meta redelivers for up to 7 days). They live
//    on disk only: a restart keeps them and no memory cleanup touches them;
//  - contacts: each contact's last inbound message time, for the 24-hour
//    customer-service window;
//  - chat_inbound: the inbound messages of each chat (id, kind, summary,
//    time) for GET /api/chats/{waId}/messages, kept 7 days like `seen`: they
//    survive restarts and memory cleanups (the outbound half of a chat is the
//    queue's own rows).
// Two connections, each with a 512 KiB page cache. Times are milliseconds
// since the epoch, passed in by the caller.
#ifndef DYNOGUARD_WORKER_INBOUND_INBOUND_STORE_H_
#define DYNOGUARD_WORKER_INBOUND_INBOUND_STORE_H_

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/model/chat_entry.h"

namespace dynoguard::worker {

// Where an inbox row came from.
enum class InboxSource {
  kWebhook,  // a POST /webhook body, raw
  kSandbox,  // POST /api/sandbox/inbound, normalized into a webhook body
};
// "webhook", "sandbox".
std::string_view ToString(InboxSource source);

struct InboxRow {
  int64_t seq = 0;  // increasing, never reused (also after deletions)
  InboxSource source = InboxSource::kWebhook;
  std::string body;
  int64_t received_ms = 0;
};

// What Prune deleted.
struct InboundPruneResult {
  int64_t seen = 0;      // seen keys older than 7 days
  int64_t inbox = 0;     // processed rows older than 24 hours
  int64_t contacts = 0;  // contacts whose window closed
  int64_t chat = 0;      // chat messages older than 7 days
};

struct InboundStoreCounts {
  int64_t pending = 0;     // unprocessed inbox rows
  int64_t processed = 0;   // processed rows still kept
  int64_t unparsable = 0;  // of those, the ones that did not parse
  int64_t seen = 0;        // seen keys
  int64_t contacts = 0;    // contacts with a recorded inbound
  int64_t chat = 0;        // inbound chat messages kept
};

// Thread-safe: writes go through one connection under one mutex; the window
// reads (LastInbound, WindowOpen) use a second connection under its own
// mutex, so HTTP threads asking about the window never wait for a commit's
// fsync (WAL lets a reader run beside the writer).
class InboundStore {
 public:
  // Opens or creates the database at `path` (its directory must exist).
  // `log` (may be null; must outlive the store) gets one line when a window
  // read fails. Errors: IOError naming the path.
  static common::Result<std::unique_ptr<InboundStore>> Open(
      const std::string& path, const common::Logger* log = nullptr);
  ~InboundStore();
  InboundStore(const InboundStore&) = delete;
  InboundStore& operator=(const InboundStore&) = delete;

  // Appends one row, committed (fsync) before returning its seq.
  common::Result<int64_t> Append(InboxSource source, std::string_view body,
                                 int64_t received_ms);
  // Up to `limit` unprocessed rows, oldest (lowest seq) first.
  common::Result<std::vector<InboxRow>> Unprocessed(size_t limit);
  // Marks row `seq` done; `parsed` false records that its body did not parse
  // (kept for inspection like any processed row, never retried). NotFound
  // for an unknown seq.
  common::Status MarkProcessed(int64_t seq, bool parsed, int64_t now_ms);

  // Whether dedup key `key` was recorded (and not yet pruned).
  common::Result<bool> IsSeen(std::string_view key);
  // Records `key` as seen at `now_ms` (again: keeps the first time).
  common::Status MarkSeen(std::string_view key, int64_t now_ms);
  // MarkSeen for every key of `keys` and, when `processed_seq` is set,
  // MarkProcessed(*processed_seq, parsed=true), in one transaction (one
  // commit). NotFound (nothing recorded) for an unknown seq.
  common::Status MarkSeenAll(const std::vector<std::string>& keys,
                             int64_t now_ms,
                             std::optional<int64_t> processed_seq);

  // For a session restore: records each (key, first-seen time) of `keys` that
  // is not known yet, in one transaction (a known key keeps its time).
  common::Status RestoreSeen(
      const std::vector<std::pair<std::string, int64_t>>& keys);
  // The newest `limit` seen keys with their first-seen times, oldest first
  // (the session snapshot's dedup window).
  common::Result<std::vector<std::pair<std::string, int64_t>>> SeenKeys(
      size_t limit);
  // The newest `limit` contacts whose 24-hour window is open at `now_ms`,
  // with their last inbound time, oldest first.
  common::Result<std::vector<std::pair<std::string, int64_t>>> OpenWindows(
      int64_t now_ms, size_t limit);

  // Records an inbound message from `wa_id` at `at_ms` (WindowStartMs); the
  // later of this and what is stored wins, so a redelivered old message
  // never shortens the window.
  common::Status RecordInbound(std::string_view wa_id, int64_t at_ms);
  // RecordInbound for each (wa_id, at_ms) of `contacts`, and each of
  // `messages` (inbound ChatEntry values) added to its chat, in one
  // transaction. A message id already in its chat is left as it is.
  common::Status RecordInbounds(
      const std::vector<std::pair<std::string, int64_t>>& contacts,
      const std::vector<ChatEntry>& messages = {});
  // The newest `limit` inbound messages of chat `wa_id`, oldest first (equal
  // times: by id). Read on the reader connection.
  common::Result<std::vector<ChatEntry>> RecentMessages(std::string_view wa_id,
                                                        size_t limit);
  // The time of `wa_id`'s last recorded inbound message; nullopt when none.
  common::Result<std::optional<int64_t>> LastInbound(std::string_view wa_id);
  // True when a free-form message may go to `wa_id` at `now_ms`
  // (WindowOpenAt). A failed read answers true and is logged (once per
  // spell): the provider then refuses the message itself with its own
  // error, rather than our store refusing it for a reason that is not true.
  bool WindowOpen(std::string_view wa_id, int64_t now_ms);

  // Deletes seen keys recorded before SeenPruneCutoffMs(now_ms), chat
  // messages sent before it, processed rows received before
  // InboxPruneCutoffMs(now_ms), and contacts whose window closed before
  // `now_ms`. Unprocessed rows are never deleted.
  common::Result<InboundPruneResult> Prune(int64_t now_ms);

  common::Result<InboundStoreCounts> Counts();

 private:
  InboundStore(sqlite3* writer, sqlite3* reader, std::string path,
               std::string context, const common::Logger* log);
  // Rows (text, integer) of `sql` with ?1 = bound and ?2 = limit, reversed
  // (the queries select newest first), on a connection of its own.
  common::Result<std::vector<std::pair<std::string, int64_t>>> TextTimes(
      const char* sql, int64_t bound, size_t limit);

  // Constant after construction.
  const std::string path_;
  const std::string context_;
  const common::Logger* const log_;

  std::mutex write_mu_;
  sqlite3* const writer_;  // guarded by write_mu_

  std::mutex read_mu_;
  sqlite3* const reader_;  // guarded by read_mu_
  std::atomic<bool> read_failing_{false};
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_INBOUND_STORE_H_
