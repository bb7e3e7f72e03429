#include "worker/forward/forward_retry_policy.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kHourMs = 3'600'000;

ForwardAnswer Status(int status, std::optional<std::string> retry_after = {}) {
  ForwardAnswer answer;
  answer.status = status;
  answer.retry_after = std::move(retry_after);
  answer.error = "http_" + std::to_string(status);
  return answer;
}

ForwardAnswer NetworkError() {
  ForwardAnswer answer;
  answer.error = "connect";
  return answer;
}

TEST_CASE("2xx delivers", "[forward]") {
  const ForwardRetryPolicy policy;
  for (int status : {200, 201, 202, 204, 299}) {
    CHECK(DecideForward(policy, Status(status), 1, kNow, kNow, 0.5).verdict ==
          ForwardVerdict::kDelivered);
  }
}

TEST_CASE("network errors, 5xx, 408 and 429 retry, other 4xx are dead",
          "[forward]") {
  const ForwardRetryPolicy policy;
  for (int status : {408, 429, 500, 502, 503, 504, 599}) {
    INFO(status);
    CHECK(DecideForward(policy, Status(status), 1, kNow, kNow, 0.5).verdict ==
          ForwardVerdict::kRetry);
  }
  CHECK(DecideForward(policy, NetworkError(), 1, kNow, kNow, 0.5).verdict ==
        ForwardVerdict::kRetry);
  for (int status : {400, 401, 403, 404, 405, 410, 413, 422, 301, 302, 100}) {
    INFO(status);
    CHECK(DecideForward(policy, Status(status), 1, kNow, kNow, 0.5).verdict ==
          ForwardVerdict::kDead);
  }
}

TEST_CASE("backoff is full jitter under a doubling ceiling capped at max",
          "[forward]") {
  ForwardRetryPolicy policy;
  policy.base = milliseconds(1000);
  policy.max = milliseconds(300000);
  // Just below 1: the ceiling itself (floored).
  const double top = 0.999999999;
  CHECK(ForwardBackoff(policy, 1, top) == milliseconds(999));
  CHECK(ForwardBackoff(policy, 2, top) == milliseconds(1999));
  CHECK(ForwardBackoff(policy, 3, top) == milliseconds(3999));
  CHECK(ForwardBackoff(policy, 9, top) == milliseconds(255999));
  CHECK(ForwardBackoff(policy, 10, top) == milliseconds(299999));
  CHECK(ForwardBackoff(policy, 1000000, top) == milliseconds(299999));
  CHECK(ForwardBackoff(policy, 5, 0.0) == milliseconds(0));
  CHECK(ForwardBackoff(policy, 5, 0.5) == milliseconds(8000));
  // Out-of-range randoms are clamped; attempts below 1 count as 1.
  CHECK(ForwardBackoff(policy, 1, 7.0) == milliseconds(1000));
  CHECK(ForwardBackoff(policy, 1, -1.0) == milliseconds(0));
  CHECK(ForwardBackoff(policy, 0, 0.5) == milliseconds(500));
}

TEST_CASE("the next attempt is now + the backoff", "[forward]") {
  const ForwardRetryPolicy policy;
  const ForwardDecision d =
      DecideForward(policy, Status(503), 3, kNow - 5000, kNow, 0.5);
  REQUIRE(d.verdict == ForwardVerdict::kRetry);
  CHECK(d.next_attempt_ms == kNow + 2000);
}

TEST_CASE("Retry-After seconds replace the backoff, capped", "[forward]") {
  ForwardRetryPolicy policy;
  policy.max_retry_after = milliseconds(600000);
  ForwardDecision d =
      DecideForward(policy, Status(429, "120"), 1, kNow, kNow, 0.5);
  REQUIRE(d.verdict == ForwardVerdict::kRetry);
  CHECK(d.next_attempt_ms == kNow + 120000);
  d = DecideForward(policy, Status(503, "86400"), 1, kNow, kNow, 0.5);
  CHECK(d.next_attempt_ms == kNow + 600000);
  // An HTTP date (or garbage) falls back to the backoff.
  d = DecideForward(policy, Status(503, "Wed, 21 Oct 2015 07:28:00 GMT"), 1,
                    kNow, kNow, 0.5);
  CHECK(d.next_attempt_ms == kNow + 500);
  // A 4xx with Retry-After is still dead.
  CHECK(DecideForward(policy, Status(400, "5"), 1, kNow, kNow, 0.5).verdict ==
        ForwardVerdict::kDead);
}

TEST_CASE("Retry-After parsing takes whole seconds only", "[forward]") {
  CHECK(ParseRetryAfterSeconds("0") == 0);
  CHECK(ParseRetryAfterSeconds(" 30 ") == 30);
  CHECK_FALSE(ParseRetryAfterSeconds("").has_value());
  CHECK_FALSE(ParseRetryAfterSeconds("-1").has_value());
  CHECK_FALSE(ParseRetryAfterSeconds("1.5").has_value());
  CHECK_FALSE(ParseRetryAfterSeconds("12345678901234567890").has_value());
}

TEST_CASE("dead only after max attempts and the retry window", "[forward]") {
  ForwardRetryPolicy policy;
  policy.max_attempts = 30;
  policy.min_retry_window = std::chrono::hours(2);
  // 30 attempts in 10 minutes (small jitter draws): still retried.
  CHECK(DecideForward(policy, Status(503), 30, kNow - 600000, kNow, 0.0)
            .verdict == ForwardVerdict::kRetry);
  // Two hours later, the 30th failure gives up.
  CHECK(DecideForward(policy, Status(503), 30, kNow - 2 * kHourMs, kNow, 0.0)
            .verdict == ForwardVerdict::kDead);
  // Two hours of failing but fewer attempts: still retried.
  CHECK(DecideForward(policy, NetworkError(), 29, kNow - 3 * kHourMs, kNow, 0.0)
            .verdict == ForwardVerdict::kRetry);
}

TEST_CASE("the defaults keep a receiver that is down for an hour",
          "[forward]") {
  // Worst case for the window: every jitter draw is 0, so attempts come
  // back to back. The event is retried at least until the window ends.
  const ForwardRetryPolicy policy;
  const int64_t start = kNow;
  int64_t now = start;
  int attempts = 0;
  for (;;) {
    ++attempts;
    ForwardDecision d =
        DecideForward(policy, NetworkError(), attempts, start, now, 0.0);
    if (d.verdict == ForwardVerdict::kDead) break;
    // The minimum a real loop waits between two attempts is the connect
    // time; take 1 s per attempt.
    now = std::max(d.next_attempt_ms, now + 1000);
    REQUIRE(attempts < 100000);
  }
  CHECK(now - start >= kHourMs);
  CHECK(attempts >= policy.max_attempts);

  // The expected case (draws at 0.5): the sum of the delays is > 1 h too.
  now = start;
  attempts = 0;
  for (;;) {
    ++attempts;
    ForwardDecision d =
        DecideForward(policy, NetworkError(), attempts, start, now, 0.5);
    if (d.verdict == ForwardVerdict::kDead) break;
    now = d.next_attempt_ms;
  }
  CHECK(now - start >= kHourMs);
}

}  // namespace
}  // namespace dynoguard::worker
