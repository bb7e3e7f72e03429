#include "worker/outbound/send_policy.h"

#include <algorithm>
#include <utility>

namespace dynoguard::worker {

SendPolicy::SendPolicy(Options options) : options_(std::move(options)) {
  options_.concurrency = std::clamp(options_.concurrency, 1, 64);
  options_.send_delay_ms = std::max<int64_t>(0, options_.send_delay_ms);
  options_.slow_base_ms = std::max<int64_t>(0, options_.slow_base_ms);
  options_.slow_max_ms = std::max<int64_t>(0, options_.slow_max_ms);
  options_.max_slowed = std::max<size_t>(1, options_.max_slowed);
  options_.pause_probe_ms = std::max<int64_t>(0, options_.pause_probe_ms);
}

SendPolicy::Decision SendPolicy::MayStart(int64_t now_ms) const {
  if (!connected_) return {Verdict::kDisconnected, 0};
  if (paused_) {
    // Connected, but never seen otherwise since the pause: probe later.
    const int64_t wait = paused_at_ms_ + options_.pause_probe_ms - now_ms;
    return {Verdict::kWait, std::max<int64_t>(1, wait)};
  }
  if (in_flight() >= options_.concurrency) return {Verdict::kFull, 0};
  if (started_any_) {
    const int64_t wait = last_start_ms_ + options_.send_delay_ms - now_ms;
    if (wait > 0) return {Verdict::kWait, wait};
  }
  return {Verdict::kStart, 0};
}

void SendPolicy::OnStarted(std::string_view recipient, int64_t now_ms) {
  in_flight_.emplace(recipient);
  started_any_ = true;
  last_start_ms_ = now_ms;
}

void SendPolicy::OnFinished(std::string_view recipient) {
  auto it = in_flight_.find(std::string(recipient));
  if (it != in_flight_.end()) in_flight_.erase(it);
}

bool SendPolicy::SendingTo(std::string_view recipient) const {
  return in_flight_.count(std::string(recipient)) > 0;
}

int64_t SendPolicy::OnSlowRecipient(std::string_view recipient,
                                    int64_t now_ms) {
  auto it = slowed_.find(std::string(recipient));
  if (it == slowed_.end()) {
    if (slowed_.size() >= options_.max_slowed) {
      auto oldest = std::min_element(
          slowed_.begin(), slowed_.end(), [](const auto& a, const auto& b) {
            return a.second.until_ms < b.second.until_ms;
          });
      slowed_.erase(oldest);
    }
    it = slowed_.emplace(std::string(recipient), Slowed{}).first;
  }
  Slowed& s = it->second;
  ++s.hits;
  // base * 4^hits, stopping at the cap before it can overflow.
  int64_t delay = options_.slow_base_ms;
  for (int i = 0; i < s.hits && delay < options_.slow_max_ms; ++i) delay *= 4;
  delay = std::min(delay, options_.slow_max_ms);
  s.until_ms = now_ms + delay;
  return delay;
}

void SendPolicy::OnSucceeded(std::string_view recipient) {
  slowed_.erase(std::string(recipient));
}

size_t SendPolicy::SlowedRecipients(int64_t now_ms) const {
  return static_cast<size_t>(std::count_if(
      slowed_.begin(), slowed_.end(),
      [now_ms](const auto& s) { return s.second.until_ms > now_ms; }));
}

int SendPolicy::SlowHits(std::string_view recipient) const {
  auto it = slowed_.find(std::string(recipient));
  return it == slowed_.end() ? 0 : it->second.hits;
}

void SendPolicy::Pause(std::string reason, int64_t now_ms) {
  if (paused_) return;
  paused_ = true;
  seen_down_ = !connected_;
  paused_at_ms_ = now_ms;
  pause_reason_ = std::move(reason);
}

bool SendPolicy::ObserveConnection(bool connected, int64_t now_ms) {
  connected_ = connected;
  if (!paused_) return false;
  if (!connected) {
    seen_down_ = true;
    return false;
  }
  if (seen_down_ || now_ms - paused_at_ms_ >= options_.pause_probe_ms) {
    paused_ = false;
    seen_down_ = false;
    pause_reason_.clear();
    return true;
  }
  return false;
}

}  // namespace dynoguard::worker
