// WaitUntil: polls a condition until it holds or a deadline passes. Process
// tests wait for effects with generous deadlines instead of sleeping fixed
// times or asserting durations.
#ifndef DYNOGUARD_TESTS_SUPPORT_WAIT_H_
#define DYNOGUARD_TESTS_SUPPORT_WAIT_H_

#include <chrono>
#include <functional>

namespace dynoguard::testing {

// Calls `predicate` every `interval` until it returns true (→ true) or
// `timeout` has passed (→ false, after one last call). Thread-safe when
// `predicate` is.
bool WaitUntil(
    const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval = std::chrono::milliseconds(20));

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_WAIT_H_
