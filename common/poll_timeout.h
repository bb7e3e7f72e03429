#ifndef DYNOGUARD_COMMON_POLL_TIMEOUT_H_
#define DYNOGUARD_COMMON_POLL_TIMEOUT_H_

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>

namespace dynoguard::common {

// The millisecond timeout for poll(2) / epoll_wait(2) that sleeps until at
// least `left` has passed: rounded up, 0 only when nothing is left, at most
// INT_MAX. Rounding down woke a waiter up to a millisecond early, and a loop
// that waits for a deadline then called poll with 0 over and over until it
// came (the HTTP server's control thread spun through the last millisecond
// before each sweep, thousands of empty epoll_waits a second).
inline int PollTimeoutMs(std::chrono::nanoseconds left) {
  if (left <= std::chrono::nanoseconds::zero()) return 0;
  const int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_POLL_TIMEOUT_H_
