// Gateway: the worker's object graph, assembled in one place — the queue, the
// memory manager and its cleanup path, the caches, the transport (sandbox or
// Cloud API), the inbound path (inbox, processor, sinks), the forwarding
// outbox and forwarder, the counters — and the narrow dependency structs the
// HTTP route groups borrow from it (Routes()). WorkerApp adds what lives on
// its loop (the dispatcher, timers, signals, the HTTP thread); the HTTP API
// tests build the same graph with a fake clock and a fake memory figure
// instead of wiring the parts by hand.
#ifndef DYNOGUARD_WORKER_APP_GATEWAY_H_
#define DYNOGUARD_WORKER_APP_GATEWAY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "common/memory_history.h"
#include "common/status.h"
#include "worker/app/event_sinks.h"
#include "worker/forward/event_outbox.h"
#include "worker/forward/forwarder.h"
#include "worker/http/http_api.h"
#include "worker/http/loop_call.h"
#include "worker/inbound/chat_history.h"
#include "worker/inbound/event_router.h"
#include "worker/inbound/inbound_processor.h"
#include "worker/inbound/inbound_store.h"
#include "worker/memory/ballast.h"
#include "worker/memory/cleanup_runner.h"
#include "worker/memory/memory_manager.h"
#include "worker/metrics/metrics.h"
#include "worker/model/runtime_status.h"
#include "worker/net/http_client.h"
#include "worker/outbound/message_queue.h"
#include "worker/session/session_manager.h"
#include "worker/transport/cloud/cloud_transport.h"
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
  // The worker's loop and its HTTP client (made on the loop thread, only
  // when a configuration needs one: TRANSPORT=cloud or WEBHOOK_URL). Without
  // them (the HTTP API tests) TRANSPORT=cloud is refused and nothing is
  // forwarded (the outbox still records the events when WEBHOOK_URL is set).
  uv_loop_t* loop = nullptr;
  HttpClient* http = nullptr;
  // Called on the loop thread when the transport's connection state changes
  // (the worker wakes the dispatcher and refreshes STATUS=).
  std::function<void(ConnectionState, std::string_view)> on_connection;
};

// What only the owner of the event loop can provide to the routes.
struct LoopHooks {
  std::function<void()> wake_dispatcher;
  std::function<DispatcherStatus()> dispatcher_status;
  std::function<void(std::chrono::milliseconds)> stall_loop;  // debug only
  // Runs a task on the loop thread (the media and read routes call the
  // transport there); thread-safe. Empty: those routes answer 503.
  RunOnLoop run_on_loop;
  std::chrono::system_clock::time_point started =
      std::chrono::system_clock::now();
};

// Not copyable. Its parts are thread-safe (see each).
class Gateway {
 public:
  // Opens the queue, the inbox (inbound.db), the outbox (events.db, only with
  // WEBHOOK_URL) and the sandbox store, and builds the graph. Nothing runs
  // yet (Start). Errors: those of the stores' Open; InvalidArgument for a
  // Cloud transport or forwarder without options.loop/http.
  static common::Result<std::unique_ptr<Gateway>> Open(
      const common::Config& config, const common::Logger& log,
      GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts the inbound processor's thread, the transport (Start(loop)) and
  // the forwarder. `loop` may be null (tests): then only the processor.
  // REQUIRES: on the loop thread, once.
  common::Status Start(uv_loop_t* loop);
  // The graceful stop of what Start began, on the loop thread: the processor
  // ends after its event, the forwarder finishes its POSTs in flight (or
  // leaves them pending), the transport its requests; `on_stopped` runs once
  // all are done.
  void Stop(std::function<void()> on_stopped);
  // Closes the loop handles of the forwarder (the transport closes its own in
  // Stop). REQUIRES: Stop's callback ran, or Start never ran.
  void CloseLoopParts();

  Metrics& metrics() { return *metrics_; }
  MessageQueue& queue() { return *queue_; }
  MemoryManager& memory() { return *memory_; }
  CleanupRunner& cleanup() { return *cleanup_; }
  ChatHistory& history() { return *history_; }
  Ballast* ballast() { return ballast_.get(); }  // null unless debug
  SandboxTransport* sandbox() { return sandbox_.get(); }
  CloudTransport* cloud() { return cloud_.get(); }
  Transport& transport() { return *transport_; }
  EventRouter& router() { return *router_; }
  InboundStore& inbox() { return *inbox_; }
  InboundProcessor& processor() { return *processor_; }
  EventOutbox* outbox() { return outbox_.get(); }  // null without WEBHOOK_URL
  Forwarder* forwarder() { return forwarder_.get(); }  // null: no forwarding
  EventSinks& sinks() { return *sinks_; }
  // The worker's own memory samples and cleanups (/dashboard without a
  // supervisor); the owner of the memory sampling adds the samples.
  common::MemoryHistory& own_memory() { return *own_memory_; }

  // How long what is finished stays on disk: sent/failed messages and
  // delivered events (GET /api/messages/{id}, a late status, the history of
  // a chat's forwarding), dead letters (for an operator to look at).
  static constexpr int64_t kFinishedRetentionMs = 7LL * 24 * 3600 * 1000;
  static constexpr int64_t kDeadEventRetentionMs = 30LL * 24 * 3600 * 1000;
  struct Pruned {
    int64_t messages = 0;
    int64_t delivered_events = 0;
    int64_t dead_events = 0;
  };
  // Deletes, at most `limit` of each, the messages finished and the events
  // delivered before now_ms - kFinishedRetentionMs, and the dead letters
  // before now_ms - kDeadEventRetentionMs, so queue.db and events.db do not
  // grow for ever. Errors: the first failure (the other prunes still run).
  common::Result<Pruned> PruneFinished(int64_t now_ms, int limit);

  // The session as /health and /session-status report it.
  SessionStatus Session() const;
  // The session manager whose report Session() includes (null: none; the
  // configuration's names are shown). REQUIRES: it outlives the Gateway's
  // HTTP routes.
  void AttachSession(const SessionManager* session) { session_ = session; }

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
  std::unique_ptr<common::MemoryHistory> own_memory_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<MemoryManager> memory_;
  std::unique_ptr<CleanupRunner> cleanup_;
  std::unique_ptr<Ballast> ballast_;
  std::unique_ptr<SandboxTransport> sandbox_;
  std::unique_ptr<CloudTransport> cloud_;
  Transport* transport_ = nullptr;
  std::unique_ptr<EventRouter> router_;
  std::unique_ptr<InboundStore> inbox_;
  std::unique_ptr<ChatHistory> history_;  // reads queue_ and inbox_
  std::unique_ptr<EventOutbox> outbox_;
  std::unique_ptr<EventSinks> sinks_;
  std::unique_ptr<InboundProcessor> processor_;
  std::unique_ptr<Forwarder> forwarder_;
  const SessionManager* session_ = nullptr;
  int stop_pending_ = 0;  // loop thread: parts still stopping
  std::function<void()> on_stopped_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_GATEWAY_H_
