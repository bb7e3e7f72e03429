#include "worker/outbound/queue_watch.h"

#include <cstdlib>
#include <string>

namespace dynoguard::worker {

QueueHealthTracker::Action QueueHealthTracker::Observe(bool healthy,
                                                       int64_t steady_ms) {
  if (gave_up_) return Action::kNone;
  if (healthy) {
    if (!unhealthy_since_ms_) return Action::kNone;
    unhealthy_since_ms_.reset();
    return Action::kReportRecovered;
  }
  if (!unhealthy_since_ms_) {
    unhealthy_since_ms_ = steady_ms;
    if (give_up_after_ms_ > 0) return Action::kReportUnhealthy;
  }
  if (steady_ms - *unhealthy_since_ms_ >= give_up_after_ms_) {
    gave_up_ = true;
    return Action::kGiveUp;
  }
  return Action::kNone;
}

QueueWatch::Options QueueWatch::Options::FromEnvironment() {
  Options options;
  if (const char* text = std::getenv("DYNOGUARD_QUEUE_GIVE_UP_MS")) {
    char* end = nullptr;
    long long ms = std::strtoll(text, &end, 10);
    if (end != text && *end == '\0' && ms > 0) {
      options.give_up_after = std::chrono::milliseconds(ms);
      if (options.give_up_after < options.period)
        options.period = options.give_up_after;
    }
  }
  return options;
}

QueueWatch::QueueWatch(Options options, const common::Logger& log,
                       MessageQueue& queue, std::function<void()> on_give_up)
    : options_(std::move(options)),
      log_(log),
      queue_(queue),
      on_give_up_(std::move(on_give_up)),
      tracker_(options_.give_up_after) {}

void QueueWatch::Check() {
  const int64_t now =
      options_.steady_ms
          ? options_.steady_ms()
          : std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count();
  MessageQueue::Health health = queue_.health();
  // An unhealthy queue may have nothing to do (no sends, no requests): try
  // a small write to learn whether it works again. A damaged file is final.
  if (!health.ok && !health.permanent) {
    (void)queue_.Probe();
    health = queue_.health();
  }
  switch (tracker_.Observe(health.ok, now)) {
    case QueueHealthTracker::Action::kNone:
      return;
    case QueueHealthTracker::Action::kReportUnhealthy:
      log_.Error(
          "queue-unhealthy",
          {{"error", health.error},
           {"exit_in", fmt::format("{}ms", options_.give_up_after.count())},
           {"",
            "the message queue cannot be read or written; /health "
            "reports degraded"}});
      return;
    case QueueHealthTracker::Action::kReportRecovered:
      log_.Info("queue-recovered", {});
      return;
    case QueueHealthTracker::Action::kGiveUp:
      log_.Warn("queue-unhealthy-exit",
                {{"failures", health.failures},
                 {"",
                  "stopping with exit code 1 so the supervisor restarts "
                  "the worker"}});
      if (on_give_up_) on_give_up_();
      return;
  }
}

}  // namespace dynoguard::worker
