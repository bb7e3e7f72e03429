#include "supervisor/leftover_watch.h"

namespace dynoguard::supervisor {

LeftoverWatch::LeftoverWatch(uv_loop_t* loop, const WorkerTree& tree,
                             std::chrono::milliseconds interval)
    : loop_(loop), tree_(tree), interval_(interval) {}

LeftoverWatch::~LeftoverWatch() { Close(); }

void LeftoverWatch::Start(pid_t worker_pid, std::function<void()> done) {
  worker_pid_ = worker_pid;
  done_ = std::move(done);
  if (timer_ == nullptr) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }
  auto ms = static_cast<uint64_t>(interval_.count());
  uv_timer_start(
      timer_,
      [](uv_timer_t* t) { static_cast<LeftoverWatch*>(t->data)->Check(); }, ms,
      ms);
}

void LeftoverWatch::Check() {
  if (!done_ || tree_.AnyLeft(worker_pid_)) return;
  uv_timer_stop(timer_);
  // `done` may Start() a new watch or Close() this one.
  auto done = std::move(done_);
  done_ = nullptr;
  done();
}

void LeftoverWatch::Close() {
  done_ = nullptr;
  if (timer_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* handle) {
    delete reinterpret_cast<uv_timer_t*>(handle);
  });
  timer_ = nullptr;
}

}  // namespace dynoguard::supervisor
