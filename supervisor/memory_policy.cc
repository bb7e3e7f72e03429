#include "supervisor/memory_policy.h"

#include <utility>

namespace dynoguard::supervisor {

std::string_view ToString(MemoryLevel level) {
  switch (level) {
    case MemoryLevel::kNormal:
      return "normal";
    case MemoryLevel::kStandard:
      return "standard";
    case MemoryLevel::kEmergency:
      return "emergency";
    case MemoryLevel::kRestart:
      return "restart";
  }
  return "unknown";
}

std::string_view ToString(MemoryAction action) {
  switch (action) {
    case MemoryAction::kNone:
      return "none";
    case MemoryAction::kStandardCleanup:
      return "standard-cleanup";
    case MemoryAction::kEmergencyCleanup:
      return "emergency-cleanup";
    case MemoryAction::kRestart:
      return "restart";
  }
  return "unknown";
}

MemoryPolicy::MemoryPolicy(MemoryThresholds thresholds)
    : thresholds_(std::move(thresholds)) {}

void MemoryPolicy::Reset() {
  level_ = MemoryLevel::kNormal;
  last_standard_cleanup_.reset();
  last_emergency_cleanup_.reset();
  episode_cleanup_.reset();
}

double MemoryPolicy::Threshold(MemoryLevel level) const {
  switch (level) {
    case MemoryLevel::kNormal:
      return 0;
    case MemoryLevel::kStandard:
      return thresholds_.standard_percent;
    case MemoryLevel::kEmergency:
      return thresholds_.emergency_percent;
    case MemoryLevel::kRestart:
      return thresholds_.restart_percent;
  }
  return 0;
}

MemoryLevel MemoryPolicy::RawLevel(double percent) const {
  if (percent >= thresholds_.restart_percent) return MemoryLevel::kRestart;
  if (percent >= thresholds_.emergency_percent) return MemoryLevel::kEmergency;
  if (percent >= thresholds_.standard_percent) return MemoryLevel::kStandard;
  return MemoryLevel::kNormal;
}

MemoryLevel MemoryPolicy::LevelWithHysteresis(double percent) const {
  MemoryLevel raw = RawLevel(percent);
  if (raw >= level_) return raw;
  // Falling: keep the highest level at or below the previous one whose band
  // (threshold minus hysteresis) still holds the sample, so a drop from
  // emergency can land in standard.
  for (int l = static_cast<int>(level_); l > static_cast<int>(raw); --l) {
    auto level = static_cast<MemoryLevel>(l);
    if (percent >= Threshold(level) - thresholds_.hysteresis_percent)
      return level;
  }
  return raw;
}

bool MemoryPolicy::CooldownElapsed(const std::optional<Clock::time_point>& last,
                                   Clock::time_point now) const {
  return !last.has_value() || now - *last >= thresholds_.cleanup_cooldown;
}

MemoryDecision MemoryPolicy::Decide(const MemorySample& sample,
                                    Clock::time_point now) {
  MemoryDecision decision;
  const MemoryLevel previous = level_;

  if (sample.limit_bytes == 0) {
    // An unknown budget gives no basis for any action; report normal.
    level_ = MemoryLevel::kNormal;
  } else {
    decision.percent = static_cast<double>(sample.used_bytes) /
                       static_cast<double>(sample.limit_bytes) * 100.0;
    level_ = LevelWithHysteresis(decision.percent);
  }
  decision.level = level_;
  decision.level_changed = level_ != previous;

  // Falling out of the emergency band ends the episode and cancels its grace
  // timer.
  if (level_ < MemoryLevel::kEmergency) episode_cleanup_.reset();

  if (sample.limit_bytes == 0 || !thresholds_.optimization_enabled)
    return decision;

  const double percent = decision.percent;
  if (percent >= thresholds_.restart_percent) {
    decision.action = MemoryAction::kRestart;
    decision.reason = "memory";
  } else if (percent >= thresholds_.emergency_percent) {
    if (episode_cleanup_.has_value() &&
        now - *episode_cleanup_ >= thresholds_.emergency_grace) {
      // The emergency cleanup did not bring usage down: a fresh process is the
      // only cure.
      decision.action = MemoryAction::kRestart;
      decision.reason = "emergency-grace";
    } else if (CooldownElapsed(last_emergency_cleanup_, now)) {
      decision.action = MemoryAction::kEmergencyCleanup;
      last_emergency_cleanup_ = now;
      if (!episode_cleanup_.has_value()) episode_cleanup_ = now;
    }
  } else if (percent >= thresholds_.standard_percent) {
    if (CooldownElapsed(last_standard_cleanup_, now)) {
      decision.action = MemoryAction::kStandardCleanup;
      last_standard_cleanup_ = now;
    }
  }
  return decision;
}

}  // namespace dynoguard::supervisor
