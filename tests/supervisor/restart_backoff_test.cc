#include "supervisor/restart_backoff.h"

#include <catch2/catch.hpp>
#include <chrono>

namespace dynoguard::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

// Simulates a crash after `ran` of running, starting at `*now`; advances `*now`
// past the delay.
milliseconds Crash(RestartBackoff& backoff, Clock::time_point* now,
                   milliseconds ran) {
  Clock::time_point started = *now;
  *now += ran;
  milliseconds delay = backoff.OnUnexpectedExit(started, *now);
  *now += delay;
  return delay;
}

TEST_CASE("RestartBackoff: the first failure is respawned at once",
          "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000));
  Clock::time_point now = kT0;
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(0));
  CHECK(backoff.consecutive_failures() == 1);
}

TEST_CASE("RestartBackoff: a crash after a stable run is respawned at once",
          "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000), seconds(60));
  Clock::time_point now = kT0;
  for (int i = 0; i < 4; ++i) Crash(backoff, &now, seconds(1));
  CHECK(Crash(backoff, &now, seconds(61)) == milliseconds(0));
  // The backoff starts with the second quick failure.
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(100));
}

TEST_CASE("RestartBackoff: delays double from min", "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000));
  Clock::time_point now = kT0;
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(0));
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(100));
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(200));
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(400));
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(800));
  CHECK(backoff.consecutive_failures() == 5);
}

TEST_CASE("RestartBackoff: delays are capped at max", "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(1000));
  Clock::time_point now = kT0;
  for (int i = 0; i < 5; ++i)
    Crash(backoff, &now, milliseconds(10));  // 0 100 200 400 800
  CHECK(Crash(backoff, &now, milliseconds(10)) == milliseconds(1000));
  for (int i = 0; i < 100; ++i) Crash(backoff, &now, milliseconds(10));
  CHECK(Crash(backoff, &now, milliseconds(10)) == milliseconds(1000));
  CHECK(backoff.consecutive_failures() == 107);
}

TEST_CASE("RestartBackoff: a stable run resets the sequence",
          "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000), seconds(60));
  Clock::time_point now = kT0;
  Crash(backoff, &now, seconds(1));
  Crash(backoff, &now, seconds(1));
  CHECK(Crash(backoff, &now, seconds(59)) == milliseconds(200));
  CHECK(Crash(backoff, &now, seconds(60)) == milliseconds(0));
  CHECK(backoff.consecutive_failures() == 1);
  CHECK(Crash(backoff, &now, seconds(1)) == milliseconds(100));
}

TEST_CASE("RestartBackoff: crash loop after N consecutive failures",
          "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000), seconds(60),
                         3);
  Clock::time_point now = kT0;
  CHECK_FALSE(backoff.crash_loop());
  Crash(backoff, &now, seconds(1));
  Crash(backoff, &now, seconds(1));
  CHECK_FALSE(backoff.crash_loop());
  Crash(backoff, &now, seconds(1));
  CHECK(backoff.crash_loop());
  Crash(backoff, &now, seconds(120));  // a stable run ends the loop
  CHECK_FALSE(backoff.crash_loop());
}

TEST_CASE("RestartBackoff: Reset starts over", "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(50), milliseconds(30000));
  Clock::time_point now = kT0;
  for (int i = 0; i < 6; ++i) Crash(backoff, &now, milliseconds(5));
  CHECK(backoff.crash_loop());
  backoff.Reset();
  CHECK(backoff.consecutive_failures() == 0);
  CHECK_FALSE(backoff.crash_loop());
  CHECK(Crash(backoff, &now, milliseconds(5)) == milliseconds(0));
  CHECK(Crash(backoff, &now, milliseconds(5)) == milliseconds(50));
}

TEST_CASE("RestartBackoff: short automatic planned restarts count",
          "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(100), milliseconds(30000), seconds(60),
                         3);
  Clock::time_point now = kT0;
  CHECK(backoff.OnPlannedExit(now, now + seconds(1), true) == milliseconds(0));
  CHECK(backoff.OnPlannedExit(now, now + seconds(1), true) ==
        milliseconds(100));
  CHECK(backoff.OnPlannedExit(now, now + seconds(1), true) ==
        milliseconds(200));
  CHECK(backoff.crash_loop());
  // An operator's restart is not a failure, and a stable run clears the count.
  CHECK(backoff.OnPlannedExit(now, now + seconds(1), false) == milliseconds(0));
  CHECK(backoff.consecutive_failures() == 3);
  CHECK(backoff.OnPlannedExit(now, now + seconds(60), true) == milliseconds(0));
  CHECK(backoff.consecutive_failures() == 0);
}

TEST_CASE("RestartBackoff: min equal to max is constant", "[restart_backoff]") {
  RestartBackoff backoff(milliseconds(250), milliseconds(250));
  Clock::time_point now = kT0;
  CHECK(Crash(backoff, &now, milliseconds(1)) == milliseconds(0));
  CHECK(Crash(backoff, &now, milliseconds(1)) == milliseconds(250));
  CHECK(Crash(backoff, &now, milliseconds(1)) == milliseconds(250));
}

}  // namespace
}  // namespace dynoguard::supervisor
