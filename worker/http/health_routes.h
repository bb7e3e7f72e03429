// The public monitoring routes (SPEC §5): GET /health (200 while serving; the
// memory and queue figures sampled at most every 250 ms, so a load balancer
// hammering it costs a /proc walk and a query a few times a second), GET
// /session-status, GET /metrics (Prometheus text).
#ifndef DYNOGUARD_WORKER_HTTP_HEALTH_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_HEALTH_ROUTES_H_

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "worker/forward/event_outbox.h"
#include "worker/http/route.h"
#include "worker/inbound/event_router.h"
#include "worker/memory/memory_manager.h"
#include "worker/metrics/metrics.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct HealthRouteDeps {
  MemoryManager* memory = nullptr;  // required: limit, caches, pressure
  MessageQueue* queue = nullptr;    // required: queue figures
  Metrics* metrics = nullptr;       // required: /metrics counters
  // Inbound messages taken (new ids, after deduplication); may be empty.
  std::function<uint64_t()> inbound_total;
  // Webhook parts left out for their shape; may be empty.
  std::function<uint64_t()> webhook_parts_skipped;
  // The forwarding outbox's figures; empty or nullopt: not forwarding.
  std::function<std::optional<OutboxStats>()> forwarding_stats;
  // The process tree's RSS (memory.raw.rss, dynoguard_memory_rss_bytes);
  // empty: MemoryManager::ReadRss (the MEMORY_SOURCE figure).
  std::function<uint64_t()> read_rss;
  std::function<SessionStatus()> session_status;  // required
  // The dispatcher's pause for /health's queue.paused; may be empty.
  std::function<DispatcherStatus()> dispatcher_status;
  std::function<int64_t()> now_ms;  // required: ms since epoch
  std::chrono::system_clock::time_point started =
      std::chrono::system_clock::now();  // for /health's uptime
  bool memory_optimization = true;       // ENABLE_MEMORY_OPTIMIZATION
};

void InstallHealthRoutes(httplib::Server& server, const RouteContext& context,
                         HealthRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_HEALTH_ROUTES_H_
