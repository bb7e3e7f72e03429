// LeftoverWatch: waits, on the loop, until nothing of an exited worker is
// left (its process group and the supervisor's other descendants, see
// WorkerTree). During a graceful stop the worker's main process may exit
// first (a shell wrapper dies of SIGTERM at once) while the bot it started is
// still backing its session up: the stop counts as done only when that one is
// gone too, or when the stop timer's SIGKILL ends it.
#ifndef DYNOGUARD_SUPERVISOR_LEFTOVER_WATCH_H_
#define DYNOGUARD_SUPERVISOR_LEFTOVER_WATCH_H_

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>

#include "supervisor/worker_tree.h"

namespace dynoguard::supervisor {

// Lives on one loop; not thread-safe. Close() before the loop ends.
class LeftoverWatch {
 public:
  // `tree` must outlive this object.
  LeftoverWatch(
      uv_loop_t* loop, const WorkerTree& tree,
      std::chrono::milliseconds interval = std::chrono::milliseconds(20));
  ~LeftoverWatch();
  LeftoverWatch(const LeftoverWatch&) = delete;
  LeftoverWatch& operator=(const LeftoverWatch&) = delete;

  // Checks every interval whether anything of `worker_pid` is left
  // (WorkerTree::AnyLeft) and calls `done` once, from the loop, when nothing
  // is. A watch already under way is replaced (its `done` is dropped).
  void Start(pid_t worker_pid, std::function<void()> done);
  bool active() const { return done_ != nullptr; }
  // Cancels the watch (`done` is not called) and closes the timer.
  // Idempotent.
  void Close();

 private:
  void Check();

  uv_loop_t* loop_;
  const WorkerTree& tree_;
  const std::chrono::milliseconds interval_;
  uv_timer_t* timer_ = nullptr;  // freed in its close callback
  pid_t worker_pid_ = -1;
  std::function<void()> done_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_LEFTOVER_WATCH_H_
