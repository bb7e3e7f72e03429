// Dispatcher: the single-flight sender. On the worker's libuv loop it takes the
// oldest due message from the durable queue, marks it `sending`, hands it to
// the transport on a pool thread, records the answer (sent / retry with backoff
// and jitter / dead letter), then waits SEND_DELAY_MS before the next send. One
// message is in flight at most, ever.
#ifndef DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
#define DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "common/log.h"
#include "worker/outbound/message_queue.h"
#include "worker/outbound/retry_policy.h"
#include "worker/model/runtime_status.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// Lives on one loop: Start/BeginDrain/Close on the loop thread; Wake and Status
// from any thread.
class Dispatcher {
 public:
  struct Options {
    std::chrono::milliseconds send_delay{600};  // pause between two sends
    RetryPolicy retry;
  };
  // Called after each send attempt with "sent", "retry" or "failed".
  using ResultCallback = std::function<void(std::string_view result)>;

  Dispatcher(uv_loop_t* loop, Options options, const common::Logger& log,
             MessageQueue& queue, Transport& transport, TransportEvents& events,
             std::function<int64_t()> now_ms, ResultCallback on_result);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts sending whatever is due (messages left by a previous run first).
  void Start();
  // A message was enqueued: look for work now. Thread-safe.
  void Wake();
  // Stop starting sends; `on_drained` runs on the loop once no send is in
  // flight (at once if none is).
  void BeginDrain(std::function<void()> on_drained);
  // Closes the loop handles. REQUIRES: drained.
  void Close();
  DispatcherStatus Status() const;

 private:
  void Pump();
  void ScheduleAt(int64_t when_ms);
  void OnSendDone(const SendResult& result);

  // Constant after construction.
  uv_loop_t* const loop_;
  const Options options_;
  const common::Logger& log_;
  MessageQueue& queue_;
  Transport& transport_;
  TransportEvents& events_;
  const std::function<int64_t()> now_ms_;
  const ResultCallback on_result_;

  // Loop-thread state.
  uv_async_t wake_{};
  uv_timer_t timer_{};
  uv_work_t work_{};
  SendRequest request_;
  SendResult result_;
  int attempts_ = 0;
  int64_t next_allowed_ms_ = 0;
  std::function<void()> on_drained_;
  std::mt19937_64 random_{std::random_device{}()};
  bool closed_ = false;

  mutable std::mutex mu_;
  DispatcherStatus status_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_DISPATCHER_H_
