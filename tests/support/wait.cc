#include "tests/support/wait.h"

#include <thread>

namespace dynoguard::testing {

bool WaitUntil(const std::function<bool()>& predicate,
               std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace dynoguard::testing
