#include "common/poll_timeout.h"

#include <catch2/catch.hpp>
#include <climits>

namespace dynoguard::common {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST_CASE("PollTimeoutMs rounds what is left up to whole milliseconds",
          "[poll_timeout]") {
  // Less than a millisecond left is a 1 ms sleep, not a poll that returns at
  // once (the control thread's spin).
  CHECK(PollTimeoutMs(microseconds(500)) == 1);
  CHECK(PollTimeoutMs(nanoseconds(1)) == 1);
  CHECK(PollTimeoutMs(milliseconds(1)) == 1);
  CHECK(PollTimeoutMs(microseconds(1001)) == 2);
  CHECK(PollTimeoutMs(milliseconds(50)) == 50);
}

TEST_CASE("PollTimeoutMs is 0 once the deadline passed and caps at INT_MAX",
          "[poll_timeout]") {
  CHECK(PollTimeoutMs(nanoseconds::zero()) == 0);
  CHECK(PollTimeoutMs(milliseconds(-5)) == 0);
  CHECK(PollTimeoutMs(hours(24 * 365 * 100)) == INT_MAX);
}

}  // namespace
}  // namespace dynoguard::common
