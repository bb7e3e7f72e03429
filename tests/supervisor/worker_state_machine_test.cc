#include "supervisor/worker_state_machine.h"

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace dynoguard::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using K = ActionKind;
using S = WorkerState;
using E = EventKind;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

MachineOptions Options() {
  MachineOptions o;
  o.start_timeout = seconds(60);
  o.stop_timeout = seconds(20);
  o.watchdog = seconds(10);
  o.abort_grace = seconds(2);
  o.respawn_throttle = seconds(1);
  o.backoff_min = milliseconds(100);
  o.backoff_max = seconds(30);
  o.stable_after = seconds(60);
  o.crash_loop_after = 5;
  o.exit_2_before_ready_is_fatal = true;
  return o;
}

Event At(E kind, Clock::time_point now) {
  Event e;
  e.kind = kind;
  e.now = now;
  return e;
}
Event Spawned(Clock::time_point now, pid_t pid = 100) {
  Event e = At(E::kSpawned, now);
  e.pid = pid;
  return e;
}
Event Exited(Clock::time_point now, int code) {
  Event e = At(E::kChildExit, now);
  e.exit.code = code;
  return e;
}
Event Killed(Clock::time_point now, int sig) {
  Event e = At(E::kChildExit, now);
  e.exit.signaled = true;
  e.exit.signal = sig;
  return e;
}
Event Memory(Clock::time_point now, MemoryAction action,
             std::string reason = "") {
  Event e = At(E::kMemorySample, now);
  e.memory = action;
  e.memory_reason = std::move(reason);
  return e;
}
Event StopRequest(Clock::time_point now) {
  Event e = At(E::kStopRequest, now);
  e.source_key = "signal";
  e.source = "SIGTERM";
  return e;
}
Event RestartRequest(Clock::time_point now, std::string reason = "control") {
  Event e = At(E::kRestartRequest, now);
  e.reason = std::move(reason);
  return e;
}
Event CleanupRequest(Clock::time_point now) {
  Event e = At(E::kCleanupRequest, now);
  e.cleanup = MemoryAction::kStandardCleanup;
  return e;
}

std::vector<K> Kinds(const Step& step) {
  std::vector<K> kinds;
  for (const Action& a : step.actions) kinds.push_back(a.kind);
  return kinds;
}
bool Has(const Step& step, K kind) {
  auto kinds = Kinds(step);
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}
const Action* Find(const Step& step, K kind) {
  for (const Action& a : step.actions)
    if (a.kind == kind) return &a;
  return nullptr;
}
bool Logs(const Step& step, Note note) {
  for (const Action& a : step.actions)
    if (a.kind == K::kLog && a.note == note) return true;
  return false;
}

// A machine driven into `state` at about kT0 + 2 s, the way the supervisor
// gets there.
WorkerStateMachine In(S state) {
  WorkerStateMachine m(Options());
  m.Handle(Spawned(kT0));
  if (state == S::kStarting) return m;
  if (state == S::kBackoff) {
    m.Handle(Exited(kT0 + milliseconds(10), 1));  // first: at once
    m.Handle(Spawned(kT0 + milliseconds(20)));
    m.Handle(Exited(kT0 + milliseconds(30), 1));  // second: backoff
    REQUIRE(m.state() == S::kBackoff);
    return m;
  }
  m.Handle(At(E::kReady, kT0 + seconds(1)));
  if (state == S::kRunning) return m;
  if (state == S::kStoppingForRestart) {
    m.Handle(RestartRequest(kT0 + seconds(2)));
  } else {
    m.Handle(StopRequest(kT0 + seconds(2)));
  }
  if (state == S::kStopped) m.Handle(Exited(kT0 + seconds(3), 0));
  REQUIRE(m.state() == state);
  return m;
}

// ---------------------------------------------------------------- the table

struct Row {
  S from;
  Event event;
  S to;
  std::vector<K> actions;  // exactly, in order (log lines left out)
};

std::vector<K> WithoutLogs(const Step& step) {
  std::vector<K> kinds;
  for (const Action& a : step.actions)
    if (a.kind != K::kLog) kinds.push_back(a.kind);
  return kinds;
}

TEST_CASE("WorkerStateMachine: the cells of the table", "[state_machine]") {
  const auto t = kT0 + seconds(5);
  const std::vector<Row> rows = {
      // Starting
      {S::kStarting,
       At(E::kReady, t),
       S::kRunning,
       {K::kDisarmStartTimer, K::kResetMemoryPolicy, K::kArmWatchdog,
        K::kTellSystemdReady}},
      {S::kStarting, At(E::kWatchdogPing, t), S::kStarting, {K::kArmWatchdog}},
      {S::kStarting,
       Memory(t, MemoryAction::kStandardCleanup),
       S::kStarting,
       {}},
      {S::kStarting,
       Memory(t, MemoryAction::kEmergencyCleanup),
       S::kStarting,
       {}},
      {S::kStarting,
       Memory(t, MemoryAction::kRestart, "memory"),
       S::kStoppingForRestart,
       {K::kStop}},
      {S::kStarting,
       At(E::kStartTimeout, t),
       S::kStoppingForRestart,
       {K::kStop}},
      {S::kStarting,
       At(E::kWatchdogTimeout, t),
       S::kStoppingForRestart,
       {K::kAbort}},
      {S::kStarting,
       StopRequest(t),
       S::kStoppingForExit,
       {K::kTellSystemdStopping, K::kStop}},
      {S::kStarting, CleanupRequest(t), S::kStarting, {K::kRefuse}},
      {S::kStarting, Exited(t, 2), S::kStopped, {K::kReap, K::kFinish}},
      {S::kStarting, Exited(t, 1), S::kStarting, {K::kReap, K::kSpawn}},
      {S::kStarting, At(E::kStopTimeout, t), S::kStarting, {}},
      {S::kStarting, At(E::kSpawnFailed, t), S::kBackoff, {K::kArmBackoff}},
      // Running
      {S::kRunning, At(E::kReady, t), S::kRunning, {}},
      {S::kRunning, At(E::kWatchdogPing, t), S::kRunning, {K::kArmWatchdog}},
      {S::kRunning,
       Memory(t, MemoryAction::kStandardCleanup),
       S::kRunning,
       {K::kCleanup}},
      {S::kRunning, Memory(t, MemoryAction::kNone), S::kRunning, {}},
      {S::kRunning,
       Memory(t, MemoryAction::kRestart, "emergency-grace"),
       S::kStoppingForRestart,
       {K::kStop}},
      {S::kRunning, At(E::kStartTimeout, t), S::kRunning, {}},
      {S::kRunning,
       At(E::kWatchdogTimeout, t),
       S::kStoppingForRestart,
       {K::kAbort}},
      {S::kRunning,
       RestartRequest(t, "sighup"),
       S::kStoppingForRestart,
       {K::kStop}},
      {S::kRunning,
       StopRequest(t),
       S::kStoppingForExit,
       {K::kTellSystemdStopping, K::kStop}},
      {S::kRunning, CleanupRequest(t), S::kRunning, {K::kCleanup}},
      {S::kRunning, Exited(t, 3), S::kStarting, {K::kReap, K::kSpawn}},
      // Stopping for a restart
      {S::kStoppingForRestart,
       At(E::kStopTimeout, t),
       S::kStoppingForRestart,
       {K::kKill}},
      {S::kStoppingForRestart,
       Memory(t, MemoryAction::kRestart, "memory"),
       S::kStoppingForRestart,
       {}},
      {S::kStoppingForRestart,
       At(E::kWatchdogTimeout, t),
       S::kStoppingForRestart,
       {}},
      {S::kStoppingForRestart,
       StopRequest(t),
       S::kStoppingForExit,
       {K::kTellSystemdStopping}},
      {S::kStoppingForRestart,
       CleanupRequest(t),
       S::kStoppingForRestart,
       {K::kRefuse}},
      {S::kStoppingForRestart,
       Exited(t, 0),
       S::kStarting,
       {K::kReap, K::kSpawn}},
      // Stopping for exit
      {S::kStoppingForExit, Exited(t, 0), S::kStopped, {K::kReap, K::kFinish}},
      {S::kStoppingForExit, Exited(t, 1), S::kStopped, {K::kReap, K::kFinish}},
      {S::kStoppingForExit,
       At(E::kStopTimeout, t),
       S::kStoppingForExit,
       {K::kKill}},
      {S::kStoppingForExit, StopRequest(t), S::kStoppingForExit, {}},
      {S::kStoppingForExit,
       RestartRequest(t),
       S::kStoppingForExit,
       {K::kRefuse}},
      {S::kStoppingForExit,
       Memory(t, MemoryAction::kRestart, "memory"),
       S::kStoppingForExit,
       {}},
      // Backoff
      {S::kBackoff, At(E::kBackoffElapsed, t), S::kStarting, {K::kSpawn}},
      {S::kBackoff,
       StopRequest(t),
       S::kStopped,
       {K::kTellSystemdStopping, K::kFinish}},
      {S::kBackoff, RestartRequest(t), S::kStarting, {K::kSpawn}},
      {S::kBackoff, CleanupRequest(t), S::kBackoff, {K::kRefuse}},
      {S::kBackoff, At(E::kReady, t), S::kBackoff, {}},
      // Stopped
      {S::kStopped, RestartRequest(t), S::kStopped, {K::kRefuse}},
      {S::kStopped, At(E::kBackoffElapsed, t), S::kStopped, {}},
  };
  for (const Row& row : rows) {
    WorkerStateMachine m = In(row.from);
    Step step = m.Handle(row.event);
    INFO(StateName(row.from)
         << " + " << ToString(row.event.kind) << " → " << StateName(step.next));
    CHECK(step.next == row.to);
    CHECK(WithoutLogs(step) == row.actions);
  }
}

// ---------------------------------------------------------------- defects

TEST_CASE(
    "WorkerStateMachine: a worker starting above the restart threshold "
    "is throttled, counted, and hinted at once",
    "[state_machine]") {
  WorkerStateMachine m(Options());
  auto now = kT0;
  int hints = 0;
  std::vector<milliseconds> delays;
  bool crash_loop_reported = false;
  for (int round = 0; round < 8; ++round) {
    m.Handle(Spawned(now));
    Step restart = m.Handle(
        Memory(now + milliseconds(100), MemoryAction::kRestart, "memory"));
    REQUIRE(restart.next == S::kStoppingForRestart);
    if (Logs(restart, Note::kStartsAbove)) ++hints;
    Step exited = m.Handle(Exited(now + milliseconds(200), 0));
    crash_loop_reported = crash_loop_reported || Logs(exited, Note::kCrashLoop);
    // Never respawned sooner than 1 s after the previous spawn.
    REQUIRE(exited.next == S::kBackoff);
    const Action* arm = Find(exited, K::kArmBackoff);
    REQUIRE(arm != nullptr);
    CHECK(arm->delay >= milliseconds(800));
    delays.push_back(arm->delay);
    now += milliseconds(200) + arm->delay;
    Step respawn = m.Handle(At(E::kBackoffElapsed, now));
    REQUIRE(Kinds(respawn) == std::vector<K>{K::kSpawn});
  }
  CHECK(hints == 1);
  CHECK(crash_loop_reported);
  CHECK(m.context().backoff.consecutive_failures() == 8);
  CHECK(m.context().restarts == 8);
  CHECK(m.crash_loop(now));
  // The delays grow past the throttle once the crash backoff is longer.
  CHECK(delays.back() > delays.front());
}

TEST_CASE(
    "WorkerStateMachine: the budget hint comes for a restart while "
    "starting or at the first sample after READY, not later",
    "[state_machine]") {
  const auto hinted = [](int samples_after_ready) {
    WorkerStateMachine m = In(S::kStarting);
    m.Handle(Memory(kT0 + milliseconds(100), MemoryAction::kNone));
    m.Handle(Memory(kT0 + milliseconds(200), MemoryAction::kNone));
    m.Handle(At(E::kReady, kT0 + milliseconds(300)));
    for (int i = 1; i < samples_after_ready; ++i)
      m.Handle(Memory(kT0 + seconds(i), MemoryAction::kNone));
    return Logs(
        m.Handle(Memory(kT0 + seconds(30), MemoryAction::kRestart, "memory")),
        Note::kStartsAbove);
  };
  CHECK(hinted(1));
  CHECK_FALSE(hinted(2));
  CHECK_FALSE(hinted(20));  // a leak that took its time: no hint
  WorkerStateMachine starting = In(S::kStarting);
  for (int i = 0; i < 5; ++i)
    starting.Handle(Memory(kT0 + milliseconds(i), MemoryAction::kNone));
  CHECK(Logs(starting.Handle(Memory(kT0 + milliseconds(10),
                                    MemoryAction::kRestart, "memory")),
             Note::kStartsAbove));
}

TEST_CASE(
    "WorkerStateMachine: planned restarts of an operator are throttled "
    "but not counted",
    "[state_machine]") {
  WorkerStateMachine m = In(S::kRunning);  // spawned at kT0
  m.Handle(RestartRequest(kT0 + milliseconds(1100)));
  Step exited = m.Handle(Exited(kT0 + milliseconds(1200), 0));
  CHECK(exited.next == S::kStarting);  // a second after the spawn: at once
  m.Handle(Spawned(kT0 + milliseconds(1200)));
  m.Handle(RestartRequest(kT0 + milliseconds(1300)));
  Step again = m.Handle(Exited(kT0 + milliseconds(1400), 0));
  REQUIRE(again.next == S::kBackoff);
  CHECK(Find(again, K::kArmBackoff)->delay == milliseconds(800));
  CHECK(m.context().backoff.consecutive_failures() == 0);
}

TEST_CASE("WorkerStateMachine: no cleanup signal before READY",
          "[state_machine]") {
  WorkerStateMachine m = In(S::kStarting);
  Step early =
      m.Handle(Memory(kT0 + milliseconds(5), MemoryAction::kStandardCleanup));
  CHECK_FALSE(Has(early, K::kCleanup));
  CHECK(Logs(early, Note::kCleanupDeferred));
  CHECK(Has(m.Handle(CleanupRequest(kT0 + milliseconds(6))), K::kRefuse));
  // READY resets the policy, so the cleanup comes at the next sample.
  Step ready = m.Handle(At(E::kReady, kT0 + seconds(1)));
  CHECK(Has(ready, K::kResetMemoryPolicy));
  CHECK(Has(m.Handle(Memory(kT0 + seconds(2), MemoryAction::kStandardCleanup)),
            K::kCleanup));
}

TEST_CASE(
    "WorkerStateMachine: a worker never ready is restarted after the "
    "start timeout",
    "[state_machine]") {
  WorkerStateMachine m(Options());
  Step spawned = m.Handle(Spawned(kT0));
  const Action* arm = Find(spawned, K::kArmStartTimer);
  REQUIRE(arm != nullptr);
  CHECK(arm->delay == seconds(60));
  Step timeout = m.Handle(At(E::kStartTimeout, kT0 + seconds(60)));
  CHECK(timeout.next == S::kStoppingForRestart);
  CHECK(Logs(timeout, Note::kStartTimeout));
  CHECK(m.context().last_restart_reason == "start-timeout");
  // A start timeout that fires late, after READY, changes nothing.
  WorkerStateMachine ready = In(S::kRunning);
  CHECK(Kinds(ready.Handle(At(E::kStartTimeout, kT0 + seconds(60)))).empty());

  MachineOptions off = Options();
  off.start_timeout = milliseconds(0);
  WorkerStateMachine never(off);
  CHECK_FALSE(Has(never.Handle(Spawned(kT0)), K::kArmStartTimer));
}

TEST_CASE("WorkerStateMachine: crashLoop clears after a stable run",
          "[state_machine]") {
  WorkerStateMachine m(Options());
  auto now = kT0;
  for (int i = 0; i < 6; ++i) {
    m.Handle(Spawned(now));
    m.Handle(Exited(now + milliseconds(50), 1));
    now += seconds(40);  // past any delay
    if (m.state() == S::kBackoff) m.Handle(At(E::kBackoffElapsed, now));
  }
  REQUIRE(m.crash_loop(now));
  m.Handle(Spawned(now));
  m.Handle(At(E::kReady, now + seconds(1)));
  CHECK(m.crash_loop(now + seconds(30)));
  CHECK_FALSE(m.crash_loop(now + seconds(60)));
  // The next sample after the stable run forgets the failures: the next
  // crash is respawned at once.
  m.Handle(Memory(now + seconds(61), MemoryAction::kNone));
  CHECK(m.context().backoff.consecutive_failures() == 0);
  Step crash = m.Handle(Exited(now + seconds(62), 1));
  CHECK(crash.next == S::kStarting);
  CHECK(Has(crash, K::kSpawn));
}

TEST_CASE(
    "WorkerStateMachine: the first crash of a stable worker is "
    "respawned at once, the second quick one backs off",
    "[state_machine]") {
  WorkerStateMachine m = In(S::kRunning);
  Step first = m.Handle(Killed(kT0 + seconds(120), SIGKILL));
  CHECK(first.next == S::kStarting);
  CHECK(WithoutLogs(first) == std::vector<K>{K::kReap, K::kSpawn});
  m.Handle(Spawned(kT0 + seconds(120)));
  Step second = m.Handle(Exited(kT0 + seconds(121), 1));
  REQUIRE(second.next == S::kBackoff);
  CHECK(Find(second, K::kArmBackoff)->delay == milliseconds(100));
}

TEST_CASE(
    "WorkerStateMachine: a watchdog timeout aborts, then kills after "
    "the short grace",
    "[state_machine]") {
  WorkerStateMachine m = In(S::kRunning);
  Step timeout = m.Handle(At(E::kWatchdogTimeout, kT0 + seconds(11)));
  CHECK(timeout.next == S::kStoppingForRestart);
  CHECK(Logs(timeout, Note::kWatchdogTimeout));
  const Action* abort = Find(timeout, K::kAbort);
  REQUIRE(abort != nullptr);
  CHECK(abort->delay == seconds(2));
  CHECK_FALSE(Has(timeout, K::kStop));
  CHECK(Has(m.Handle(At(E::kStopTimeout, kT0 + seconds(13))), K::kKill));

  MachineOptions quick = Options();
  quick.stop_timeout = seconds(1);
  WorkerStateMachine capped(quick);
  capped.Handle(Spawned(kT0));
  capped.Handle(At(E::kReady, kT0));
  CHECK(
      Find(capped.Handle(At(E::kWatchdogTimeout, kT0 + seconds(11))), K::kAbort)
          ->delay == seconds(1));
}

TEST_CASE(
    "WorkerStateMachine: a worker exit while stopping for exit is the "
    "end, never a respawn",
    "[state_machine]") {
  for (Event exit : {Exited(kT0 + seconds(3), 0), Killed(kT0 + seconds(3), 15),
                     Exited(kT0 + seconds(3), 1)}) {
    WorkerStateMachine m = In(S::kStoppingForExit);
    Step step = m.Handle(exit);
    CHECK(step.next == S::kStopped);
    CHECK_FALSE(Has(step, K::kSpawn));
    CHECK_FALSE(Logs(step, Note::kBackoff));
    REQUIRE(Find(step, K::kFinish) != nullptr);
    CHECK(Find(step, K::kFinish)->exit_code == 0);
    CHECK(m.context().restarts == 0);
  }
}

TEST_CASE(
    "WorkerStateMachine: an exit 0 that beats our own SIGTERM is not "
    "respawned before it can arrive",
    "[state_machine]") {
  // Heroku signals the worker and the supervisor at once; the worker's exit
  // may be seen first.
  WorkerStateMachine m = In(S::kRunning);
  Step exit = m.Handle(Exited(kT0 + seconds(120), 0));
  REQUIRE(exit.next == S::kBackoff);
  CHECK(Find(exit, K::kArmBackoff)->delay >= milliseconds(100));
  Step stop = m.Handle(StopRequest(kT0 + seconds(120) + milliseconds(1)));
  CHECK(stop.next == S::kStopped);
  CHECK(Has(stop, K::kFinish));
  CHECK_FALSE(Has(stop, K::kSpawn));
}

TEST_CASE(
    "WorkerStateMachine: our worker's exit 2 before READY stops the "
    "supervisor with 2",
    "[state_machine]") {
  WorkerStateMachine m = In(S::kStarting);
  Step step = m.Handle(Exited(kT0 + milliseconds(10), 2));
  CHECK(step.next == S::kStopped);
  CHECK(Logs(step, Note::kConfigRefused));
  CHECK(Find(step, K::kFinish)->exit_code == 2);

  MachineOptions any = Options();
  any.exit_2_before_ready_is_fatal = false;  // another COMMAND
  WorkerStateMachine other(any);
  other.Handle(Spawned(kT0));
  CHECK(other.Handle(Exited(kT0 + milliseconds(10), 2)).next == S::kStarting);
}

TEST_CASE(
    "WorkerStateMachine: systemd hears READY once, from the first "
    "worker",
    "[state_machine]") {
  WorkerStateMachine m = In(S::kRunning);  // told once already
  m.Handle(RestartRequest(kT0 + seconds(5)));
  m.Handle(Exited(kT0 + seconds(6), 0));
  m.Handle(Spawned(kT0 + seconds(6)));
  CHECK_FALSE(
      Has(m.Handle(At(E::kReady, kT0 + seconds(7))), K::kTellSystemdReady));
}

TEST_CASE("WorkerStateMachine: the watchdog is off at 0", "[state_machine]") {
  MachineOptions off = Options();
  off.watchdog = milliseconds(0);
  WorkerStateMachine m(off);
  m.Handle(Spawned(kT0));
  CHECK_FALSE(Has(m.Handle(At(E::kReady, kT0)), K::kArmWatchdog));
  CHECK_FALSE(Has(m.Handle(At(E::kWatchdogPing, kT0)), K::kArmWatchdog));
}

}  // namespace
}  // namespace dynoguard::supervisor
