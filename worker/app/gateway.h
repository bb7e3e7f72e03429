// Gateway: the worker's object graph, assembled in one place — the queue, the
// memory manager and its cleanup path, the caches, the sandbox transport, the
// event router, the counters — and the narrow dependency structs the HTTP
// route groups borrow from it (Routes()). WorkerApp adds what lives on its
// loop (the dispatcher, timers, signals, the HTTP thread); the HTTP API tests
// build the same graph with a fake clock and a fake memory figure instead of
// wiring the parts by hand.
#ifndef DYNOGUARD_WORKER_APP_GATEWAY_H_
#define DYNOGUARD_WORKER_APP_GATEWAY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "common/status.h"
#include "worker/http/http_api.h"
#include "worker/inbound/event_router.h"
#include "worker/inbound/history_cache.h"
#include "worker/memory/ballast.h"
#include "worker/memory/cleanup_runner.h"
#include "worker/memory/memory_manager.h"
#include "worker/metrics/metrics.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"
#include "worker/transport/sandbox/sandbox_transport.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

struct GatewayOptions {
  std::string data_dir;      // required: queue.db and sandbox.db live here
  uint64_t limit_bytes = 0;  // the memory budget (ResolveMemoryLimit)
  double emergency_percent = 85;
  // The MEMORY_SOURCE figure (the pressure flag follows it) and the RSS
  // (/health, /metrics). Required.
  std::function<uint64_t()> read_usage;
  std::function<uint64_t()> read_rss;
  std::function<int64_t()> now_ms;  // required: ms since the epoch
  bool debug_endpoints = false;     // a Ballast and /debug/*
  // Keep the sandbox's outbox and receipts in DATA_DIR/sandbox.db (the
  // worker does; tests may keep them in memory).
  bool durable_sandbox = true;
  uint64_t restarts_seen = 0;  // DYNOGUARD_RESTARTS, for /metrics
};

// What only the owner of the event loop can provide to the routes.
struct LoopHooks {
  std::function<void()> wake_dispatcher;
  std::function<DispatcherStatus()> dispatcher_status;
  std::function<void(std::chrono::milliseconds)> stall_loop;  // debug only
  std::chrono::system_clock::time_point started =
      std::chrono::system_clock::now();
};

// Not copyable. Its parts are thread-safe (see each).
class Gateway {
 public:
  // Opens the queue (and the sandbox store) and builds the graph. Errors:
  // those of MessageQueue::Open and SandboxTransport::OpenStore.
  static common::Result<std::unique_ptr<Gateway>> Open(
      const common::Config& config, const common::Logger& log,
      GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  Metrics& metrics() { return *metrics_; }
  MessageQueue& queue() { return *queue_; }
  MemoryManager& memory() { return *memory_; }
  CleanupRunner& cleanup() { return *cleanup_; }
  HistoryCache& history() { return *history_; }
  Ballast* ballast() { return ballast_.get(); }  // null unless debug
  SandboxTransport* sandbox() { return sandbox_.get(); }
  Transport& transport() { return *transport_; }
  EventRouter& router() { return *router_; }

  // The session as /health and /session-status report it.
  SessionStatus Session() const;

  // The dependency structs of every route group.
  ApiRoutes Routes(const LoopHooks& hooks);

 private:
  Gateway(const common::Config& config, const common::Logger& log,
          GatewayOptions options);

  const common::Config& config_;
  const common::Logger& log_;
  const GatewayOptions options_;
  int64_t started_ms_ = 0;  // now_ms() when the graph was built

  // In construction order (destroyed in reverse; the cleanables are
  // unregistered first).
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<MemoryManager> memory_;
  std::unique_ptr<CleanupRunner> cleanup_;
  std::unique_ptr<HistoryCache> history_;
  std::unique_ptr<Ballast> ballast_;
  std::unique_ptr<SandboxTransport> sandbox_;
  Transport* transport_ = nullptr;
  std::unique_ptr<EventRouter> router_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_GATEWAY_H_
