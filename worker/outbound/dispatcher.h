// Dispatcher: the single-flight sender. On the worker's libuv loop it takes the
// oldest due message from the durable queue, marks it `sending`, hands it to
// the (asynchronous) transport, records the answer when it comes back (sent /
// retry with backoff and jitter / dead letter), then waits SEND_DELAY_MS before
// the next send. One message is in flight at most, ever.
//
// Clocks: what is persisted (updated_ms, next_attempt_ms) is wall time; every
// delay the dispatcher waits itself (the SEND_DELAY_MS spacing, its timers) is
// measured on a steady clock, so an NTP step back does not stall sends.
//
// An answer the queue cannot record (MarkSent failing after the provider
// accepted the message) is retried at once, then kept in memory and applied
// before anything else is sent, once the database takes writes again: the
// message stays `sending` meanwhile, which NextDue never picks, so a message
// the provider accepted is never sent twice by this worker.
#ifndef DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
#define DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"
#include "worker/outbound/retry_policy.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// The outcome of one send attempt.
enum class DispatchResult {
  kSent,    // the provider accepted the message
  kRetry,   // a retryable failure; the message goes back to the queue
  kFailed,  // a final failure; the message is a dead letter
};
// "sent", "retry", "failed".
std::string_view ToString(DispatchResult result);

// Lives on one loop: Start/BeginDrain/Close on the loop thread; Wake and Status
// from any thread. The dispatcher does not poll the transport: the worker's
// transport timer is the one owner of Transport::Poll.
class Dispatcher {
 public:
  struct Options {
    std::chrono::milliseconds send_delay{600};  // pause between two sends
    RetryPolicy retry;
    // Milliseconds on a monotonic clock; null: std::chrono::steady_clock.
    // Injected by tests.
    std::function<int64_t()> steady_ms;
    // Immediate tries of a queue write after a send before the answer is
    // kept in memory (at least 1).
    int record_tries = 3;
    // How often answers kept in memory are tried again.
    std::chrono::milliseconds record_retry{1000};
  };
  // Called after each send attempt.
  using ResultCallback = std::function<void(DispatchResult result)>;

  // `now_ms` is the wall clock (ms since the epoch) for what is persisted.
  Dispatcher(uv_loop_t* loop, Options options, const common::Logger& log,
             MessageQueue& queue, Transport& transport,
             std::function<int64_t()> now_ms, ResultCallback on_result);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts sending whatever is due (messages left by a previous run first).
  void Start();
  // A message was enqueued: look for work now. Thread-safe.
  void Wake();
  // Stop starting sends; `on_drained` runs on the loop once no send is in
  // flight (at once if none is). Answers still kept in memory get one more
  // try; those that fail are logged (their messages stay `sending` and are
  // sent again by the next worker: the one duplicate SPEC §7 allows).
  void BeginDrain(std::function<void()> on_drained);
  // Closes the loop handles. REQUIRES: drained.
  void Close();
  DispatcherStatus Status() const;
  // Answers of the provider not yet recorded in the queue.
  size_t unrecorded() const { return unrecorded_.size(); }

 private:
  // A provider answer to write to the queue.
  struct Outcome {
    std::string id;
    DispatchResult result;
    std::string provider_id;      // kSent
    ProviderError error;          // kRetry, kFailed
    int64_t next_attempt_ms = 0;  // kRetry
    int64_t at_ms = 0;            // wall time of the answer
  };

  void Pump();
  // Waits `delay_ms` (steady), then pumps; `wall_due_ms` is what Status()
  // reports as the next send.
  void ScheduleIn(int64_t delay_ms, int64_t wall_due_ms);
  // Schedules for a wall-clock due time (a persisted next_attempt_ms).
  void ScheduleAtWall(int64_t wall_due_ms);
  void OnSendDone(const SendResult& result);
  common::Status Record(const Outcome& outcome);
  // Tries the answers kept in memory, oldest first; true when none is left.
  bool FlushUnrecorded();
  // Stops the timer and gives unrecorded answers a last try (logging those
  // that stay unrecorded).
  void FinishDrain();
  int64_t SteadyMs() const;

  // Constant after construction.
  uv_loop_t* const loop_;
  const Options options_;
  const common::Logger& log_;
  MessageQueue& queue_;
  Transport& transport_;
  const std::function<int64_t()> now_ms_;
  const ResultCallback on_result_;

  // Loop-thread state.
  uv_async_t wake_{};
  uv_timer_t timer_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  SendRequest request_;
  int attempts_ = 0;
  std::optional<int64_t> next_allowed_steady_ms_;
  std::vector<Outcome> unrecorded_;
  bool queue_failing_ = false;  // the last queue read failed: warned once
  std::function<void()> on_drained_;
  std::mt19937_64 random_{std::random_device{}()};
  bool closed_ = false;

  mutable std::mutex mu_;
  DispatcherStatus status_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
