// CleanupPacer: merges a burst of cleanup signals into one cleanup. A cleanup
// takes milliseconds (tens under a sanitizer) and a signal costs its sender
// nothing, so a sender that signals faster than the worker cleans up would
// keep the event loop in its signal callbacks: nothing else (start-up, the
// queue, the HTTP drain) would run again. The pacer keeps one pending request
// at the highest level asked for and lets it run at most once per `spacing`,
// except that an emergency after a standard cleanup runs at once: it is the
// stronger cleanup, and the one the supervisor sends when memory keeps rising.
//
// Pure logic: times are milliseconds on one monotonic clock, passed in. Not
// thread-safe (the worker uses it on its loop).
#ifndef DYNOGUARD_WORKER_MEMORY_CLEANUP_PACER_H_
#define DYNOGUARD_WORKER_MEMORY_CLEANUP_PACER_H_

#include <cstdint>
#include <optional>

#include "worker/memory/memory_manager.h"

namespace dynoguard::worker {

class CleanupPacer {
 public:
  explicit CleanupPacer(int64_t spacing_ms);

  // A signal asked for a cleanup at `level`. Requests merge: the pending one
  // has the highest level asked for since the last cleanup ran.
  void Request(CleanupLevel level);

  // Milliseconds from `now_ms` until the pending cleanup may run (0: now), or
  // nothing when none is pending.
  std::optional<int64_t> DelayMs(int64_t now_ms) const;

  // The pending cleanup's level when it may run at `now_ms`; it then counts
  // as run at `now_ms` and is no longer pending. Nothing otherwise.
  std::optional<CleanupLevel> TakeDue(int64_t now_ms);

  // How many requests the cleanup TakeDue last returned stands for (1: it
  // merged none).
  int taken_requests() const { return taken_requests_; }

 private:
  const int64_t spacing_ms_;
  int pending_requests_ = 0;  // none pending while 0
  CleanupLevel pending_level_ = CleanupLevel::kStandard;
  int taken_requests_ = 0;
  std::optional<int64_t> last_run_ms_;
  CleanupLevel last_level_ = CleanupLevel::kStandard;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_CLEANUP_PACER_H_
