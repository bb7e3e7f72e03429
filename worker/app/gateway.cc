#include "worker/app/gateway.h"

#include <utility>

#include "worker/app/call_timeouts.h"

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
  g->own_memory_ = std::make_unique<common::MemoryHistory>();
  g->own_memory_->AddEvent(g->started_ms_,
                           common::MemoryEventKind::kWorkerStart, "");
  g->metrics_ = std::make_unique<Metrics>(o.restarts_seen);
  auto queue = MessageQueue::Open(o.data_dir + "/queue.db", &log);
  if (!queue.ok()) return queue.status();
  g->queue_ = std::move(queue.value());

  g->memory_ = std::make_unique<MemoryManager>(
      o.limit_bytes, o.emergency_percent, o.read_usage);
  Metrics* metrics = g->metrics_.get();
  common::MemoryHistory* own_memory = g->own_memory_.get();
  std::function<int64_t()> now_ms = o.now_ms;
  g->cleanup_ = std::make_unique<CleanupRunner>(
      *g->memory_, log, [metrics, own_memory, now_ms](CleanupLevel level) {
        metrics->CountCleanup(level);
        own_memory->AddEvent(now_ms(),
                             level == CleanupLevel::kEmergency
                                 ? common::MemoryEventKind::kEmergencyCleanup
                                 : common::MemoryEventKind::kStandardCleanup,
                             "");
      });
  if (o.debug_endpoints) {
    g->ballast_ = std::make_unique<Ballast>();
    g->memory_->Register(g->ballast_.get());
  }
  if (config.transport == common::TransportKind::kSandbox) {
    g->sandbox_ = std::make_unique<SandboxTransport>(
        SandboxTransport::Options{}, o.now_ms);
    // The sandbox's outbox and pending receipts survive restarts.
    if (o.durable_sandbox) {
      if (common::Status status =
              g->sandbox_->OpenStore(o.data_dir + "/sandbox.db");
          !status.ok()) {
        return status;
      }
    }
    g->transport_ = g->sandbox_.get();
  } else {
    if (o.http == nullptr) {
      return common::Status::InvalidArgument(
          "TRANSPORT=cloud needs the worker's HTTP client");
    }
    CloudTransport::Options cloud;
    cloud.api_base = config.whatsapp_api_base;
    cloud.phone_number_id = config.whatsapp_phone_number_id;
    cloud.token = config.whatsapp_token.Reveal();
    cloud.heartbeat_interval = config.heartbeat;
    cloud.connection_check = config.connection_check;
    // Every Graph call ends well inside the stop timeout (SPEC §4).
    const CallTimeouts timeouts = CallTimeoutsFor(config.worker_stop_timeout);
    cloud.total_timeout = timeouts.graph_total;
    cloud.connect_timeout = timeouts.graph_connect;
    cloud.now_ms = o.now_ms;
    g->cloud_ =
        std::make_unique<CloudTransport>(std::move(cloud), *o.http, log);
    g->transport_ = g->cloud_.get();
  }
  g->router_ = std::make_unique<EventRouter>(log, *g->queue_, o.now_ms);
  g->memory_->Register(g->router_.get());

  auto inbox = InboundStore::Open(o.data_dir + "/inbound.db", &log);
  if (!inbox.ok()) return inbox.status();
  g->inbox_ = std::move(inbox.value());
  g->history_ = std::make_unique<ChatHistory>(*g->inbox_, *g->queue_);
  if (!config.webhook_url.empty()) {
    auto outbox = EventOutbox::Open(o.data_dir + "/events.db");
    if (!outbox.ok()) return outbox.status();
    g->outbox_ = std::move(outbox.value());
  }
  EventSinks::Parts sink_parts;
  sink_parts.queue = g->queue_.get();
  sink_parts.outbox = g->outbox_.get();
  sink_parts.now_ms = o.now_ms;
  sink_parts.session = config.session_name;
  Gateway* self = g.get();
  sink_parts.wake_forwarder = [self] {
    if (self->forwarder_) self->forwarder_->Wake();
  };
  sink_parts.on_connection = o.on_connection;
  g->sinks_ = std::make_unique<EventSinks>(log, std::move(sink_parts));
  g->processor_ = std::make_unique<InboundProcessor>(
      log, *g->inbox_, g->sinks_->Sinks(), o.now_ms);
  if (g->outbox_ && o.loop != nullptr && o.http != nullptr) {
    Forwarder::Options forward;
    forward.url = config.webhook_url;
    forward.secret = config.webhook_secret.Reveal();
    forward.now_ms = o.now_ms;
    auto forwarder = Forwarder::Create(o.loop, *o.http, *g->outbox_, log,
                                       std::move(forward));
    if (!forwarder.ok()) return forwarder.status();
    g->forwarder_ = std::move(forwarder.value());
  }
  return g;
}

common::Status Gateway::Start(uv_loop_t* loop) {
  processor_->Start();
  if (loop == nullptr) return common::Status::Ok();
  if (common::Status status = transport_->Start(loop, *sinks_); !status.ok())
    return status;
  if (forwarder_) forwarder_->Start();
  return common::Status::Ok();
}

void Gateway::Stop(std::function<void()> on_stopped) {
  processor_->Stop();
  on_stopped_ = std::move(on_stopped);
  stop_pending_ = forwarder_ ? 2 : 1;
  auto one_done = [this] {
    if (--stop_pending_ == 0 && on_stopped_) {
      auto done = std::move(on_stopped_);
      on_stopped_ = nullptr;
      done();
    }
  };
  if (forwarder_) forwarder_->Drain(one_done);
  transport_->Stop(one_done);
}

void Gateway::CloseLoopParts() {
  if (forwarder_) forwarder_->Close();
  if (cloud_) cloud_->Close();
}

Gateway::~Gateway() {
  if (processor_) processor_->Stop();
  if (memory_) {
    if (router_) memory_->Unregister(router_.get());
    if (ballast_) memory_->Unregister(ballast_.get());
  }
}

common::Result<Gateway::Pruned> Gateway::PruneFinished(int64_t now_ms,
                                                       int limit) {
  Pruned pruned;
  common::Status first = common::Status::Ok();
  auto take = [&first](common::Result<int64_t> removed, int64_t* count) {
    if (removed.ok()) {
      *count = removed.value();
    } else if (first.ok()) {
      first = removed.status();
    }
  };
  take(queue_->Prune(now_ms - kFinishedRetentionMs, limit), &pruned.messages);
  if (outbox_) {
    take(outbox_->Prune("delivered", now_ms - kFinishedRetentionMs, limit),
         &pruned.delivered_events);
    take(outbox_->Prune("dead", now_ms - kDeadEventRetentionMs, limit),
         &pruned.dead_events);
  }
  if (!first.ok()) return first;
  return pruned;
}

SessionStatus Gateway::Session() const {
  SessionStatus s;
  s.transport = std::string(transport_->name());
  s.state = transport_->state();
  s.reason = transport_->reason();
  s.started_ms = started_ms_;
  s.last_heartbeat_ms = transport_->last_heartbeat_ms();
  s.last_outbound_ms = transport_->last_send_ok_ms();
  s.forwarding = outbox_ != nullptr;
  if (int64_t at = sinks_->last_inbound_ms(); at > 0) s.last_inbound_ms = at;
  s.session_name = config_.session_name;
  s.storage = std::string(ToString(config_.session_storage));
  s.encrypted = !config_.session_encryption_key.empty();
  s.backup_enabled = config_.session_backup;
  if (session_ != nullptr) {
    SessionReport r = session_->Report();
    auto backup = [](const SessionReport::Backup& b) {
      return SessionStatus::Backup{b.at_ms, b.store, b.result, b.bytes,
                                   b.sequence};
    };
    s.sequence = r.sequence;
    if (r.last_remote) {
      s.last_backup = backup(*r.last_remote);
    } else if (r.storage == "file" && r.last_file) {
      s.last_backup = backup(*r.last_file);
    }
    if (r.last_file) s.last_file_backup = backup(*r.last_file);
    s.restored_from = r.restored_from;
    s.restore_detail = r.restore_detail;
    s.store_ok = !r.remote_failing;
    s.over_cap = r.over_cap;
    // Until the restore has run, the session is being restored.
    if (!r.restored_from) s.state = ConnectionState::kRestoring;
  }
  return s;
}

ApiRoutes Gateway::Routes(const LoopHooks& hooks) {
  ApiRoutes r;
  r.health.memory = memory_.get();
  r.health.queue = queue_.get();
  r.health.metrics = metrics_.get();
  r.health.inbound_total = [this] {
    return router_->inbound_total() + processor_->counters().messages;
  };
  r.health.webhook_parts_skipped = [this] {
    return processor_->counters().malformed_parts;
  };
  r.health.read_rss = options_.read_rss;
  r.health.session_status = [this] { return Session(); };
  r.health.dispatcher_status = hooks.dispatcher_status;
  if (outbox_) {
    EventOutbox* outbox = outbox_.get();
    r.health.forwarding_stats = [outbox]() -> std::optional<OutboxStats> {
      auto stats = outbox->Stats();
      if (!stats.ok()) return std::nullopt;
      return stats.value();
    };
  }
  r.health.now_ms = options_.now_ms;
  r.health.started = hooks.started;
  r.health.memory_optimization = config_.memory_optimization;
  r.dashboard.own_history = own_memory_.get();

  r.messages.queue = queue_.get();
  r.messages.memory = memory_.get();
  r.messages.wake_dispatcher = hooks.wake_dispatcher;
  r.messages.dispatcher_status = hooks.dispatcher_status;
  r.messages.now_ms = options_.now_ms;

  InboundStore* inbox = inbox_.get();
  r.messages.window_open = [inbox](std::string_view wa_id, int64_t now_ms) {
    return inbox->WindowOpen(wa_id, now_ms);
  };
  if (outbox_) {
    EventOutbox* outbox = outbox_.get();
    r.messages.forwarding_stats = [outbox]() -> std::optional<OutboxStats> {
      auto stats = outbox->Stats();
      if (!stats.ok()) return std::nullopt;
      return stats.value();
    };
    r.messages.forwarding_dead_letters = [outbox](int limit) {
      return outbox->DeadLetters(limit);
    };
  }

  InboundProcessor* processor = processor_.get();
  r.sandbox.sandbox = sandbox_.get();  // null on the Cloud transport
  r.sandbox.inbox = inbox;
  r.sandbox.wake_processor = [processor] { processor->Wake(); };
  r.sandbox.now_ms = options_.now_ms;

  r.webhook.inbox = inbox;
  r.webhook.wake_processor = [processor] { processor->Wake(); };
  r.webhook.now_ms = options_.now_ms;

  r.media.transport = transport_;
  r.media.run_on_loop = hooks.run_on_loop;
  r.read.transport = transport_;
  r.read.run_on_loop = hooks.run_on_loop;

  r.chats.history = history_.get();
  r.chats.inbox = inbox;
  r.chats.now_ms = options_.now_ms;

  r.maintenance.cleanup = cleanup_.get();
  r.maintenance.ballast = ballast_.get();
  if (options_.debug_endpoints) r.maintenance.stall_loop = hooks.stall_loop;
  return r;
}

}  // namespace dynoguard::worker
