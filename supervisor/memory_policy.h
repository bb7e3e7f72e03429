// MemoryPolicy: the supervisor's memory decisions as a pure state machine. Each
// memory sample (bytes used against the budget) and the current time go in; the
// action to take comes out. No clock is read and no signal is sent here: the
// caller does both.
#ifndef DYNOGUARD_SUPERVISOR_MEMORY_POLICY_H_
#define DYNOGUARD_SUPERVISOR_MEMORY_POLICY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::supervisor {

// The thresholds, in percent of the memory budget. REQUIRES: standard <=
// emergency <= restart, hysteresis_percent >= 0, durations >= 0.
struct MemoryThresholds {
  // Standard cleanup (SIGUSR1) at or above. Default: 70.
  double standard_percent = 70;
  // Emergency cleanup (SIGUSR2) at or above. Default: 85.
  double emergency_percent = 85;
  // Graceful restart at or above. Default: 95.
  double restart_percent = 95;
  // Restart when usage is still at or above emergency_percent this long after
  // the emergency cleanup that opened the current emergency episode. Default:
  // 15 s.
  std::chrono::milliseconds emergency_grace{15000};
  // No repeat of the same cleanup level sooner than this after the last one.
  // Default: 30 s.
  std::chrono::milliseconds cleanup_cooldown{30000};
  // A level is left only when usage falls this many points below its threshold.
  // Default: 5.
  double hysteresis_percent = 5;
  // false: every decision's action is kNone (the supervisor then restarts on
  // crash only); levels are still computed for status and logs. Default: true.
  bool optimization_enabled = true;
};

// One measurement. limit_bytes == 0 means "budget unknown".
struct MemorySample {
  uint64_t used_bytes = 0;
  uint64_t limit_bytes = 0;
};

// Where usage stands, with hysteresis. Ordered: a higher level implies the
// lower ones.
enum class MemoryLevel { kNormal, kStandard, kEmergency, kRestart };

// What the supervisor should do now.
enum class MemoryAction {
  kNone,
  kStandardCleanup,
  kEmergencyCleanup,
  kRestart
};

// "normal", "standard", "emergency", "restart".
std::string_view ToString(MemoryLevel level);
// "none", "standard-cleanup", "emergency-cleanup", "restart".
std::string_view ToString(MemoryAction action);

struct MemoryDecision {
  MemoryAction action = MemoryAction::kNone;
  // The level after this sample (with hysteresis).
  MemoryLevel level = MemoryLevel::kNormal;
  // The level differs from the previous sample's level.
  bool level_changed = false;
  // used_bytes / limit_bytes * 100; 0 when the limit is unknown.
  double percent = 0;
  // For kRestart: "memory" (at or above restart_percent) or "emergency-grace".
  // Else empty.
  std::string reason;
};

// The rules, for a sample at `percent` taken at `now`:
//
//  1. limit_bytes == 0: action kNone, level kNormal (the emergency episode
//  ends).
//  2. percent >= restart_percent: kRestart, reason "memory".
//  3. percent >= emergency_percent:
//     a. an emergency cleanup was sent in the current emergency episode and now
//     is at least
//        emergency_grace after it: kRestart, reason "emergency-grace";
//     b. else, no emergency cleanup yet or at least cleanup_cooldown since the
//     last one:
//        kEmergencyCleanup (the first one of an episode starts its grace
//        timer);
//     c. else kNone.
//  4. percent >= standard_percent: kStandardCleanup when no standard cleanup
//  yet or at least
//     cleanup_cooldown since the last one; else kNone. (The cooldowns of the
//     two cleanup levels are independent: an emergency cleanup does not delay a
//     standard one.)
//  5. else kNone.
//
// Actions follow the sample's raw percent; the reported level follows it with
// hysteresis: a level L reached earlier is kept while percent >= threshold(L) -
// hysteresis_percent, so leaving kEmergency at 84% stays kEmergency, at 79.9%
// becomes kStandard (79.9 >= 70 - 5). An emergency episode begins when the
// level becomes kEmergency or higher and ends when it drops below kEmergency
// (usage below emergency_percent - hysteresis_percent); ending it cancels the
// grace timer. Usage between emergency - hysteresis and emergency keeps the
// episode (and its timer) alive without restarting; coming back to
// emergency_percent after the grace restarts at once.
//
// kRestart is returned for every sample that qualifies: the caller ignores it
// while its restart is under way and calls Reset() when the new worker starts.
// With optimization_enabled == false every action is kNone.
//
// Not thread-safe: one owner calls Decide() and Reset().
class MemoryPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  explicit MemoryPolicy(MemoryThresholds thresholds = {});

  // Applies the rules above to `sample` taken at `now` and records what was
  // decided. REQUIRES: `now` does not go backwards between calls (until
  // Reset()).
  MemoryDecision Decide(const MemorySample& sample, Clock::time_point now);

  // Forgets the level, cooldowns and emergency episode (called when a new
  // worker starts).
  void Reset();

  const MemoryThresholds& thresholds() const { return thresholds_; }
  // The level after the last Decide() (kNormal before any, and after Reset()).
  MemoryLevel level() const { return level_; }

  // How soon to sample again after `decision`: `fast` while usage is at or
  // above standard_percent (a leak of 50 MB/s crosses the last 25 points of a
  // 150 MB budget in under a second), else `normal`; `normal` when the limit
  // is unknown (percent 0).
  std::chrono::milliseconds NextPoll(const MemoryDecision& decision,
                                     std::chrono::milliseconds normal,
                                     std::chrono::milliseconds fast) const {
    return decision.percent >= thresholds_.standard_percent ? fast : normal;
  }

 private:
  MemoryLevel RawLevel(double percent) const;
  MemoryLevel LevelWithHysteresis(double percent) const;
  double Threshold(MemoryLevel level) const;
  bool CooldownElapsed(const std::optional<Clock::time_point>& last,
                       Clock::time_point now) const;

  MemoryThresholds thresholds_;

  MemoryLevel level_ = MemoryLevel::kNormal;
  std::optional<Clock::time_point> last_standard_cleanup_;
  std::optional<Clock::time_point> last_emergency_cleanup_;
  // The first emergency cleanup of the current emergency episode; its grace
  // runs from here.
  std::optional<Clock::time_point> episode_cleanup_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_MEMORY_POLICY_H_
