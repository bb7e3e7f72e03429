#include "worker/app/periodic_tasks.h"

#include <utility>

namespace dynoguard::worker {

struct PeriodicTimers::Timer {
  uv_timer_t handle{};
  std::function<void()> run;
};

void PeriodicTimers::Start(uv_loop_t* loop, std::vector<PeriodicTask> tasks) {
  tasks_ = std::move(tasks);
  for (const PeriodicTask& task : tasks_) {
    if (task.period.count() <= 0) continue;
    auto* timer = new Timer;
    timer->run = task.run;
    uv_timer_init(loop, &timer->handle);
    timer->handle.data = timer;
    const auto period = static_cast<uint64_t>(task.period.count());
    uv_timer_start(
        &timer->handle,
        [](uv_timer_t* h) { static_cast<Timer*>(h->data)->run(); }, period,
        period);
    timers_.push_back(timer);
  }
}

void PeriodicTimers::Close() {
  for (Timer* timer : timers_) {
    uv_timer_stop(&timer->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer->handle),
             [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
  }
  timers_.clear();
}

}  // namespace dynoguard::worker
