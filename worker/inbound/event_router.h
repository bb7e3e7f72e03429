// EventRouter: where the events the transport itself reports go (the
// sandbox's delivered/read receipts; inbound messages a transport hands over
// directly). Inbound messages are deduplicated by id in memory, counted and
// logged; delivery statuses update the queue. The seen-id index is
// a Cleanable ("status-index"). Webhook deliveries and the sandbox's simulated
// messages take the durable path instead (InboundStore + InboundProcessor,
// 7-day dedup on disk).
#ifndef DYNOGUARD_WORKER_INBOUND_EVENT_ROUTER_H_
#define DYNOGUARD_WORKER_INBOUND_EVENT_ROUTER_H_

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>

#include "common/log.h"
#include "worker/memory/memory_manager.h"
#include "worker/outbound/message_queue.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// Thread-safe.
class EventRouter : public TransportEvents, public Cleanable {
 public:
  // Remembers up to `max_seen_ids` inbound ids for deduplication.
  EventRouter(const common::Logger& log, MessageQueue& queue,
              std::function<int64_t()> now_ms, size_t max_seen_ids = 10000);

  void OnInbound(const InboundMessage& message) override;
  void OnStatus(const StatusUpdate& update) override;
  // Nothing to route yet (the worker logs the change and wakes the
  // dispatcher itself).
  void OnConnection(ConnectionState, std::string_view) override {}

  uint64_t inbound_total() const { return inbound_total_.load(); }
  uint64_t duplicates_total() const { return duplicates_total_.load(); }

  std::string_view name() const override { return "status-index"; }
  uint64_t bytes() const override;
  uint64_t Trim(CleanupLevel level) override;

 private:
  // True when `id` was not seen before (and records it).
  bool Remember(const std::string& id);

  const common::Logger& log_;
  MessageQueue& queue_;
  const std::function<int64_t()> now_ms_;
  const size_t max_seen_ids_;

  mutable std::mutex mu_;
  std::unordered_set<std::string> seen_;  // guarded by mu_
  std::deque<std::string> seen_order_;    // guarded by mu_; oldest first
  std::atomic<uint64_t> inbound_total_{0};
  std::atomic<uint64_t> duplicates_total_{0};
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_EVENT_ROUTER_H_
