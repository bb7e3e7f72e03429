// SandboxTransport: an in-process simulated WhatsApp for local use and tests.
// Sends land in a bounded outbox and move through sent → delivered → read; it
// can be told to fail the next sends with a Cloud API error code; a simulated
// user writing goes through the same inbound path as a Cloud API webhook.
// With OpenStore the outbox and the pending receipts live in DATA_DIR
// (sandbox_store.h) and survive restarts.
#ifndef DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/transport/sandbox/sandbox_store.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// Thread-safe (one mutex).
class SandboxTransport : public Transport {
 public:
  struct Options {
    size_t outbox_capacity = 1000;  // oldest entries are dropped beyond this
    int64_t delivered_after_ms = 200;
    int64_t read_after_ms = 1000;
  };
  using OutboxEntry = SandboxOutboxEntry;

  // `now_ms` is the clock (milliseconds since the epoch) used to stamp sends.
  SandboxTransport(Options options, std::function<int64_t()> now_ms);
  ~SandboxTransport() override;

  // Keeps the outbox and the pending receipts in the SQLite file `path`
  // (created 0600) from now on, after loading what an earlier worker left
  // there: its outbox entries, and its receipts (those already due are
  // emitted by the next Poll). Call once, before the first Send. When the
  // file cannot be written later, a send fails with the retryable error
  // "sandbox_storage" (nothing is accepted that is not recorded).
  common::Status OpenStore(const std::string& path);

  std::string_view name() const override { return "sandbox"; }
  ConnectionState state() const override { return ConnectionState::kConnected; }
  SendResult Send(const SendRequest& request) override;
  void Poll(int64_t now_ms, TransportEvents& events) override;

  // Oldest first.
  std::vector<OutboxEntry> Outbox() const;
  // The next `count` sends fail with Graph error `code` (classified as the
  // Cloud API's would be).
  void FailNext(int count, int code, std::string message);
  // A simulated user writing; hands the message to `events` and returns it.
  InboundMessage SimulateInbound(std::string from, std::string text,
                                 int64_t now_ms, TransportEvents& events);

 private:
  using PendingStatus = SandboxReceipt;

  const Options options_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;
  std::unique_ptr<SandboxStore> store_;  // guarded by mu_; null: memory only
  std::deque<OutboxEntry> outbox_;       // guarded by mu_
  std::vector<PendingStatus> pending_;   // guarded by mu_
  int fail_count_ = 0;                   // guarded by mu_
  int fail_code_ = 0;                    // guarded by mu_
  std::string fail_message_;             // guarded by mu_
  uint64_t sequence_ = 0;                // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
