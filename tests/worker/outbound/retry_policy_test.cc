#include "worker/outbound/retry_policy.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;

RetryPolicy NoJitter() {
  RetryPolicy policy;
  policy.jitter = 0;
  return policy;
}

TEST_CASE("RetryDelay doubles from base with each failed attempt",
          "[retry_policy]") {
  RetryPolicy policy = NoJitter();
  CHECK(RetryDelay(policy, 1, 0.5) == milliseconds(2000));
  CHECK(RetryDelay(policy, 2, 0.5) == milliseconds(4000));
  CHECK(RetryDelay(policy, 3, 0.5) == milliseconds(8000));
  CHECK(RetryDelay(policy, 4, 0.5) == milliseconds(16000));
}

TEST_CASE("RetryDelay treats attempts below 1 as the first", "[retry_policy]") {
  RetryPolicy policy = NoJitter();
  CHECK(RetryDelay(policy, 0, 0.5) == milliseconds(2000));
  CHECK(RetryDelay(policy, -3, 0.5) == milliseconds(2000));
}

TEST_CASE("RetryDelay is capped at max, even for huge attempt counts",
          "[retry_policy]") {
  RetryPolicy policy = NoJitter();
  CHECK(RetryDelay(policy, 8, 0.5) == milliseconds(256000));
  CHECK(RetryDelay(policy, 9, 0.5) == milliseconds(300000));
  CHECK(RetryDelay(policy, 1000, 0.5) == milliseconds(300000));
  CHECK(RetryDelay(policy, 2147483647, 0.5) == milliseconds(300000));

  policy.base = milliseconds(500000);  // base above max: max wins
  CHECK(RetryDelay(policy, 1, 0.5) == milliseconds(300000));
}

TEST_CASE("RetryDelay jitter stays within [1-jitter, 1+jitter] of the delay",
          "[retry_policy]") {
  RetryPolicy policy;  // jitter 0.2
  CHECK(RetryDelay(policy, 1, 0.0) == milliseconds(1600));
  CHECK(RetryDelay(policy, 1, 0.5) == milliseconds(2000));
  CHECK(RetryDelay(policy, 1, 0.999999) == milliseconds(2400));
  for (double u = 0; u < 1; u += 0.01) {
    milliseconds delay = RetryDelay(policy, 3, u);
    CHECK(delay >= milliseconds(6400));
    CHECK(delay <= milliseconds(9600));
  }
  // Jitter applies after the cap, so it still spreads capped retries apart.
  CHECK(RetryDelay(policy, 50, 0.0) == milliseconds(240000));
  CHECK(RetryDelay(policy, 50, 0.999999) == milliseconds(360000));
}

TEST_CASE("RetryDelay clamps out-of-range random numbers and jitter",
          "[retry_policy]") {
  RetryPolicy policy;
  CHECK(RetryDelay(policy, 1, -5.0) == milliseconds(1600));
  CHECK(RetryDelay(policy, 1, 7.0) == milliseconds(2400));
  policy.jitter = 3.0;  // clamped to 1: never a negative delay
  CHECK(RetryDelay(policy, 1, 0.0) == milliseconds(0));
  CHECK(RetryDelay(policy, 1, 0.999999) <= milliseconds(4000));
}

TEST_CASE("ShouldRetry needs a retryable error and attempts left",
          "[retry_policy]") {
  RetryPolicy policy;  // max_attempts 5
  ProviderError transient{"131000", "something went wrong", true};
  ProviderError permanent{"131047", "re-engagement message", false};
  CHECK(ShouldRetry(policy, 1, transient));
  CHECK(ShouldRetry(policy, 4, transient));
  CHECK_FALSE(ShouldRetry(policy, 5, transient));
  CHECK_FALSE(ShouldRetry(policy, 9, transient));
  CHECK_FALSE(ShouldRetry(policy, 1, permanent));
}

}  // namespace
}  // namespace dynoguard::worker
