#include "worker/memory/cleanup_pacer.h"

#include <algorithm>

namespace dynoguard::worker {

CleanupPacer::CleanupPacer(int64_t spacing_ms) : spacing_ms_(spacing_ms) {}

void CleanupPacer::Request(CleanupLevel level) {
  pending_level_ =
      pending_requests_ == 0 ? level : std::max(pending_level_, level);
  ++pending_requests_;
}

std::optional<int64_t> CleanupPacer::DelayMs(int64_t now_ms) const {
  if (pending_requests_ == 0) return std::nullopt;
  if (!last_run_ms_ || pending_level_ > last_level_) return 0;
  return std::max<int64_t>(0, *last_run_ms_ + spacing_ms_ - now_ms);
}

std::optional<CleanupLevel> CleanupPacer::TakeDue(int64_t now_ms) {
  std::optional<int64_t> delay = DelayMs(now_ms);
  if (!delay || *delay > 0) return std::nullopt;
  taken_requests_ = pending_requests_;
  pending_requests_ = 0;
  last_run_ms_ = now_ms;
  last_level_ = pending_level_;
  return pending_level_;
}

}  // namespace dynoguard::worker
