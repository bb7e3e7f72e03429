#include "supervisor/restart_backoff.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace dynoguard::supervisor {

RestartBackoff::RestartBackoff(std::chrono::milliseconds min,
                               std::chrono::milliseconds max,
                               std::chrono::milliseconds stable_after,
                               int crash_loop_after)
    : min_(min),
      max_(max),
      stable_after_(stable_after),
      crash_loop_after_(crash_loop_after) {
  assert(min.count() >= 0 && min <= max);
  assert(crash_loop_after >= 1);
}

std::chrono::milliseconds RestartBackoff::OnUnexpectedExit(
    Clock::time_point started, Clock::time_point exited) {
  if (exited - started >= stable_after_) consecutive_failures_ = 0;
  if (consecutive_failures_ < std::numeric_limits<int>::max())
    ++consecutive_failures_;
  return Delay();
}

std::chrono::milliseconds RestartBackoff::OnPlannedExit(
    Clock::time_point started, Clock::time_point exited, bool counts) {
  if (exited - started >= stable_after_) {
    consecutive_failures_ = 0;
    return std::chrono::milliseconds(0);
  }
  if (!counts) return std::chrono::milliseconds(0);
  return OnUnexpectedExit(started, exited);
}

std::chrono::milliseconds RestartBackoff::Delay() const {
  // The first failure is free: one crash of a worker that ran fine is most
  // often a one-off, and waiting only lengthens the outage.
  if (consecutive_failures_ <= 1) return std::chrono::milliseconds(0);
  // Double step by step and stop at max, so a long crash loop can never
  // overflow.
  std::chrono::milliseconds delay = std::min(min_, max_);
  for (int i = 2;
       i < consecutive_failures_ && delay.count() > 0 && delay < max_; ++i) {
    delay = delay > max_ / 2 ? max_ : delay * 2;
  }
  return delay;
}

}  // namespace dynoguard::supervisor
