// Periodic tasks: the worker's timers as one table (name, period, what runs),
// driven by one libuv timer each on the worker's loop. The table itself is
// WorkerApp::PeriodicTable(); SPEC §6 fixes two rows (trim every 30 s, temp
// files every 60 s).
#ifndef DYNOGUARD_WORKER_APP_PERIODIC_TASKS_H_
#define DYNOGUARD_WORKER_APP_PERIODIC_TASKS_H_

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dynoguard::worker {

struct PeriodicTask {
  std::string name;                  // for logs and tests: "trim", …
  std::chrono::milliseconds period;  // 0: the task is off
  std::function<void()> run;         // runs on the loop thread
};

// Owns one uv_timer_t per task. Loop thread only.
class PeriodicTimers {
 public:
  PeriodicTimers() = default;
  PeriodicTimers(const PeriodicTimers&) = delete;
  PeriodicTimers& operator=(const PeriodicTimers&) = delete;
  // REQUIRES: Close() was called and the loop ran the close callbacks (or
  // Start() never was).
  ~PeriodicTimers() = default;

  // Starts a repeating timer for every task with a period > 0 (the first run
  // one period from now). REQUIRES: called once.
  void Start(uv_loop_t* loop, std::vector<PeriodicTask> tasks);

  // Stops and closes the timers; the memory is released by the close
  // callbacks (run the loop afterwards). Idempotent.
  void Close();

  // The tasks as started (the table), for logs and tests.
  const std::vector<PeriodicTask>& tasks() const { return tasks_; }

 private:
  struct Timer;
  std::vector<PeriodicTask> tasks_;
  std::vector<Timer*> timers_;  // owned until their close callback
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_PERIODIC_TASKS_H_
