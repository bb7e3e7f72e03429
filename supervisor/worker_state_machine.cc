#include "supervisor/worker_state_machine.h"

#include <signal.h>

#include <algorithm>
#include <array>

namespace dynoguard::supervisor {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using Actions = std::vector<Action>;

// One cell of the table: applies the event to the context, appends the
// actions, returns the next state.
using Cell = WorkerState (*)(WorkerState, const Event&, MachineContext&,
                             Actions&);

milliseconds Millis(Clock::duration d) {
  return std::chrono::duration_cast<milliseconds>(d);
}

Action Do(ActionKind kind, milliseconds delay = milliseconds(0)) {
  Action a;
  a.kind = kind;
  a.delay = delay;
  return a;
}

Action Log(Note note, const MachineContext& c) {
  Action a;
  a.kind = ActionKind::kLog;
  a.note = note;
  a.pid = c.pid;
  return a;
}

Action Refuse(std::string text) {
  Action a;
  a.kind = ActionKind::kRefuse;
  a.text = std::move(text);
  return a;
}

// Automatic restarts are failures of the worker when its run was short; an
// operator's restart (SIGHUP, `supervisor restart`) is not.
bool CountsAsFailure(std::string_view reason) {
  return reason != "sighup" && reason != "control";
}

// A worker that exits 0 or dies of SIGTERM on its own is most likely part of a
// platform-wide stop (Heroku signals every process of the dyno at once): its
// respawn waits at least the minimum backoff, so that our own SIGTERM, which
// is on its way, finds no new worker.
bool LooksLikeAPlatformStop(const ExitInfo& exit) {
  return exit.signaled ? exit.signal == SIGTERM : exit.code == 0;
}

// ------------------------------------------------------------- shared paths

WorkerState Ignore(WorkerState state, const Event&, MachineContext&, Actions&) {
  return state;
}

// Spawn now, or after the delay (kBackoff).
WorkerState SpawnAfter(milliseconds delay, MachineContext&, Actions& out) {
  if (delay.count() > 0) {
    out.push_back(Do(ActionKind::kArmBackoff, delay));
    return WorkerState::kBackoff;
  }
  out.push_back(Do(ActionKind::kSpawn));
  return WorkerState::kStarting;
}

// The time left before a spawn is allowed (s6's dontrespawnbefore).
milliseconds ThrottleLeft(const MachineContext& c, Clock::time_point now) {
  if (!c.last_spawn) return milliseconds(0);
  auto allowed = *c.last_spawn + c.options.respawn_throttle;
  return allowed > now ? Millis(allowed - now) : milliseconds(0);
}

// One log line about a wait of `delay` before the next spawn, with the
// failure count.
void LogDelay(Note note, const MachineContext& c, milliseconds delay,
              Actions& out) {
  Action a = Log(note, c);
  a.failures = c.backoff.consecutive_failures();
  a.delay = delay;
  out.push_back(a);
}

void MaybeCrashLoop(const MachineContext& c, milliseconds delay, Actions& out) {
  if (c.backoff.crash_loop()) LogDelay(Note::kCrashLoop, c, delay, out);
}

// Stop the worker, then spawn a new one (reason for logs and status).
WorkerState BeginRestart(WorkerState state, const Event& e, MachineContext& c,
                         Actions& out, std::string reason, std::string detail) {
  c.last_restart_reason = reason;
  c.pending_reason = reason;
  Action line = Log(Note::kRestart, c);
  line.text = reason;
  line.detail = std::move(detail);
  out.push_back(line);
  // One hint, the first time a worker is already above the restart threshold
  // while it starts or at its first sample once ready: restarting will not
  // help, the budget is too small.
  if (reason == "memory" && c.hints == 0 &&
      (state == WorkerState::kStarting || c.samples <= 1)) {
    ++c.hints;
    out.push_back(Log(Note::kStartsAbove, c));
  }
  if (reason == "watchdog") {
    // A hung loop will not handle SIGTERM: SIGABRT leaves a core for the
    // operator (as systemd does), SIGKILL follows after a short grace.
    out.push_back(Do(ActionKind::kAbort,
                     std::min(c.options.abort_grace, c.options.stop_timeout)));
  } else {
    out.push_back(Do(ActionKind::kStop, c.options.stop_timeout));
  }
  (void)e;
  return WorkerState::kStoppingForRestart;
}

WorkerState BeginExit(const Event& e, MachineContext& c, Actions& out) {
  Action line = Log(Note::kShutdown, c);
  line.text_key = e.source_key;
  line.text = e.source;
  out.push_back(line);
  out.push_back(Do(ActionKind::kTellSystemdStopping));
  out.push_back(Do(ActionKind::kStop, c.options.stop_timeout));
  return WorkerState::kStoppingForExit;
}

// The worker is gone: common bookkeeping of every exit.
void Gone(MachineContext& c, Actions& out) {
  out.push_back(Do(ActionKind::kReap));
  c.pid = -1;
  c.last_ping.reset();
}

// An exit nobody asked for.
WorkerState Crashed(WorkerState, const Event& e, MachineContext& c,
                    Actions& out) {
  Gone(c, out);
  ++c.restarts;
  c.last_restart_reason = "crash";
  milliseconds delay = c.backoff.OnUnexpectedExit(c.spawned_at, e.now);
  if (LooksLikeAPlatformStop(e.exit))
    delay = std::max(delay, c.options.backoff_min);
  MaybeCrashLoop(c, delay, out);
  LogDelay(Note::kBackoff, c, delay, out);
  return SpawnAfter(delay, c, out);
}

// ------------------------------------------------------------------ cells

WorkerState SpawnedCell(WorkerState, const Event& e, MachineContext& c,
                        Actions& out) {
  c.pid = e.pid;
  c.spawned_at = e.now;
  c.last_spawn = e.now;
  c.last_ping.reset();
  c.samples = 0;
  c.pending_reason.clear();
  out.push_back(Do(ActionKind::kResetMemoryPolicy));
  if (c.options.start_timeout.count() > 0)
    out.push_back(Do(ActionKind::kArmStartTimer, c.options.start_timeout));
  return WorkerState::kStarting;
}

WorkerState SpawnFailedCell(WorkerState, const Event& e, MachineContext& c,
                            Actions& out) {
  c.pid = -1;
  c.last_spawn = e.now;
  milliseconds delay = c.backoff.OnUnexpectedExit(e.now, e.now);
  // Never a tight loop on a command that cannot be executed.
  delay = std::max(delay, c.options.backoff_min);
  MaybeCrashLoop(c, delay, out);
  LogDelay(Note::kBackoff, c, delay, out);
  out.push_back(Do(ActionKind::kArmBackoff, delay));
  return WorkerState::kBackoff;
}

WorkerState StartingExitCell(WorkerState state, const Event& e,
                             MachineContext& c, Actions& out) {
  // Our worker exits 2 on a configuration it refuses (dynoguard's exit-code
  // convention); before it was ever ready that will not change by
  // restarting, so the supervisor stops and says so. Other commands have
  // conventions of their own and are restarted as any crash.
  if (c.options.exit_2_before_ready_is_fatal && !e.exit.signaled &&
      e.exit.code == 2) {
    out.push_back(Log(Note::kConfigRefused, c));
    Gone(c, out);
    Action finish = Do(ActionKind::kFinish);
    finish.exit_code = 2;
    out.push_back(finish);
    return WorkerState::kStopped;
  }
  return Crashed(state, e, c, out);
}

WorkerState ReadyCell(WorkerState, const Event& e, MachineContext& c,
                      Actions& out) {
  Action line = Log(Note::kReady, c);
  line.delay = Millis(e.now - c.spawned_at);
  out.push_back(line);
  out.push_back(Do(ActionKind::kDisarmStartTimer));
  c.samples = 0;
  // Levels and cooldowns start over: the cleanups held back while starting
  // are sent at the first sample now, not a cooldown later.
  out.push_back(Do(ActionKind::kResetMemoryPolicy));
  // As systemd does, the watchdog clock starts at READY=1: a worker that
  // hangs before its first ping is caught too.
  c.last_ping = e.now;
  if (c.options.watchdog.count() > 0)
    out.push_back(Do(ActionKind::kArmWatchdog, c.options.watchdog));
  if (c.readies++ == 0) out.push_back(Do(ActionKind::kTellSystemdReady));
  return WorkerState::kRunning;
}

WorkerState PingCell(WorkerState state, const Event& e, MachineContext& c,
                     Actions& out) {
  c.last_ping = e.now;
  if (c.options.watchdog.count() > 0)
    out.push_back(Do(ActionKind::kArmWatchdog, c.options.watchdog));
  return state;
}

WorkerState MemoryCell(WorkerState state, const Event& e, MachineContext& c,
                       Actions& out) {
  ++c.samples;
  // A run this long is stable: the crash loop, if any, is over.
  if (state == WorkerState::kRunning &&
      e.now - c.spawned_at >= c.options.stable_after) {
    c.backoff.Reset();
  }
  switch (e.memory) {
    case MemoryAction::kNone:
      return state;
    case MemoryAction::kRestart:
      return BeginRestart(state, e, c, out,
                          e.memory_reason.empty() ? "memory" : e.memory_reason,
                          e.detail);
    case MemoryAction::kStandardCleanup:
    case MemoryAction::kEmergencyCleanup:
      if (state == WorkerState::kStarting) {
        // A worker that is not ready may not have its handlers yet: a
        // cleanup signal could kill it.
        out.push_back(Log(Note::kCleanupDeferred, c));
        return state;
      }
      Action a = Do(ActionKind::kCleanup);
      a.cleanup = e.memory;
      a.text = "memory";
      out.push_back(a);
      return state;
  }
  return state;
}

WorkerState StartTimeoutCell(WorkerState state, const Event& e,
                             MachineContext& c, Actions& out) {
  Action line = Log(Note::kStartTimeout, c);
  line.delay = Millis(e.now - c.spawned_at);
  out.push_back(line);
  return BeginRestart(state, e, c, out, "start-timeout", "");
}

WorkerState WatchdogTimeoutCell(WorkerState state, const Event& e,
                                MachineContext& c, Actions& out) {
  Action line = Log(Note::kWatchdogTimeout, c);
  line.delay = Millis(e.now - c.last_ping.value_or(c.spawned_at));
  out.push_back(line);
  return BeginRestart(state, e, c, out, "watchdog", "");
}

WorkerState StopRequestCell(WorkerState, const Event& e, MachineContext& c,
                            Actions& out) {
  return BeginExit(e, c, out);
}

WorkerState RestartRequestCell(WorkerState state, const Event& e,
                               MachineContext& c, Actions& out) {
  return BeginRestart(state, e, c, out, e.reason, "");
}

WorkerState CleanupCell(WorkerState state, const Event& e, MachineContext&,
                        Actions& out) {
  Action a = Do(ActionKind::kCleanup);
  a.cleanup = e.cleanup;
  a.text = "control";
  out.push_back(a);
  return state;
}

WorkerState NotReadyCleanupCell(WorkerState state, const Event&,
                                MachineContext&, Actions& out) {
  out.push_back(Refuse("the worker is not ready yet"));
  return state;
}

WorkerState NoWorkerCleanupCell(WorkerState state, const Event&,
                                MachineContext&, Actions& out) {
  out.push_back(Refuse("no running worker"));
  return state;
}

WorkerState StoppingRefuseCell(WorkerState state, const Event&, MachineContext&,
                               Actions& out) {
  out.push_back(Refuse("the supervisor is stopping"));
  return state;
}

WorkerState StopTimeoutCell(WorkerState state, const Event&, MachineContext& c,
                            Actions& out) {
  Action a = Do(ActionKind::kKill);
  a.pid = c.pid;
  out.push_back(a);
  return state;
}

// The restart under way: the worker exited as asked.
WorkerState PlannedExitCell(WorkerState, const Event& e, MachineContext& c,
                            Actions& out) {
  Gone(c, out);
  ++c.restarts;
  milliseconds backoff = c.backoff.OnPlannedExit(
      c.spawned_at, e.now, CountsAsFailure(c.pending_reason));
  milliseconds delay = std::max(backoff, ThrottleLeft(c, e.now));
  MaybeCrashLoop(c, delay, out);
  if (delay.count() > 0) LogDelay(Note::kThrottle, c, delay, out);
  return SpawnAfter(delay, c, out);
}

// A stop while a restart is under way: the stop signal is already sent.
WorkerState StopDuringRestartCell(WorkerState, const Event& e,
                                  MachineContext& c, Actions& out) {
  Action line = Log(Note::kShutdown, c);
  line.text_key = e.source_key;
  line.text = e.source;
  out.push_back(line);
  out.push_back(Do(ActionKind::kTellSystemdStopping));
  return WorkerState::kStoppingForExit;
}

WorkerState ShutdownPendingCell(WorkerState state, const Event& e,
                                MachineContext& c, Actions& out) {
  // Heroku may repeat SIGTERM; the stop under way covers it.
  Action line = Log(Note::kShutdownPending, c);
  line.text_key = e.source_key;
  line.text = e.source;
  out.push_back(line);
  return state;
}

// Stopping for exit: whatever the exit, it is the end, never a respawn.
WorkerState FinalExitCell(WorkerState, const Event&, MachineContext& c,
                          Actions& out) {
  Gone(c, out);
  out.push_back(Do(ActionKind::kFinish));
  return WorkerState::kStopped;
}

WorkerState BackoffElapsedCell(WorkerState, const Event& e, MachineContext& c,
                               Actions& out) {
  // A restart request may have come early; the throttle still holds.
  return SpawnAfter(ThrottleLeft(c, e.now), c, out);
}

WorkerState StopInBackoffCell(WorkerState, const Event& e, MachineContext& c,
                              Actions& out) {
  Action line = Log(Note::kShutdown, c);
  line.text_key = e.source_key;
  line.text = e.source;
  out.push_back(line);
  out.push_back(Do(ActionKind::kTellSystemdStopping));
  out.push_back(Do(ActionKind::kFinish));
  return WorkerState::kStopped;
}

WorkerState RestartInBackoffCell(WorkerState, const Event& e, MachineContext& c,
                                 Actions& out) {
  c.last_restart_reason = e.reason;
  Action line = Log(Note::kRestart, c);
  line.text = e.reason;
  out.push_back(line);
  return SpawnAfter(ThrottleLeft(c, e.now), c, out);
}

// ------------------------------------------------------------------ table

constexpr int Index(EventKind kind) { return static_cast<int>(kind); }

using Row = std::array<Cell, kEventKindCount>;

// Columns in EventKind order:
//   spawned, spawn-failed, exit, ready, ping, memory, start-timeout,
//   stop-timeout, backoff-elapsed, watchdog-timeout, stop, restart, cleanup
constexpr std::array<Row, kWorkerStateCount> kTable = {{
    // kStarting
    {SpawnedCell, SpawnFailedCell, StartingExitCell, ReadyCell, PingCell,
     MemoryCell, StartTimeoutCell, Ignore, Ignore, WatchdogTimeoutCell,
     StopRequestCell, RestartRequestCell, NotReadyCleanupCell},
    // kRunning
    {Ignore, Ignore, Crashed, Ignore, PingCell, MemoryCell, Ignore, Ignore,
     Ignore, WatchdogTimeoutCell, StopRequestCell, RestartRequestCell,
     CleanupCell},
    // kStoppingForRestart
    {Ignore, Ignore, PlannedExitCell, Ignore, Ignore, Ignore, Ignore,
     StopTimeoutCell, Ignore, Ignore, StopDuringRestartCell, Ignore,
     NoWorkerCleanupCell},
    // kStoppingForExit
    {Ignore, Ignore, FinalExitCell, Ignore, Ignore, Ignore, Ignore,
     StopTimeoutCell, Ignore, Ignore, ShutdownPendingCell, StoppingRefuseCell,
     StoppingRefuseCell},
    // kBackoff
    {Ignore, Ignore, Ignore, Ignore, Ignore, Ignore, Ignore, Ignore,
     BackoffElapsedCell, Ignore, StopInBackoffCell, RestartInBackoffCell,
     NoWorkerCleanupCell},
    // kStopped
    {Ignore, Ignore, Ignore, Ignore, Ignore, Ignore, Ignore, Ignore, Ignore,
     Ignore, ShutdownPendingCell, StoppingRefuseCell, StoppingRefuseCell},
}};

}  // namespace

std::string_view ToString(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kStoppingForRestart:
    case WorkerState::kStoppingForExit:
      return "stopping";
    case WorkerState::kBackoff:
      return "backoff";
    case WorkerState::kStopped:
      return "stopped";
  }
  return "?";
}

std::string_view StateName(WorkerState state) {
  switch (state) {
    case WorkerState::kStoppingForRestart:
      return "stopping-for-restart";
    case WorkerState::kStoppingForExit:
      return "stopping-for-exit";
    default:
      return ToString(state);
  }
}

std::string_view ToString(EventKind kind) {
  static constexpr std::string_view kNames[kEventKindCount] = {
      "spawned",         "spawn-failed",     "exit",          "ready",
      "watchdog-ping",   "memory-sample",    "start-timeout", "stop-timeout",
      "backoff-elapsed", "watchdog-timeout", "stop-request",  "restart-request",
      "cleanup-request"};
  return kNames[Index(kind)];
}

Step Transition(WorkerState state, const Event& event,
                MachineContext& context) {
  Step step;
  Cell cell = kTable[static_cast<size_t>(state)][Index(event.kind)];
  step.next = cell(state, event, context, step.actions);
  return step;
}

Step WorkerStateMachine::Handle(const Event& event) {
  Step step = Transition(state_, event, context_);
  state_ = step.next;
  return step;
}

bool WorkerStateMachine::crash_loop(Clock::time_point now) const {
  if (!context_.backoff.crash_loop()) return false;
  return !(state_ == WorkerState::kRunning &&
           now - context_.spawned_at >= context_.options.stable_after);
}

}  // namespace dynoguard::supervisor
