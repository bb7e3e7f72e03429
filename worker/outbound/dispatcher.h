// Dispatcher: the sender. On the worker's libuv loop it takes due messages from
// the durable queue (MessageQueue::NextDue: the head of each recipient's
// line), marks them `sending`, hands them to the asynchronous transport and
// records each answer when it comes back:
//   ok                 sent, with the provider's id (and message_status);
//   kRetry             back to the queue after a backoff with jitter, a dead
//                      letter after RetryPolicy::max_attempts sends;
//   kSlowRecipient     (131056) that recipient alone waits 4^n s after its
//                      n-th consecutive hit; does not use up the retries;
//   kPauseAll          back to the queue due now, nothing failed, and no send
//                      starts until the transport is connected again;
//   kFail              a dead letter with the provider's code and message.
// (ActionOf in model/provider_error.h classifies.) Up to SEND_CONCURRENCY sends
// are in flight, always to different recipients; one recipient's messages go
// one at a time and in order (a retried message holds the ones behind it);
// SEND_DELAY_MS is the least time between the starts of two sends; nothing
// starts while transport.state() is not kConnected. The scheduling decisions
// are SendPolicy's (send_policy.h).
//
// Clocks: what is persisted (updated_ms, next_attempt_ms) is wall time; every
// delay the dispatcher waits itself (the SEND_DELAY_MS spacing, a pause, its
// timers) is measured on a steady clock, so an NTP step back does not stall
// sends.
//
// An answer the queue cannot record (MarkSent failing after the provider
// accepted the message) is retried at once, then kept in memory and applied
// before anything else is sent, once the database takes writes again: the
// message stays `sending` meanwhile, which NextDue never picks, so a message
// the provider accepted is never sent twice by this worker.
#ifndef DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
#define DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"
#include "worker/outbound/retry_policy.h"
#include "worker/outbound/send_policy.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// The outcome of one send attempt.
enum class DispatchResult {
  kSent,    // the provider accepted the message
  kRetry,   // back to the queue (a retryable failure, a slowed recipient or a
            // pause)
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
    std::chrono::milliseconds send_delay{600};  // between two starts
    int concurrency = 1;  // sends in flight at once, clamped to [1, 64]
    RetryPolicy retry;
    // 131056: slow_base * 4^n after the n-th consecutive hit, at most
    // slow_max.
    std::chrono::milliseconds slow_base{1000};
    std::chrono::milliseconds slow_max{4096 * 1000};
    // A pause the transport never shows as a disconnection (the sandbox) ends
    // after this long (SendPolicy::Options::pause_probe_ms).
    std::chrono::milliseconds pause_probe{30000};
    // Milliseconds on a monotonic clock; null: std::chrono::steady_clock.
    // Injected by tests.
    std::function<int64_t()> steady_ms;
    // Immediate tries of a queue write after a send before the answer is
    // kept in memory (at least 1).
    int record_tries = 3;
    // How often answers kept in memory are tried again.
    std::chrono::milliseconds record_retry{1000};
    // Called on the loop once the dispatcher went from sending to having
    // nothing to do (no send in flight, nothing due): a burst is over. May
    // be empty.
    std::function<void()> on_idle;
    // Called on the loop with each answer (what became of it, the request,
    // the transport's answer) *before* the queue records it: what must not
    // be lost when the worker dies between the two writes goes here. A
    // worker killed after this call and before the queue's write leaves the
    // message `sending`, so the next start sends it again and calls this
    // again for it: the consumer must take a repeat (the worker's forwarded
    // status events have ids derived from our id and the status). May be
    // empty.
    std::function<void(DispatchResult outcome, const SendRequest& request,
                       const SendResult& result)>
        before_record;
  };
  // Called on the loop after each answer was recorded (or kept in memory):
  // what became of it, the request and the transport's answer (the
  // provider's message_status is result.message_status).
  using ResultCallback =
      std::function<void(DispatchResult outcome, const SendRequest& request,
                         const SendResult& result)>;

  // `now_ms` is the wall clock (ms since the epoch) for what is persisted.
  // `on_result` may be empty.
  Dispatcher(uv_loop_t* loop, Options options, const common::Logger& log,
             MessageQueue& queue, Transport& transport,
             std::function<int64_t()> now_ms, ResultCallback on_result);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts sending whatever is due (messages left by a previous run first).
  void Start();
  // Look for work now: a message was enqueued, or the transport's connection
  // changed (the worker calls it on every OnConnection). Thread-safe.
  void Wake();
  // A message was committed to the queue. Wakes the dispatcher only when it
  // would otherwise not look at the queue soon: it is waiting with nothing
  // due. While a timer (SEND_DELAY_MS, a reconnect check) or a send in
  // flight will pump anyway, this costs one atomic exchange, not a wake-up
  // of the loop per enqueue. Thread-safe.
  void OnEnqueued();
  // Stop starting sends; `on_drained` runs on the loop once no send is in
  // flight (at once, from within this call, if none is). Answers still kept
  // in memory get one more try; those that fail are logged (their messages
  // stay `sending` and are sent again by the next worker: the one duplicate
  // SPEC §7 allows).
  void BeginDrain(std::function<void()> on_drained);
  // Closes the loop handles. Answers arriving later are recorded but start
  // nothing. Destroying the dispatcher makes later answers be ignored.
  void Close();
  DispatcherStatus Status() const;
  // Answers of the provider not yet recorded in the queue. Loop thread.
  size_t unrecorded() const { return unrecorded_.size(); }

 private:
  // A provider answer to write to the queue.
  struct Outcome {
    std::string id;
    DispatchResult result = DispatchResult::kFailed;
    std::string provider_id;      // kSent
    std::string message_status;   // kSent: the provider's message_status
    ProviderError error;          // kRetry, kFailed
    int64_t next_attempt_ms = 0;  // kRetry
    int64_t at_ms = 0;            // wall time of the answer
  };
  struct InFlight {
    SendRequest request;
    int attempts = 0;  // sends started for this message, this one included
  };

  void Pump();
  // Starts one send of `message` (already marked sending).
  void StartSend(const OutboundMessage& message);
  // Waits `delay_ms` (steady), then pumps; `wall_due_ms` is what Status()
  // reports as the next send (nullopt: none known).
  void ScheduleIn(int64_t delay_ms, std::optional<int64_t> wall_due_ms);
  // Schedules for a wall-clock due time (a persisted next_attempt_ms).
  void ScheduleAtWall(int64_t wall_due_ms);
  void OnSendDone(const std::string& id, const SendResult& result);
  // The outcome of `result` for `sent`, with the policy updated.
  Outcome Decide(const InFlight& sent, const SendResult& result);
  // Records `outcome`, or keeps it in memory when the queue cannot.
  void RecordOrKeep(const Outcome& outcome);
  common::Status Record(const Outcome& outcome);
  // Tries the answers kept in memory, oldest first; true when none is left.
  bool FlushUnrecorded();
  // Gives unrecorded answers a last try (logging those that stay
  // unrecorded).
  void FinishDrain();
  // Copies the loop state into status_; logs a pause starting or ending.
  void PublishStatus(int64_t steady_now);
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
  SendPolicy policy_;
  std::vector<InFlight> in_flight_;  // oldest start first
  // Per message: sends that did not count against the retry budget
  // (131056 slow-downs, pauses). Forgotten when the message is done.
  std::unordered_map<std::string, int> uncounted_;
  std::vector<Outcome> unrecorded_;
  bool queue_failing_ = false;  // the last queue read failed: warned once
  bool stopping_ = false;
  // True from the moment Pump is about to read the queue until it knows a
  // timer or an answer will pump again: an enqueue meanwhile must wake it
  // (set before the read, so a commit the read missed sees it set).
  std::atomic<bool> wants_enqueue_wake_{true};
  // A send started since on_idle last ran.
  bool busy_since_idle_ = false;
  bool was_paused_ = false;  // for the send-paused / send-resumed lines
  std::function<void()> on_drained_;
  std::mt19937_64 random_{std::random_device{}()};
  bool closed_ = false;

  mutable std::mutex mu_;
  DispatcherStatus status_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
