#include "worker/outbound/dispatcher.h"

#include <algorithm>

namespace dynoguard::worker {
namespace {

Dispatcher* Self(void* data) { return static_cast<Dispatcher*>(data); }

}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, Options options,
                       const common::Logger& log, MessageQueue& queue,
                       Transport& transport, TransportEvents& events,
                       std::function<int64_t()> now_ms,
                       ResultCallback on_result)
    : loop_(loop),
      options_(options),
      log_(log),
      queue_(queue),
      transport_(transport),
      events_(events),
      now_ms_(std::move(now_ms)),
      on_result_(std::move(on_result)) {
  uv_async_init(loop_, &wake_,
                [](uv_async_t* handle) { Self(handle->data)->Pump(); });
  wake_.data = this;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  work_.data = this;
}

Dispatcher::~Dispatcher() { Close(); }

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
  uv_timer_stop(&timer_);
  on_drained();
}

void Dispatcher::Close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void Dispatcher::ScheduleAt(int64_t when_ms) {
  int64_t delay = std::max<int64_t>(0, when_ms - now_ms_());
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { Self(t->data)->Pump(); },
      static_cast<uint64_t>(delay), 0);
  std::lock_guard lock(mu_);
  status_.next_send_ms = when_ms;
}

void Dispatcher::Pump() {
  {
    std::lock_guard lock(mu_);
    if (status_.stopping || status_.in_flight_id || closed_) return;
  }
  int64_t now = now_ms_();
  if (now < next_allowed_ms_) {
    ScheduleAt(next_allowed_ms_);
    return;
  }
  auto due = queue_.NextDue(now);
  if (!due.ok()) {
    // The database is local; an error here is rare and usually transient (disk
    // full, busy).
    log_.Error("queue-read-failed", {{"error", due.status().message()}});
    ScheduleAt(now + 1000);
    return;
  }
  if (!due.value()) {
    // Nothing due now: wake up for the earliest retry, if any.
    auto stats = queue_.Stats();
    if (stats.ok() && stats->next_attempt_ms) {
      ScheduleAt(std::max(*stats->next_attempt_ms, next_allowed_ms_));
    } else {
      std::lock_guard lock(mu_);
      status_.next_send_ms.reset();
    }
    return;
  }
  const OutboundMessage& message = *due.value();
  if (auto marked = queue_.MarkSending(message.id, now); !marked.ok()) {
    log_.Error("queue-write-failed",
               {{"id", message.id}, {"error", marked.message()}});
    ScheduleAt(now + 1000);
    return;
  }
  request_ = {message.id, message.to, message.text, message.template_json,
              message.reply_to};
  attempts_ = message.attempts + 1;
  {
    std::lock_guard lock(mu_);
    status_.in_flight_id = message.id;
    status_.next_send_ms.reset();
  }
  uv_queue_work(
      loop_, &work_,
      [](uv_work_t* work) {
        auto* self = Self(work->data);
        self->result_ = self->transport_.Send(self->request_);
      },
      [](uv_work_t* work, int) {
        auto* self = Self(work->data);
        self->OnSendDone(self->result_);
      });
}

void Dispatcher::OnSendDone(const SendResult& result) {
  int64_t now = now_ms_();
  const std::string& id = request_.message_id;
  std::string_view outcome;
  if (result.ok) {
    if (auto s = queue_.MarkSent(id, result.provider_id, now); !s.ok()) {
      log_.Error("queue-write-failed", {{"id", id}, {"error", s.message()}});
    }
    log_.Info("sent", {{"id", id},
                       {"provider_id", result.provider_id},
                       {"attempt", attempts_}});
    outcome = "sent";
  } else if (ShouldRetry(options_.retry, attempts_, result.error)) {
    double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    auto delay = RetryDelay(options_.retry, attempts_, unit);
    if (auto s = queue_.MarkRetry(id, result.error, now + delay.count(), now);
        !s.ok()) {
      log_.Error("queue-write-failed", {{"id", id}, {"error", s.message()}});
    }
    log_.Warn("send-retry", {{"id", id},
                             {"code", result.error.code},
                             {"attempt", attempts_},
                             {"delay", fmt::format("{}ms", delay.count())}});
    outcome = "retry";
  } else {
    if (auto s = queue_.MarkFailed(id, result.error, now); !s.ok()) {
      log_.Error("queue-write-failed", {{"id", id}, {"error", s.message()}});
    }
    log_.Warn("send-failed", {{"id", id},
                              {"code", result.error.code},
                              {"attempt", attempts_},
                              {"message", result.error.message}});
    outcome = "failed";
  }
  if (on_result_) on_result_(outcome);
  next_allowed_ms_ = now + options_.send_delay.count();
  transport_.Poll(now, events_);

  std::function<void()> drained;
  {
    std::lock_guard lock(mu_);
    status_.in_flight_id.reset();
    if (status_.stopping) drained = std::move(on_drained_);
  }
  if (drained) {
    drained();
    return;
  }
  Pump();
}

}  // namespace dynoguard::worker
