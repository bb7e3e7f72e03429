// SandboxTransport: an in-process simulated WhatsApp for local use and tests.
// Sends land in a bounded outbox and move through sent → delivered → read; it
// can be told to fail the next sends with a Cloud API error code; a simulated
// user writing goes through the same inbound path as a Cloud API webhook.
#ifndef DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

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
  struct OutboxEntry {
    std::string id;  // the provider id (wamid) the send returned
    std::string to;
    std::string text;  // for templates: "template:<name>"
    int64_t sent_at_ms = 0;
  };

  // `now_ms` is the clock (milliseconds since the epoch) used to stamp sends.
  SandboxTransport(Options options, std::function<int64_t()> now_ms);

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
  struct PendingStatus {
    int64_t due_ms;
    std::string provider_id;
    MessageStatus status;
  };

  const Options options_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;
  std::deque<OutboxEntry> outbox_;      // guarded by mu_
  std::vector<PendingStatus> pending_;  // guarded by mu_
  int fail_count_ = 0;                  // guarded by mu_
  int fail_code_ = 0;                   // guarded by mu_
  std::string fail_message_;            // guarded by mu_
  uint64_t sequence_ = 0;               // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
