#include "worker/outbound/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace dynoguard::worker {

std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt,
                                     double unit_random) {
  const double cap =
      static_cast<double>(std::max<int64_t>(policy.max.count(), 0));
  double delay = std::min(
      static_cast<double>(std::max<int64_t>(policy.base.count(), 0)), cap);
  // Doubling in a loop that stops at the cap cannot overflow, however large
  // `attempt` is.
  for (int i = 1; i < attempt && delay < cap; ++i)
    delay = std::min(delay * 2, cap);

  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const double unit =
      std::isnan(unit_random) ? 0.0 : std::clamp(unit_random, 0.0, 1.0);
  const double factor = 1.0 - jitter + 2.0 * jitter * unit;
  return std::chrono::milliseconds(
      static_cast<int64_t>(std::llround(delay * factor)));
}

bool ShouldRetry(const RetryPolicy& policy, int attempts,
                 const ProviderError& error) {
  return error.retryable && attempts < policy.max_attempts;
}

}  // namespace dynoguard::worker
