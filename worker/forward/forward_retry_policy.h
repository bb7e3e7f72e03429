// ForwardRetryPolicy: what becomes of one event after one POST to the user's
// webhook — delivered, tried again later (exponential backoff with full
// jitter, or the receiver's Retry-After), or a dead letter. Pure: the caller
// passes the answer, the clock and the random number.
//
// Rules, in order:
//   1. A 2xx answer → delivered.
//   2. No answer (a network error, a timeout), 5xx, 408 or 429 → retry;
//      any other status (1xx/3xx/4xx) → dead letter at once (the receiver
//      refused this event; sending it again gives the same answer).
//   3. A retry becomes a dead letter once `max_attempts` attempts have failed
//      AND `min_retry_window` has passed since the first failure: with full
//      jitter, 30 attempts can happen in much less than an hour, and a
//      receiver down for an hour must lose nothing.
//   4. The delay before the next attempt after n failed ones is uniform in
//      [0, min(max, base * 2^(n-1))] ("full jitter"); a Retry-After of whole
//      seconds on a retried answer replaces it (capped at max_retry_after).
#ifndef DYNOGUARD_WORKER_FORWARD_FORWARD_RETRY_POLICY_H_
#define DYNOGUARD_WORKER_FORWARD_FORWARD_RETRY_POLICY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker {

struct ForwardRetryPolicy {
  // Attempts before a retryable failure may become a dead letter (rule 3).
  // Default: 30.
  int max_attempts = 30;
  // A retryable failure is not given up before this much time has passed
  // since the event's first failure (rule 3). Default: 2 h.
  std::chrono::milliseconds min_retry_window{std::chrono::hours(2)};
  // The first backoff ceiling. Default: 1 s.
  std::chrono::milliseconds base{1000};
  // The largest backoff ceiling. Default: 5 min.
  std::chrono::milliseconds max{300000};
  // The largest Retry-After honoured. Default: 1 h.
  std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};
};

// The outcome of one POST as the policy sees it.
struct ForwardAnswer {
  // The HTTP status; 0 when no complete response arrived (network error).
  int status = 0;
  // The Retry-After header, when the answer had one.
  std::optional<std::string> retry_after;
  // For logs and the dead-letter record: "http_503", "connect: …".
  std::string error;
};

enum class ForwardVerdict { kDelivered, kRetry, kDead };
// "delivered", "retry", "dead".
std::string_view ToString(ForwardVerdict verdict);

struct ForwardDecision {
  ForwardVerdict verdict = ForwardVerdict::kDelivered;
  int64_t next_attempt_ms = 0;  // kRetry: when to try again (wall ms)
};

// True for the statuses rule 2 retries: 5xx, 408, 429.
bool IsRetryableStatus(int status);

// Whole seconds of a Retry-After value ("120"); nullopt for an HTTP date or
// anything else. Pure.
std::optional<int64_t> ParseRetryAfterSeconds(std::string_view value);

// The delay before the next attempt after `failed_attempts` failures (rule
// 4, without Retry-After); `unit_random` in [0, 1) (clamped). Never negative.
std::chrono::milliseconds ForwardBackoff(const ForwardRetryPolicy& policy,
                                         int failed_attempts,
                                         double unit_random);

// Decides for one attempt. `failed_attempts` counts the failures including
// this one when it failed (the event's attempts so far + 1);
// `first_failure_ms` is the first failure's time (now_ms when this is the
// first). Pure.
ForwardDecision DecideForward(const ForwardRetryPolicy& policy,
                              const ForwardAnswer& answer, int failed_attempts,
                              int64_t first_failure_ms, int64_t now_ms,
                              double unit_random);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_FORWARD_FORWARD_RETRY_POLICY_H_
