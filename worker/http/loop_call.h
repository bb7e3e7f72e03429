// CallOnLoop: how an HTTP thread asks the worker's loop thread for something
// asynchronous (a transport call) and waits for the answer, at most a
// bounded time. The loop is never blocked: the call starts there, its
// callback answers later there, and the waiting is done on the HTTP thread.
#ifndef DYNOGUARD_WORKER_HTTP_LOOP_CALL_H_
#define DYNOGUARD_WORKER_HTTP_LOOP_CALL_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace dynoguard::worker {

// Runs a task on the loop thread (thread-safe; the task runs later, once).
using RunOnLoop = std::function<void(std::function<void()>)>;

// Posts `start` to the loop with `run_on_loop`; `start` begins the call and
// gives it the callback to answer with. Waits up to `timeout` for that
// answer and returns it, or nullopt on timeout (the answer, when it comes
// later, is dropped; whatever `start` captured lives until then). Blocks the
// calling thread; never call it on the loop thread.
template <typename T>
std::optional<T> CallOnLoop(const RunOnLoop& run_on_loop,
                            std::chrono::milliseconds timeout,
                            std::function<void(std::function<void(T)>)> start) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<T> answer;
  };
  auto state = std::make_shared<State>();
  run_on_loop([state, start = std::move(start)]() mutable {
    start([state](T answer) {
      std::lock_guard<std::mutex> lock(state->mu);
      state->answer.emplace(std::move(answer));
      state->cv.notify_all();
    });
  });
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait_for(lock, timeout, [&] { return state->answer.has_value(); });
  if (!state->answer) return std::nullopt;
  return std::move(state->answer);
}

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_LOOP_CALL_H_
