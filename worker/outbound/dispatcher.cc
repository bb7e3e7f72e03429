#include "worker/outbound/dispatcher.h"

#include <algorithm>
#include <utility>

#include "worker/model/provider_error.h"

namespace dynoguard::worker {
namespace {

// A timer for a wall-clock due time waits at most this long before looking
// again, so a wall clock stepped forward or back is noticed.
constexpr int64_t kMaxWallWaitMs = 30000;
// After a failed queue read or write.
constexpr int64_t kQueueErrorRetryMs = 1000;
// While the transport is not connected: a look now and then, besides the wake
// that every connection change brings.
constexpr int64_t kDisconnectedRecheckMs = 1000;

Dispatcher* Self(void* data) { return static_cast<Dispatcher*>(data); }

SendPolicy::Options PolicyOptions(const Dispatcher::Options& o) {
  SendPolicy::Options p;
  p.concurrency = o.concurrency;
  p.send_delay_ms = o.send_delay.count();
  p.slow_base_ms = o.slow_base.count();
  p.slow_max_ms = o.slow_max.count();
  p.pause_probe_ms = o.pause_probe.count();
  return p;
}

}  // namespace

std::string_view ToString(DispatchResult result) {
  switch (result) {
    case DispatchResult::kSent:
      return "sent";
    case DispatchResult::kRetry:
      return "retry";
    case DispatchResult::kFailed:
      return "failed";
  }
  return "failed";
}

Dispatcher::Dispatcher(uv_loop_t* loop, Options options,
                       const common::Logger& log, MessageQueue& queue,
                       Transport& transport, std::function<int64_t()> now_ms,
                       ResultCallback on_result)
    : loop_(loop),
      options_(std::move(options)),
      log_(log),
      queue_(queue),
      transport_(transport),
      now_ms_(std::move(now_ms)),
      on_result_(std::move(on_result)),
      policy_(PolicyOptions(options_)) {
  uv_async_init(loop_, &wake_,
                [](uv_async_t* handle) { Self(handle->data)->Pump(); });
  wake_.data = this;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

Dispatcher::~Dispatcher() { Close(); }

int64_t Dispatcher::SteadyMs() const {
  if (options_.steady_ms) return options_.steady_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Dispatcher::Start() { Pump(); }

void Dispatcher::Wake() { uv_async_send(&wake_); }

void Dispatcher::OnEnqueued() {
  if (wants_enqueue_wake_.exchange(false)) uv_async_send(&wake_);
}

DispatcherStatus Dispatcher::Status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Dispatcher::BeginDrain(std::function<void()> on_drained) {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    status_.stopping = true;
  }
  if (!in_flight_.empty()) {
    on_drained_ = std::move(on_drained);
    return;
  }
  FinishDrain();
  on_drained();
}

void Dispatcher::FinishDrain() {
  if (!closed_) uv_timer_stop(&timer_);
  if (FlushUnrecorded()) return;
  for (const Outcome& o : unrecorded_) {
    log_.Error("queue-write-lost",
               {{"id", o.id},
                {"result", ToString(o.result)},
                {"",
                 "the answer could not be recorded; the message is "
                 "sent again on the next start"}});
  }
}

void Dispatcher::Close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void Dispatcher::ScheduleIn(int64_t delay_ms,
                            std::optional<int64_t> wall_due_ms) {
  if (closed_) return;
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { Self(t->data)->Pump(); },
      static_cast<uint64_t>(std::max<int64_t>(0, delay_ms)), 0);
  std::lock_guard lock(mu_);
  status_.next_send_ms = wall_due_ms;
}

void Dispatcher::ScheduleAtWall(int64_t wall_due_ms) {
  const int64_t wait =
      std::clamp<int64_t>(wall_due_ms - now_ms_(), 0, kMaxWallWaitMs);
  ScheduleIn(wait, wall_due_ms);
}

common::Status Dispatcher::Record(const Outcome& o) {
  switch (o.result) {
    case DispatchResult::kSent:
      // o.message_status goes to the queue once MarkSent stores it; the
      // ResultCallback passes it on meanwhile.
      return queue_.MarkSent(o.id, o.provider_id, o.at_ms, o.message_status);
    case DispatchResult::kRetry:
      return queue_.MarkRetry(o.id, o.error, o.next_attempt_ms, o.at_ms);
    case DispatchResult::kFailed:
      return queue_.MarkFailed(o.id, o.error, o.at_ms);
  }
  return common::Status::Internal("unknown dispatch result");
}

bool Dispatcher::FlushUnrecorded() {
  while (!unrecorded_.empty()) {
    const Outcome& o = unrecorded_.front();
    common::Status s = Record(o);
    if (!s.ok() && s.code() == common::Status::Code::kIOError) return false;
    if (s.ok()) {
      log_.Info("queue-write-recovered",
                {{"id", o.id}, {"result", ToString(o.result)}});
    } else {
      // The database answered: the message moved on (e.g. pruned, or
      // restored by someone else). Nothing more to record.
      log_.Warn("queue-write-dropped", {{"id", o.id}, {"error", s.message()}});
    }
    unrecorded_.erase(unrecorded_.begin());
  }
  return true;
}

void Dispatcher::PublishStatus(int64_t steady_now) {
  const bool disconnected = !policy_.connected();
  const bool paused = disconnected || policy_.paused();
  std::string reason;
  if (disconnected) {
    reason = transport_.reason();
    if (reason.empty()) reason = std::string(ToString(transport_.state()));
  } else if (policy_.paused()) {
    reason = policy_.pause_reason();
  }
  // The log's view: a pause by the provider, or a connection that was lost
  // (not one still starting up: that is no pause of anything sent).
  const ConnectionState state = transport_.state();
  const bool logged_pause = policy_.paused() ||
                            state == ConnectionState::kReconnecting ||
                            state == ConnectionState::kDisconnected;
  if (logged_pause != was_paused_) {
    // One line per pause of every send, whatever began it: a provider's
    // answer to a send, or the transport's connection (a heartbeat that met
    // the token error first); the transport logs its own connection changes.
    was_paused_ = logged_pause;
    if (was_paused_) {
      log_.Warn("send-paused", {{"reason", reason},
                                {"",
                                 "no send starts until the connection "
                                 "is good again; nothing is failed"}});
    } else {
      log_.Info("send-resumed", {});
    }
  }
  std::lock_guard lock(mu_);
  status_.in_flight_ids.clear();
  for (const InFlight& f : in_flight_) {
    status_.in_flight_ids.push_back(f.request.message_id);
  }
  if (in_flight_.empty()) {
    status_.in_flight_id.reset();
  } else {
    status_.in_flight_id = in_flight_.front().request.message_id;
  }
  status_.paused = paused;
  status_.pause_reason = std::move(reason);
  status_.slowed_recipients = policy_.SlowedRecipients(steady_now);
}

void Dispatcher::Pump() {
  if (stopping_ || closed_) return;
  int64_t now = now_ms_();
  int64_t steady = SteadyMs();
  // Nothing new goes out while an answer of the provider is unrecorded: the
  // database is not taking writes, and its order must stay the provider's.
  if (!FlushUnrecorded()) {
    ScheduleIn(options_.record_retry.count(),
               now + options_.record_retry.count());
    PublishStatus(steady);
    return;
  }
  policy_.ObserveConnection(transport_.state() == ConnectionState::kConnected,
                            steady);
  while (true) {
    const SendPolicy::Decision decision = policy_.MayStart(steady);
    switch (decision.verdict) {
      case SendPolicy::Verdict::kDisconnected:
        // No next send time to show: it depends on the connection (whose
        // change wakes the dispatcher, as does the recheck timer).
        wants_enqueue_wake_.store(false);
        ScheduleIn(kDisconnectedRecheckMs, std::nullopt);
        PublishStatus(steady);
        return;
      case SendPolicy::Verdict::kFull:
        // The next answer pumps again.
        wants_enqueue_wake_.store(false);
        PublishStatus(steady);
        return;
      case SendPolicy::Verdict::kWait:
        // The timer pumps again, and reads the queue then.
        wants_enqueue_wake_.store(false);
        ScheduleIn(decision.wait_ms, now + decision.wait_ms);
        PublishStatus(steady);
        return;
      case SendPolicy::Verdict::kStart:
        break;
    }
    // Before the read: a message committed after it finds the flag set.
    wants_enqueue_wake_.store(true);
    auto due = queue_.NextDue(now);
    if (!due.ok()) {
      // The database is local; an error here is rare and usually transient
      // (disk full, busy). One warning per spell: QueueWatch reports one that
      // lasts (the error line) and ends the worker.
      log_.Log(
          queue_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
          "queue-read-failed", {{"error", due.status().message()}});
      queue_failing_ = true;
      ScheduleIn(kQueueErrorRetryMs, now + kQueueErrorRetryMs);
      PublishStatus(steady);
      return;
    }
    queue_failing_ = false;
    if (!due.value()) {
      // Nothing due now: wake up for the earliest retry, if any.
      auto stats = queue_.Stats();
      if (stats.ok() && stats->next_attempt_ms) {
        ScheduleAtWall(*stats->next_attempt_ms);
      } else {
        if (!closed_) uv_timer_stop(&timer_);
        std::lock_guard lock(mu_);
        status_.next_send_ms.reset();
      }
      PublishStatus(steady);
      if (in_flight_.empty() && busy_since_idle_) {
        busy_since_idle_ = false;
        if (options_.on_idle) options_.on_idle();
      }
      return;
    }
    const OutboundMessage& message = *due.value();
    if (policy_.SendingTo(message.to)) {
      // NextDue never offers a recipient with a message `sending`; should a
      // line ever look free while its send is out, its answer pumps again.
      PublishStatus(steady);
      return;
    }
    if (auto marked = queue_.MarkSending(message.id, now); !marked.ok()) {
      log_.Log(
          queue_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
          "queue-write-failed",
          {{"id", message.id}, {"error", marked.message()}});
      queue_failing_ = true;
      ScheduleIn(kQueueErrorRetryMs, now + kQueueErrorRetryMs);
      PublishStatus(steady);
      return;
    }
    StartSend(message);
    if (closed_ || stopping_) return;
    now = now_ms_();
    steady = SteadyMs();
  }
}

void Dispatcher::StartSend(const OutboundMessage& message) {
  busy_since_idle_ = true;
  // The start is now, after the queue's write: SEND_DELAY_MS counts from
  // here.
  const int64_t steady_now = SteadyMs();
  InFlight f;
  f.request.message_id = message.id;
  f.request.to = message.to;
  f.request.type =
      std::string(EffectiveType(message.type, message.template_json));
  f.request.content_json = message.content_json;
  f.request.text = message.text;
  f.request.template_json = message.template_json;
  f.request.reply_to = message.reply_to;
  f.attempts = message.attempts + 1;
  policy_.OnStarted(message.to, steady_now);
  in_flight_.push_back(f);
  {
    std::lock_guard lock(mu_);
    status_.next_send_ms.reset();
  }
  PublishStatus(steady_now);
  // The answer comes back on the loop; a dispatcher destroyed meanwhile (a
  // stop past its deadline) ignores it.
  transport_.Send(f.request, [this, alive = std::weak_ptr<bool>(alive_),
                              id = message.id](SendResult result) {
    if (alive.expired()) return;
    OnSendDone(id, result);
  });
}

Dispatcher::Outcome Dispatcher::Decide(const InFlight& sent,
                                       const SendResult& result) {
  const int64_t now = now_ms_();
  const int64_t steady = SteadyMs();
  const std::string& id = sent.request.message_id;
  const std::string& to = sent.request.to;
  Outcome outcome;
  outcome.id = id;
  outcome.at_ms = now;
  if (result.ok) {
    outcome.result = DispatchResult::kSent;
    outcome.provider_id = result.provider_id;
    outcome.message_status = result.message_status;
    policy_.OnSucceeded(to);
    uncounted_.erase(id);
    log_.Info("sent", {{"id", id},
                       {"provider_id", result.provider_id},
                       {"attempt", sent.attempts}});
    return outcome;
  }
  outcome.error = result.error;
  switch (ActionOf(result.error)) {
    case ProviderAction::kSlowRecipient: {
      const int64_t delay = policy_.OnSlowRecipient(to, steady);
      ++uncounted_[id];
      outcome.result = DispatchResult::kRetry;
      outcome.next_attempt_ms = now + delay;
      log_.Warn("send-slowed", {{"id", id},
                                {"code", result.error.code},
                                {"hits", policy_.SlowHits(to)},
                                {"delay", fmt::format("{}ms", delay)}});
      return outcome;
    }
    case ProviderAction::kPauseAll: {
      policy_.Pause(std::string(PauseReason(result.error)), steady);
      // A transport that went down with this answer (the Cloud transport
      // does, before answering) is seen down now: the pause ends when it is
      // connected again.
      policy_.ObserveConnection(
          transport_.state() == ConnectionState::kConnected, steady);
      ++uncounted_[id];
      outcome.result = DispatchResult::kRetry;
      outcome.next_attempt_ms = now;
      log_.Warn("send-held", {{"id", id},
                              {"code", result.error.code},
                              {"message", result.error.message}});
      return outcome;
    }
    case ProviderAction::kRetry: {
      auto it = uncounted_.find(id);
      const int counted =
          sent.attempts - (it == uncounted_.end() ? 0 : it->second);
      if (ShouldRetry(options_.retry, counted, result.error)) {
        double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
        auto delay = RetryDelay(options_.retry, counted, unit);
        outcome.result = DispatchResult::kRetry;
        outcome.next_attempt_ms = now + delay.count();
        log_.Warn("send-retry",
                  {{"id", id},
                   {"code", result.error.code},
                   {"attempt", counted},
                   {"delay", fmt::format("{}ms", delay.count())}});
        return outcome;
      }
      break;
    }
    case ProviderAction::kFail:
      break;
  }
  outcome.result = DispatchResult::kFailed;
  uncounted_.erase(id);
  log_.Warn("send-failed", {{"id", id},
                            {"code", result.error.code},
                            {"attempt", sent.attempts},
                            {"message", result.error.message}});
  return outcome;
}

void Dispatcher::RecordOrKeep(const Outcome& outcome) {
  common::Status recorded;
  if (!FlushUnrecorded()) {
    // The queue is not taking writes: keep this one behind the others.
    recorded = common::Status::IOError("queue", "earlier answers unrecorded");
  } else {
    for (int i = 0; i < std::max(1, options_.record_tries); ++i) {
      recorded = Record(outcome);
      if (recorded.ok() || recorded.code() != common::Status::Code::kIOError)
        break;
    }
  }
  if (recorded.ok()) return;
  if (recorded.code() == common::Status::Code::kIOError) {
    log_.Error("queue-write-failed",
               {{"id", outcome.id},
                {"result", ToString(outcome.result)},
                {"error", recorded.message()},
                {"",
                 "kept in memory; applied when the queue takes writes "
                 "again"}});
    unrecorded_.push_back(outcome);
  } else {
    log_.Error("queue-write-failed",
               {{"id", outcome.id}, {"error", recorded.message()}});
  }
}

void Dispatcher::OnSendDone(const std::string& id, const SendResult& result) {
  auto it = std::find_if(
      in_flight_.begin(), in_flight_.end(),
      [&id](const InFlight& f) { return f.request.message_id == id; });
  if (it == in_flight_.end()) {
    log_.Error("send-answer-unknown", {{"id", id}});
    return;
  }
  InFlight sent = std::move(*it);
  in_flight_.erase(it);
  policy_.OnFinished(sent.request.to);

  const Outcome outcome = Decide(sent, result);
  if (options_.before_record) {
    options_.before_record(outcome.result, sent.request, result);
  }
  RecordOrKeep(outcome);
  if (on_result_) on_result_(outcome.result, sent.request, result);
  PublishStatus(SteadyMs());

  if (stopping_) {
    if (in_flight_.empty() && on_drained_) {
      auto drained = std::move(on_drained_);
      on_drained_ = nullptr;
      FinishDrain();
      drained();
    }
    return;
  }
  Pump();
}

}  // namespace dynoguard::worker
