// RestartBackoff: how long the supervisor waits before starting a worker that
// exited unexpectedly. Pure: the caller passes the start and exit times.
#ifndef DYNOGUARD_SUPERVISOR_RESTART_BACKOFF_H_
#define DYNOGUARD_SUPERVISOR_RESTART_BACKOFF_H_

#include <chrono>

namespace dynoguard::supervisor {

// The first failure is respawned at once (0: a worker that ran stably and
// crashed once is back without delay); then delays double with each further
// consecutive failure: min, 2·min, 4·min, … capped at max. A run that lasted at
// least stable_after before ending starts the sequence over.
//
// Not thread-safe: one owner.
class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: 0 <= min <= max, crash_loop_after >= 1.
  RestartBackoff(
      std::chrono::milliseconds min, std::chrono::milliseconds max,
      std::chrono::milliseconds stable_after = std::chrono::seconds(60),
      int crash_loop_after = 5);

  // A worker started at `started` exited unexpectedly at `exited`. Counts the
  // failure and returns the delay before the next start: 0 for the first
  // failure (after a run of at least stable_after the count restarts at 1),
  // else min · 2^(consecutive_failures() - 2), capped at max.
  std::chrono::milliseconds OnUnexpectedExit(Clock::time_point started,
                                             Clock::time_point exited);

  // A worker started at `started` was stopped on purpose at `exited`. A run of
  // at least stable_after clears the count; a shorter one counts as a failure
  // when `counts` (an automatic restart: memory, watchdog, start timeout), so
  // a worker restarted young again and again is a crash loop too. Returns the
  // delay OnUnexpectedExit would (0 when nothing was counted).
  std::chrono::milliseconds OnPlannedExit(Clock::time_point started,
                                          Clock::time_point exited,
                                          bool counts);

  // Unexpected exits since the last stable run or Reset(), this one included.
  int consecutive_failures() const { return consecutive_failures_; }
  // consecutive_failures() >= crash_loop_after: the worker keeps dying young
  // (for logs/status).
  bool crash_loop() const { return consecutive_failures_ >= crash_loop_after_; }

  // Forgets the failures (e.g. after a deliberate restart or a stop).
  void Reset() { consecutive_failures_ = 0; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds stable_after_;
  int crash_loop_after_;

  std::chrono::milliseconds Delay() const;

  int consecutive_failures_ = 0;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_RESTART_BACKOFF_H_
