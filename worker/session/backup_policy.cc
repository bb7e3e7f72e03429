#include "worker/session/backup_policy.h"

#include <algorithm>

namespace dynoguard::worker {

void RemoteBackupPolicy::OnAttempt(int64_t now_ms) {
  last_attempt_ms_ = now_ms;
  next_allowed_ms_ =
      std::max(next_allowed_ms_, now_ms + options_.min_interval.count());
}

void RemoteBackupPolicy::OnSuccess() {
  failures_ = 0;
  next_allowed_ms_ = last_attempt_ms_ + options_.min_interval.count();
}

void RemoteBackupPolicy::OnFailure(int64_t now_ms) {
  ++failures_;
  int64_t wait = options_.backoff_base.count();
  for (int i = 1; i < failures_ && wait < options_.backoff_max.count(); ++i) {
    wait *= 2;
  }
  wait = std::min<int64_t>(wait, options_.backoff_max.count());
  next_allowed_ms_ =
      std::max(last_attempt_ms_ + options_.min_interval.count(), now_ms + wait);
}

}  // namespace dynoguard::worker
