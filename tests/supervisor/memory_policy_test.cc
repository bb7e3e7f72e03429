#include "supervisor/memory_policy.h"

#include <catch2/catch.hpp>
#include <chrono>

namespace dynoguard::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

// A sample at `percent` of a 1000-byte budget (0.1 percent resolution).
MemorySample At(double percent) {
  return MemorySample{static_cast<uint64_t>(percent * 10 + 0.5), 1000};
}

// Defaults: standard 70, emergency 85, restart 95, grace 15 s, cooldown 30 s,
// hysteresis 5.
MemoryThresholds Defaults() { return MemoryThresholds{}; }

TEST_CASE("MemoryPolicy: below standard does nothing", "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d = policy.Decide(At(50), kT0);
  CHECK(d.action == MemoryAction::kNone);
  CHECK(d.level == MemoryLevel::kNormal);
  CHECK_FALSE(d.level_changed);
  CHECK(d.percent == Approx(50));
  CHECK(d.reason.empty());
}

TEST_CASE("MemoryPolicy: percent is used over limit", "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d =
      policy.Decide(MemorySample{512ull << 20, 1024ull << 20}, kT0);
  CHECK(d.percent == Approx(50.0));
}

TEST_CASE("MemoryPolicy: standard threshold is inclusive", "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision below = policy.Decide(At(69.9), kT0);
  CHECK(below.action == MemoryAction::kNone);
  MemoryDecision at = policy.Decide(At(70), kT0 + seconds(1));
  CHECK(at.action == MemoryAction::kStandardCleanup);
  CHECK(at.level == MemoryLevel::kStandard);
  CHECK(at.level_changed);
}

TEST_CASE("MemoryPolicy: standard cleanup repeats only after the cooldown",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(75), kT0).action == MemoryAction::kStandardCleanup);
  MemoryDecision again = policy.Decide(At(75), kT0 + seconds(29));
  CHECK(again.action == MemoryAction::kNone);
  CHECK(again.level == MemoryLevel::kStandard);
  CHECK_FALSE(again.level_changed);
  CHECK(policy.Decide(At(75), kT0 + seconds(30)).action ==
        MemoryAction::kStandardCleanup);
  CHECK(policy.Decide(At(75), kT0 + seconds(31)).action == MemoryAction::kNone);
}

TEST_CASE("MemoryPolicy: cooldown holds even after usage dipped below standard",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(72), kT0).action == MemoryAction::kStandardCleanup);
  CHECK(policy.Decide(At(40), kT0 + seconds(5)).level == MemoryLevel::kNormal);
  CHECK(policy.Decide(At(72), kT0 + seconds(10)).action == MemoryAction::kNone);
}

TEST_CASE("MemoryPolicy: emergency threshold sends an emergency cleanup",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d = policy.Decide(At(85), kT0);
  CHECK(d.action == MemoryAction::kEmergencyCleanup);
  CHECK(d.level == MemoryLevel::kEmergency);
  CHECK(d.level_changed);
}

TEST_CASE("MemoryPolicy: emergency cleanup repeats only after the cooldown",
          "[memory_policy]") {
  MemoryThresholds t = Defaults();
  t.emergency_grace = seconds(100);  // keep the grace restart out of the way
  MemoryPolicy policy(t);
  CHECK(policy.Decide(At(90), kT0).action == MemoryAction::kEmergencyCleanup);
  CHECK(policy.Decide(At(90), kT0 + seconds(29)).action == MemoryAction::kNone);
  CHECK(policy.Decide(At(90), kT0 + seconds(30)).action ==
        MemoryAction::kEmergencyCleanup);
}

TEST_CASE("MemoryPolicy: cleanup levels have independent cooldowns",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(86), kT0).action == MemoryAction::kEmergencyCleanup);
  // Usage fell into the standard band: a standard cleanup has not been sent
  // yet.
  CHECK(policy.Decide(At(75), kT0 + seconds(1)).action ==
        MemoryAction::kStandardCleanup);
}

TEST_CASE("MemoryPolicy: restart threshold restarts for memory",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d = policy.Decide(At(95), kT0);
  CHECK(d.action == MemoryAction::kRestart);
  CHECK(d.reason == "memory");
  CHECK(d.level == MemoryLevel::kRestart);
  // Every qualifying sample says so; the caller ignores repeats while
  // restarting.
  CHECK(policy.Decide(At(99), kT0 + milliseconds(1)).action ==
        MemoryAction::kRestart);
}

TEST_CASE("MemoryPolicy: usage over the limit restarts", "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d = policy.Decide(MemorySample{2000, 1000}, kT0);
  CHECK(d.percent == Approx(200));
  CHECK(d.action == MemoryAction::kRestart);
  CHECK(d.reason == "memory");
}

TEST_CASE("MemoryPolicy: still in emergency after the grace restarts",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(88), kT0).action == MemoryAction::kEmergencyCleanup);
  CHECK(policy.Decide(At(88), kT0 + seconds(14)).action == MemoryAction::kNone);
  MemoryDecision d = policy.Decide(At(87), kT0 + seconds(15));
  CHECK(d.action == MemoryAction::kRestart);
  CHECK(d.reason == "emergency-grace");
  CHECK(d.level == MemoryLevel::kEmergency);
}

TEST_CASE("MemoryPolicy: grace runs from the episode's first emergency cleanup",
          "[memory_policy]") {
  MemoryThresholds t = Defaults();
  t.cleanup_cooldown = seconds(10);
  t.emergency_grace = seconds(25);
  MemoryPolicy policy(t);
  CHECK(policy.Decide(At(90), kT0).action == MemoryAction::kEmergencyCleanup);
  CHECK(policy.Decide(At(90), kT0 + seconds(10)).action ==
        MemoryAction::kEmergencyCleanup);
  CHECK(policy.Decide(At(90), kT0 + seconds(20)).action ==
        MemoryAction::kEmergencyCleanup);
  MemoryDecision d = policy.Decide(At(90), kT0 + seconds(25));
  CHECK(d.action == MemoryAction::kRestart);
  CHECK(d.reason == "emergency-grace");
}

TEST_CASE(
    "MemoryPolicy: grace is cancelled by falling below emergency minus "
    "hysteresis",
    "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(88), kT0).action == MemoryAction::kEmergencyCleanup);
  MemoryDecision recovered = policy.Decide(At(79.9), kT0 + seconds(5));
  CHECK(recovered.level == MemoryLevel::kStandard);
  CHECK(recovered.level_changed);
  // Back up after the old grace would have expired: a new episode, not a
  // restart; the emergency cooldown from the first cleanup still holds, so
  // nothing is sent.
  MemoryDecision back = policy.Decide(At(88), kT0 + seconds(20));
  CHECK(back.action == MemoryAction::kNone);
  CHECK(back.level == MemoryLevel::kEmergency);
  // The new episode's cleanup comes after the cooldown and starts a fresh
  // grace.
  CHECK(policy.Decide(At(88), kT0 + seconds(30)).action ==
        MemoryAction::kEmergencyCleanup);
  CHECK(policy.Decide(At(88), kT0 + seconds(44)).action == MemoryAction::kNone);
  CHECK(policy.Decide(At(88), kT0 + seconds(45)).action ==
        MemoryAction::kRestart);
}

TEST_CASE(
    "MemoryPolicy: the hysteresis band keeps the episode alive without "
    "restarting",
    "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(88), kT0).action == MemoryAction::kEmergencyCleanup);
  // 82% is below emergency (no grace restart now) but within the hysteresis
  // band.
  MemoryDecision band = policy.Decide(At(82), kT0 + seconds(20));
  CHECK(band.level == MemoryLevel::kEmergency);
  CHECK(band.action ==
        MemoryAction::kStandardCleanup);  // raw 82% is in the standard band
  // Back at emergency: the episode's grace has long expired.
  MemoryDecision back = policy.Decide(At(85), kT0 + seconds(21));
  CHECK(back.action == MemoryAction::kRestart);
  CHECK(back.reason == "emergency-grace");
}

TEST_CASE(
    "MemoryPolicy: standard level is left only below standard minus hysteresis",
    "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(71), kT0).level == MemoryLevel::kStandard);
  MemoryDecision at_edge = policy.Decide(At(65), kT0 + seconds(1));
  CHECK(at_edge.level == MemoryLevel::kStandard);
  CHECK_FALSE(at_edge.level_changed);
  CHECK(at_edge.action == MemoryAction::kNone);
  MemoryDecision below = policy.Decide(At(64.9), kT0 + seconds(2));
  CHECK(below.level == MemoryLevel::kNormal);
  CHECK(below.level_changed);
}

TEST_CASE("MemoryPolicy: rising into a level needs the full threshold",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  MemoryDecision d = policy.Decide(At(68), kT0);
  CHECK(d.level == MemoryLevel::kNormal);
  CHECK(d.action == MemoryAction::kNone);
}

TEST_CASE(
    "MemoryPolicy: emergency level is left only below emergency minus "
    "hysteresis",
    "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(86), kT0).level == MemoryLevel::kEmergency);
  CHECK(policy.Decide(At(80), kT0 + seconds(1)).level ==
        MemoryLevel::kEmergency);
  CHECK(policy.Decide(At(79.9), kT0 + seconds(2)).level ==
        MemoryLevel::kStandard);
}

TEST_CASE("MemoryPolicy: a big drop goes straight to normal",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(90), kT0).level == MemoryLevel::kEmergency);
  MemoryDecision d = policy.Decide(At(30), kT0 + seconds(1));
  CHECK(d.level == MemoryLevel::kNormal);
  CHECK(d.level_changed);
  CHECK(d.action == MemoryAction::kNone);
}

TEST_CASE("MemoryPolicy: restart level has hysteresis too", "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(96), kT0).level == MemoryLevel::kRestart);
  MemoryDecision band = policy.Decide(At(91), kT0 + seconds(1));
  CHECK(band.level == MemoryLevel::kRestart);
  CHECK(band.action ==
        MemoryAction::kEmergencyCleanup);  // the action follows the raw percent
  CHECK(policy.Decide(At(89), kT0 + seconds(2)).level ==
        MemoryLevel::kEmergency);
}

TEST_CASE("MemoryPolicy: unknown limit means no action and normal level",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(90), kT0).level == MemoryLevel::kEmergency);
  MemoryDecision d = policy.Decide(MemorySample{900, 0}, kT0 + seconds(60));
  CHECK(d.action == MemoryAction::kNone);
  CHECK(d.level == MemoryLevel::kNormal);
  CHECK(d.level_changed);
  CHECK(d.percent == 0);
}

TEST_CASE("MemoryPolicy: optimization disabled never acts but tracks the level",
          "[memory_policy]") {
  MemoryThresholds t = Defaults();
  t.optimization_enabled = false;
  MemoryPolicy policy(t);
  MemoryDecision standard = policy.Decide(At(75), kT0);
  CHECK(standard.action == MemoryAction::kNone);
  CHECK(standard.level == MemoryLevel::kStandard);
  CHECK(standard.level_changed);
  CHECK(policy.Decide(At(90), kT0 + seconds(1)).action == MemoryAction::kNone);
  CHECK(policy.Decide(At(90), kT0 + seconds(100)).action ==
        MemoryAction::kNone);
  MemoryDecision over = policy.Decide(At(99), kT0 + seconds(101));
  CHECK(over.action == MemoryAction::kNone);
  CHECK(over.level == MemoryLevel::kRestart);
  CHECK(over.reason.empty());
}

TEST_CASE("MemoryPolicy: Reset forgets level, cooldowns and grace",
          "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  CHECK(policy.Decide(At(75), kT0).action == MemoryAction::kStandardCleanup);
  CHECK(policy.Decide(At(88), kT0 + seconds(1)).action ==
        MemoryAction::kEmergencyCleanup);
  policy.Reset();
  CHECK(policy.level() == MemoryLevel::kNormal);
  // Both cleanups are allowed again at once, and the old emergency cleanup
  // starts no grace.
  CHECK(policy.Decide(At(75), kT0 + seconds(2)).action ==
        MemoryAction::kStandardCleanup);
  MemoryDecision d = policy.Decide(At(88), kT0 + seconds(20));
  CHECK(d.action == MemoryAction::kEmergencyCleanup);
  CHECK(d.level_changed);
}

TEST_CASE(
    "MemoryPolicy: polls fast from the standard threshold until back "
    "under it",
    "[memory_policy]") {
  MemoryPolicy policy(Defaults());
  const milliseconds normal(1000), fast(100);
  auto next = [&](double percent, Clock::time_point now) {
    return policy.NextPoll(policy.Decide(At(percent), now), normal, fast);
  };
  CHECK(next(50, kT0) == normal);
  CHECK(next(69.9, kT0 + seconds(1)) == normal);
  CHECK(next(70, kT0 + seconds(2)) == fast);
  CHECK(next(90, kT0 + seconds(3)) == fast);
  CHECK(next(72, kT0 + seconds(4)) == fast);
  // Back under the threshold: one sample a second again (the level's
  // hysteresis does not keep the fast poll).
  CHECK(next(68, kT0 + seconds(5)) == normal);
  CHECK(policy.NextPoll(policy.Decide({500, 0}, kT0 + seconds(6)), normal,
                        fast) == normal);  // limit unknown
}

TEST_CASE("MemoryPolicy: ToString names", "[memory_policy]") {
  CHECK(ToString(MemoryLevel::kNormal) == "normal");
  CHECK(ToString(MemoryLevel::kStandard) == "standard");
  CHECK(ToString(MemoryLevel::kEmergency) == "emergency");
  CHECK(ToString(MemoryLevel::kRestart) == "restart");
  CHECK(ToString(MemoryAction::kNone) == "none");
  CHECK(ToString(MemoryAction::kStandardCleanup) == "standard-cleanup");
  CHECK(ToString(MemoryAction::kEmergencyCleanup) == "emergency-cleanup");
  CHECK(ToString(MemoryAction::kRestart) == "restart");
}

}  // namespace
}  // namespace dynoguard::supervisor
