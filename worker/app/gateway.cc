#include "worker/app/gateway.h"

#include <utility>

namespace dynoguard::worker {

Gateway::Gateway(const common::Config& config, const common::Logger& log,
                 GatewayOptions options)
    : config_(config), log_(log), options_(std::move(options)) {}

common::Result<std::unique_ptr<Gateway>> Gateway::Open(
    const common::Config& config, const common::Logger& log,
    GatewayOptions options) {
  std::unique_ptr<Gateway> g(new Gateway(config, log, std::move(options)));
  const GatewayOptions& o = g->options_;
  g->started_ms_ = o.now_ms();
  g->metrics_ = std::make_unique<Metrics>(o.restarts_seen);
  auto queue = MessageQueue::Open(o.data_dir + "/queue.db", &log);
  if (!queue.ok()) return queue.status();
  g->queue_ = std::move(queue.value());

  g->memory_ = std::make_unique<MemoryManager>(
      o.limit_bytes, o.emergency_percent, o.read_usage);
  Metrics* metrics = g->metrics_.get();
  g->cleanup_ = std::make_unique<CleanupRunner>(
      *g->memory_, log,
      [metrics](CleanupLevel level) { metrics->CountCleanup(level); });
  g->history_ = std::make_unique<HistoryCache>();
  g->memory_->Register(g->history_.get());
  if (o.debug_endpoints) {
    g->ballast_ = std::make_unique<Ballast>();
    g->memory_->Register(g->ballast_.get());
  }
  g->sandbox_ =
      std::make_unique<SandboxTransport>(SandboxTransport::Options{}, o.now_ms);
  // The sandbox's outbox and pending receipts survive restarts.
  if (o.durable_sandbox) {
    if (common::Status status =
            g->sandbox_->OpenStore(o.data_dir + "/sandbox.db");
        !status.ok()) {
      return status;
    }
  }
  g->transport_ = g->sandbox_.get();
  g->router_ =
      std::make_unique<EventRouter>(log, *g->queue_, *g->history_, o.now_ms);
  g->memory_->Register(g->router_.get());
  return g;
}

Gateway::~Gateway() {
  if (memory_) {
    if (router_) memory_->Unregister(router_.get());
    if (ballast_) memory_->Unregister(ballast_.get());
    if (history_) memory_->Unregister(history_.get());
  }
}

SessionStatus Gateway::Session() const {
  SessionStatus s;
  s.transport = std::string(transport_->name());
  s.state = transport_->state();
  s.started_ms = started_ms_;
  return s;
}

ApiRoutes Gateway::Routes(const LoopHooks& hooks) {
  ApiRoutes r;
  r.health.memory = memory_.get();
  r.health.queue = queue_.get();
  r.health.metrics = metrics_.get();
  r.health.events = router_.get();
  r.health.read_rss = options_.read_rss;
  r.health.session_status = [this] { return Session(); };
  r.health.now_ms = options_.now_ms;
  r.health.started = hooks.started;
  r.health.memory_optimization = config_.memory_optimization;

  r.messages.queue = queue_.get();
  r.messages.memory = memory_.get();
  r.messages.wake_dispatcher = hooks.wake_dispatcher;
  r.messages.dispatcher_status = hooks.dispatcher_status;
  r.messages.now_ms = options_.now_ms;

  r.sandbox.sandbox = sandbox_.get();
  r.sandbox.events = router_.get();
  r.sandbox.now_ms = options_.now_ms;

  r.maintenance.cleanup = cleanup_.get();
  r.maintenance.ballast = ballast_.get();
  if (options_.debug_endpoints) r.maintenance.stall_loop = hooks.stall_loop;
  return r;
}

}  // namespace dynoguard::worker
