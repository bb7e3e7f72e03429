#include "worker/forward/forward_retry_policy.h"

#include <algorithm>
#include <cmath>

namespace dynoguard::worker {

std::string_view ToString(ForwardVerdict verdict) {
  switch (verdict) {
    case ForwardVerdict::kDelivered:
      return "delivered";
    case ForwardVerdict::kRetry:
      return "retry";
    case ForwardVerdict::kDead:
      return "dead";
  }
  return "unknown";
}

bool IsRetryableStatus(int status) {
  return status >= 500 || status == 408 || status == 429;
}

std::optional<int64_t> ParseRetryAfterSeconds(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  // At most 9 digits: up to ~31 years, no overflow.
  if (value.empty() || value.size() > 9) return std::nullopt;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return seconds;
}

std::chrono::milliseconds ForwardBackoff(const ForwardRetryPolicy& policy,
                                         int failed_attempts,
                                         double unit_random) {
  const double cap =
      static_cast<double>(std::max<int64_t>(policy.max.count(), 0));
  double ceiling = std::min(
      static_cast<double>(std::max<int64_t>(policy.base.count(), 0)), cap);
  // Doubling in a loop that stops at the cap cannot overflow.
  for (int i = 1; i < failed_attempts && ceiling < cap; ++i) {
    ceiling = std::min(ceiling * 2, cap);
  }
  const double unit =
      std::isnan(unit_random) ? 0.0 : std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<int64_t>(std::floor(ceiling * unit)));
}

ForwardDecision DecideForward(const ForwardRetryPolicy& policy,
                              const ForwardAnswer& answer, int failed_attempts,
                              int64_t first_failure_ms, int64_t now_ms,
                              double unit_random) {
  if (answer.status >= 200 && answer.status < 300) {
    return {ForwardVerdict::kDelivered, 0};
  }
  const bool retryable = answer.status == 0 || IsRetryableStatus(answer.status);
  if (!retryable) return {ForwardVerdict::kDead, 0};
  if (failed_attempts >= policy.max_attempts &&
      now_ms - first_failure_ms >= policy.min_retry_window.count()) {
    return {ForwardVerdict::kDead, 0};
  }
  int64_t delay = ForwardBackoff(policy, failed_attempts, unit_random).count();
  if (answer.status != 0 && answer.retry_after) {
    if (auto seconds = ParseRetryAfterSeconds(*answer.retry_after)) {
      delay = std::min<int64_t>(
          *seconds * 1000,
          std::max<int64_t>(policy.max_retry_after.count(), 0));
    }
  }
  return {ForwardVerdict::kRetry, now_ms + delay};
}

}  // namespace dynoguard::worker
