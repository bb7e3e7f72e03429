// QueueWatch: a queue that cannot be read or written must not leave the worker
// "ok" while every send fails. Run every `period` (the worker's periodic task
// "queue-health") it looks at MessageQueue::health(): the first failure of a
// spell is one error line ("queue-unhealthy"), recovery one info line, and a
// spell that lasts `give_up_after` (30 s) ends the worker (exit 1) so the
// supervisor's restart path — and its crash-loop report — takes over. /health
// reads the same MessageQueue::health() and says "degraded", databaseConnected
// false.
#ifndef DYNOGUARD_WORKER_OUTBOUND_QUEUE_WATCH_H_
#define DYNOGUARD_WORKER_OUTBOUND_QUEUE_WATCH_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/log.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {

// The pure part: what to do about one health observation. Times are
// milliseconds on a steady clock.
class QueueHealthTracker {
 public:
  enum class Action {
    kNone,
    kReportUnhealthy,  // a spell starts: log it
    kReportRecovered,  // the spell ended before the deadline
    kGiveUp,           // unhealthy for give_up_after: exit (reported once)
  };
  explicit QueueHealthTracker(std::chrono::milliseconds give_up_after)
      : give_up_after_ms_(give_up_after.count()) {}

  Action Observe(bool healthy, int64_t steady_ms);

 private:
  const int64_t give_up_after_ms_;
  std::optional<int64_t> unhealthy_since_ms_;
  bool gave_up_ = false;
};

class QueueWatch {
 public:
  struct Options {
    std::chrono::milliseconds period{1000};
    std::chrono::milliseconds give_up_after{30000};
    // Null: std::chrono::steady_clock.
    std::function<int64_t()> steady_ms;

    // The defaults, with give_up_after from DYNOGUARD_QUEUE_GIVE_UP_MS when
    // that is a positive integer (tests use a short one).
    static Options FromEnvironment();
  };

  // `on_give_up` runs once (from Check), when the queue stayed unhealthy for
  // give_up_after.
  QueueWatch(Options options, const common::Logger& log, MessageQueue& queue,
             std::function<void()> on_give_up);
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;

  // One observation; call every options().period from one thread.
  void Check();
  const Options& options() const { return options_; }

 private:
  const Options options_;
  const common::Logger& log_;
  MessageQueue& queue_;
  const std::function<void()> on_give_up_;
  QueueHealthTracker tracker_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_QUEUE_WATCH_H_
