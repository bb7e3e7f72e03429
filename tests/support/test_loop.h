// TestLoop: a libuv loop run on the test thread until a condition holds, for
// unit tests of code that lives on the worker's loop (the HTTP client, the
// Cloud transport, the JSONBin store). The destructor closes what is left
// and checks that every handle was closed (uv_loop_close succeeds).
#ifndef DYNOGUARD_TESTS_SUPPORT_TEST_LOOP_H_
#define DYNOGUARD_TESTS_SUPPORT_TEST_LOOP_H_

#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>

namespace dynoguard::testing {

// Runs `loop` until `done` holds (true) or `timeout` passes (false). `tick`,
// an initialised timer of that loop, ticks every 5 ms meanwhile so that each
// uv_run returns and the condition is checked; it is stopped after. For
// fixtures that own their loop; TestLoop is the loop and its tick in one.
inline bool RunLoopUntil(uv_loop_t* loop, uv_timer_t* tick,
                         const std::function<bool()>& done,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uv_timer_start(
      tick, [](uv_timer_t*) {}, 5, 5);
  bool held = done();
  while (!held && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    held = done();
  }
  uv_timer_stop(tick);
  return held;
}

class TestLoop {
 public:
  // `default_timeout`: how long RunUntil waits when not told.
  explicit TestLoop(std::chrono::milliseconds default_timeout =
                        std::chrono::milliseconds(10000))
      : default_timeout_(default_timeout) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
  }
  ~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  // RunLoopUntil on this loop, with the default timeout or `timeout`.
  bool RunUntil(const std::function<bool()>& done) {
    return RunUntil(done, default_timeout_);
  }
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds timeout) {
    return RunLoopUntil(&loop_, &tick_, done, timeout);
  }
  // Runs the pending close callbacks and whatever is ready.
  void Settle() { uv_run(&loop_, UV_RUN_NOWAIT); }

 private:
  const std::chrono::milliseconds default_timeout_;
  uv_loop_t loop_{};
  uv_timer_t tick_{};
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_TEST_LOOP_H_
