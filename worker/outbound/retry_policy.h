// RetryPolicy: how long to wait before sending a failed message again, and when
// to give up. Pure: exponential backoff with jitter; the caller supplies the
// random number and the clock.
#ifndef DYNOGUARD_WORKER_OUTBOUND_RETRY_POLICY_H_
#define DYNOGUARD_WORKER_OUTBOUND_RETRY_POLICY_H_

#include <chrono>

#include "worker/model/outbound_message.h"

namespace dynoguard::worker {

struct RetryPolicy {
  // Sends attempted before a retryable failure becomes a dead letter.
  // Default: 5.
  int max_attempts = 5;
  // Delay after the first failed attempt. Default: 2 s.
  std::chrono::milliseconds base{2000};
  // Cap on the delay before jitter. Default: 5 min.
  std::chrono::milliseconds max{300000};
  // Each delay is multiplied by a factor in [1 - jitter, 1 + jitter]; clamped
  // to [0, 1]. Default: 0.2.
  double jitter = 0.2;
};

// The delay before attempt `attempt + 1`, after `attempt` failed attempts
// (1-based; values below 1 count as 1): base * 2^(attempt - 1), capped at max,
// then multiplied by 1 - jitter + 2 * jitter * unit_random. `unit_random` is in
// [0, 1) (clamped). Never negative.
std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt,
                                     double unit_random);

// True when `error` is retryable and fewer than max_attempts sends have been
// made.
bool ShouldRetry(const RetryPolicy& policy, int attempts,
                 const ProviderError& error);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_RETRY_POLICY_H_
