#include "worker/outbound/dispatcher.h"

#include <algorithm>

namespace dynoguard::worker {
namespace {

// A timer for a wall-clock due time waits at most this long before looking
// again, so a wall clock stepped forward or back is noticed.
constexpr int64_t kMaxWallWaitMs = 30000;
// After a failed queue read or write.
constexpr int64_t kQueueErrorRetryMs = 1000;

Dispatcher* Self(void* data) { return static_cast<Dispatcher*>(data); }

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
      on_result_(std::move(on_result)) {
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

DispatcherStatus Dispatcher::Status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Dispatcher::BeginDrain(std::function<void()> on_drained) {
  {
    std::lock_guard lock(mu_);
    status_.stopping = true;
    if (status_.in_flight_id) {
      on_drained_ = std::move(on_drained);
      return;
    }
  }
  FinishDrain();
  on_drained();
}

void Dispatcher::FinishDrain() {
  uv_timer_stop(&timer_);
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

void Dispatcher::ScheduleIn(int64_t delay_ms, int64_t wall_due_ms) {
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
      return queue_.MarkSent(o.id, o.provider_id, o.at_ms);
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

void Dispatcher::Pump() {
  {
    std::lock_guard lock(mu_);
    if (status_.stopping || status_.in_flight_id || closed_) return;
  }
  const int64_t now = now_ms_();
  // Nothing new goes out while an answer of the provider is unrecorded: the
  // database is not taking writes, and its order must stay the provider's.
  if (!FlushUnrecorded()) {
    ScheduleIn(options_.record_retry.count(),
               now + options_.record_retry.count());
    return;
  }
  if (next_allowed_steady_ms_) {
    const int64_t wait = *next_allowed_steady_ms_ - SteadyMs();
    if (wait > 0) {
      ScheduleIn(wait, now + wait);
      return;
    }
  }
  auto due = queue_.NextDue(now);
  if (!due.ok()) {
    // The database is local; an error here is rare and usually transient (disk
    // full, busy). One warning per spell: QueueWatch reports one that lasts
    // (the error line) and ends the worker.
    log_.Log(
        queue_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
        "queue-read-failed", {{"error", due.status().message()}});
    queue_failing_ = true;
    ScheduleIn(kQueueErrorRetryMs, now + kQueueErrorRetryMs);
    return;
  }
  queue_failing_ = false;
  if (!due.value()) {
    // Nothing due now: wake up for the earliest retry, if any.
    auto stats = queue_.Stats();
    if (stats.ok() && stats->next_attempt_ms) {
      ScheduleAtWall(*stats->next_attempt_ms);
    } else {
      std::lock_guard lock(mu_);
      status_.next_send_ms.reset();
    }
    return;
  }
  const OutboundMessage& message = *due.value();
  if (auto marked = queue_.MarkSending(message.id, now); !marked.ok()) {
    log_.Log(
        queue_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
        "queue-write-failed",
        {{"id", message.id}, {"error", marked.message()}});
    queue_failing_ = true;
    ScheduleIn(kQueueErrorRetryMs, now + kQueueErrorRetryMs);
    return;
  }
  request_ = {};
  request_.message_id = message.id;
  request_.to = message.to;
  request_.type =
      std::string(EffectiveType(message.type, message.template_json));
  request_.content_json = message.content_json;
  request_.text = message.text;
  request_.template_json = message.template_json;
  request_.reply_to = message.reply_to;
  attempts_ = message.attempts + 1;
  {
    std::lock_guard lock(mu_);
    status_.in_flight_id = message.id;
    status_.next_send_ms.reset();
  }
  // The answer comes back on the loop; a dispatcher destroyed meanwhile (a
  // stop past its deadline) ignores it.
  transport_.Send(
      request_, [this, alive = std::weak_ptr<bool>(alive_)](SendResult result) {
        if (alive.expired()) return;
        OnSendDone(result);
      });
}

void Dispatcher::OnSendDone(const SendResult& result) {
  const int64_t now = now_ms_();
  Outcome outcome;
  outcome.id = request_.message_id;
  outcome.at_ms = now;
  if (result.ok) {
    outcome.result = DispatchResult::kSent;
    outcome.provider_id = result.provider_id;
    log_.Info("sent", {{"id", outcome.id},
                       {"provider_id", result.provider_id},
                       {"attempt", attempts_}});
  } else if (ShouldRetry(options_.retry, attempts_, result.error)) {
    double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    auto delay = RetryDelay(options_.retry, attempts_, unit);
    outcome.result = DispatchResult::kRetry;
    outcome.error = result.error;
    outcome.next_attempt_ms = now + delay.count();
    log_.Warn("send-retry", {{"id", outcome.id},
                             {"code", result.error.code},
                             {"attempt", attempts_},
                             {"delay", fmt::format("{}ms", delay.count())}});
  } else {
    outcome.result = DispatchResult::kFailed;
    outcome.error = result.error;
    log_.Warn("send-failed", {{"id", outcome.id},
                              {"code", result.error.code},
                              {"attempt", attempts_},
                              {"message", result.error.message}});
  }

  common::Status recorded;
  for (int i = 0; i < std::max(1, options_.record_tries); ++i) {
    recorded = Record(outcome);
    if (recorded.ok() || recorded.code() != common::Status::Code::kIOError)
      break;
  }
  if (!recorded.ok()) {
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
  if (on_result_) on_result_(outcome.result);
  next_allowed_steady_ms_ = SteadyMs() + options_.send_delay.count();

  std::function<void()> drained;
  {
    std::lock_guard lock(mu_);
    status_.in_flight_id.reset();
    if (status_.stopping) drained = std::move(on_drained_);
  }
  if (drained) {
    FinishDrain();
    drained();
    return;
  }
  Pump();
}

}  // namespace dynoguard::worker
