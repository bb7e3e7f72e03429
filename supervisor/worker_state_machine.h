// WorkerStateMachine: the supervisor's life cycle of one worker as an s6-style
// state × event table (s6-supervise.c's actions[state][event]). Events go in
// with the time they happened; the next state and the actions to perform come
// out. Pure: no clock is read, no signal sent, no timer armed here; the
// Supervisor performs the actions (I/O) and feeds back what happened.
#ifndef DYNOGUARD_SUPERVISOR_WORKER_STATE_MACHINE_H_
#define DYNOGUARD_SUPERVISOR_WORKER_STATE_MACHINE_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/memory_policy.h"
#include "supervisor/restart_backoff.h"

namespace dynoguard::supervisor {

// kStarting: spawned (or about to be), not ready yet. kRunning: ready.
// kStoppingForRestart / kStoppingForExit: the stop (or abort) signal was sent,
// waiting for the exit or the stop timeout. kBackoff: no worker, waiting to
// respawn. kStopped: terminal; the supervisor exits.
enum class WorkerState {
  kStarting,
  kRunning,
  kStoppingForRestart,
  kStoppingForExit,
  kBackoff,
  kStopped,
};
inline constexpr int kWorkerStateCount = 6;

// "starting", "running", "stopping" (both stopping states: what `status`
// shows), "backoff", "stopped".
std::string_view ToString(WorkerState state);
// The exact name, for logs and tests: "stopping-for-restart", ….
std::string_view StateName(WorkerState state);

enum class EventKind {
  kSpawned,          // exec succeeded; Event::pid is the worker
  kSpawnFailed,      // exec failed (logged by the caller)
  kChildExit,        // the worker was reaped; Event::exit
  kReady,            // READY=1, from any source (notify, HTTP probe, at exec)
  kWatchdogPing,     // WATCHDOG=1
  kMemorySample,     // a poll sample was judged; Event::memory
  kStartTimeout,     // WORKER_START_TIMEOUT_S after spawn
  kStopTimeout,      // the stop (or abort) grace ran out
  kBackoffElapsed,   // the backoff / throttle delay ran out
  kWatchdogTimeout,  // WORKER_WATCHDOG_S without a ping
  kStopRequest,      // SIGTERM/SIGINT or `supervisor stop`; Event::source
  kRestartRequest,   // SIGHUP or `supervisor restart`; Event::reason
  kCleanupRequest,   // `supervisor cleanup`; Event::cleanup
};
inline constexpr int kEventKindCount = 13;
std::string_view ToString(EventKind kind);

// How the worker ended.
struct ExitInfo {
  // True: killed by `signal`; false: exited with `code`.
  bool signaled = false;
  int code = 0;
  int signal = 0;
};

struct Event {
  using Clock = std::chrono::steady_clock;

  EventKind kind = EventKind::kReady;
  Clock::time_point now;
  pid_t pid = -1;  // kSpawned
  ExitInfo exit;   // kChildExit
  // kMemorySample: the policy's decision (action, reason) and the figures for
  // the restart line ("rss=190MB (95.1%)").
  MemoryAction memory = MemoryAction::kNone;
  std::string memory_reason;
  std::string detail;
  // kStopRequest: who asked, e.g. {"signal", "SIGTERM"} or {"control",
  // "stop"}.
  std::string source_key;
  std::string source;
  // kRestartRequest: "sighup" or "control".
  std::string reason;
  // kCleanupRequest: kStandardCleanup or kEmergencyCleanup.
  MemoryAction cleanup = MemoryAction::kNone;
};

// What a transition asks the Supervisor to do, in order.
enum class ActionKind {
  kSpawn,              // fork/exec, then feed kSpawned or kSpawnFailed
  kArmStartTimer,      // (re)start the start timer: `delay`
  kDisarmStartTimer,   // stop the start timer (READY came)
  kArmWatchdog,        // (re)start the watchdog timer: `delay`
  kArmBackoff,         // start the backoff timer: `delay`
  kStop,               // the stop signal to the worker, stop timer `delay`
  kAbort,              // SIGABRT to the worker, stop timer `delay`
  kKill,               // SIGKILL to the worker and its group (`delay` ran out)
  kReap,               // the worker is gone: SIGKILL what is left of its
                       // group, disarm its timers
  kCleanup,            // the `cleanup` signal to the worker
  kResetMemoryPolicy,  // a new run or READY: levels and cooldowns start over
  kTellSystemdReady,   // READY=1 to our own systemd (first READY only)
  kTellSystemdStopping,  // STOPPING=1 to our own systemd
  kFinish,               // close everything; the supervisor exits `exit_code`
  kRefuse,               // a request that this state refuses: `text`
  kLog,                  // one log line: `note`
};

// The log lines the table writes (the Supervisor formats them).
enum class Note {
  kReady,         // ready pid= startup=
  kRestart,       // restart reason=`text` pid= [detail]
  kBackoff,       // backoff delay= failures=
  kThrottle,      // throttle delay= (a planned respawn held back)
  kCrashLoop,     // crash-loop failures= delay= hint=
  kStartsAbove,   // restart-hint hint="starts above the restart threshold…"
  kStartTimeout,  // start-timeout pid= after=
  kWatchdogTimeout,  // watchdog-timeout pid= silent=
  kConfigRefused,    // worker-config hint=…
  kShutdown,         // shutdown <source_key>=<source>
  kShutdownPending,  // shutdown-pending <source_key>=<source>
  kCleanupDeferred,  // cleanup-deferred (debug): not ready yet
};

struct Action {
  ActionKind kind = ActionKind::kLog;
  std::chrono::milliseconds delay{0};
  MemoryAction cleanup = MemoryAction::kNone;  // kCleanup
  int exit_code = 0;                           // kFinish
  Note note = Note::kReady;                    // kLog
  // kLog: the reason (kRestart), the source (kShutdown*); kRefuse: the reply;
  // kCleanup: the trigger ("memory", "control").
  std::string text;
  std::string text_key;  // kShutdown*: the source's key
  std::string detail;    // kLog kRestart: figures
  int failures = 0;      // kLog kBackoff / kCrashLoop
  pid_t pid = -1;        // the worker the line is about
};

struct Step {
  WorkerState next = WorkerState::kStarting;
  std::vector<Action> actions;
};

// Constant after construction. Durations of 0 turn a timer off.
struct MachineOptions {
  // A worker not ready this long after spawn is restarted (`start-timeout`).
  // Default: 60 s (WORKER_START_TIMEOUT_S).
  std::chrono::milliseconds start_timeout{60000};
  // Stop signal → SIGKILL. Default: 20 s (WORKER_STOP_TIMEOUT_S).
  std::chrono::milliseconds stop_timeout{20000};
  // READY/ping → watchdog timeout. Default: 60 s; 0 = off.
  std::chrono::milliseconds watchdog{60000};
  // SIGABRT (watchdog) → SIGKILL, at most stop_timeout. Default: 2 s.
  std::chrono::milliseconds abort_grace{2000};
  // No planned respawn sooner than this after the previous spawn (s6's
  // dontrespawnbefore). Default: 1 s.
  std::chrono::milliseconds respawn_throttle{1000};
  // Crash backoff (RESTART_BACKOFF_MIN_MS/MAX_MS) and the run that counts as
  // stable. Defaults: 100 ms, 30 s, 60 s.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds stable_after{60000};
  // Failures (crashes and short-lived automatic restarts) in a row that make
  // a crash loop. Default: 5.
  int crash_loop_after = 5;
  // The worker exits 2 before READY when it refuses its configuration; the
  // supervisor then stops with exit 2 (our worker; not any COMMAND).
  // Default: false.
  bool exit_2_before_ready_is_fatal = false;
};

// The bookkeeping the cells read and write besides the state. Only the table
// changes it.
struct MachineContext {
  using Clock = std::chrono::steady_clock;

  explicit MachineContext(const MachineOptions& o)
      : options(o),
        backoff(o.backoff_min, o.backoff_max, o.stable_after,
                o.crash_loop_after) {}

  const MachineOptions options;
  RestartBackoff backoff;
  pid_t pid = -1;                  // the current worker, -1 when none
  Clock::time_point spawned_at{};  // of the current (or last) worker
  std::optional<Clock::time_point> last_spawn;
  std::optional<Clock::time_point> last_ping;  // READY or WATCHDOG=1
  int samples = 0;   // memory samples since the spawn, then since READY
  int readies = 0;   // READY events ever (systemd: first one)
  int restarts = 0;  // respawns after the first spawn
  int hints = 0;     // "starts above" hints logged (0 or 1)
  std::string last_restart_reason;  // "crash", "memory", …
  std::string pending_reason;       // the restart under way, if any
};

// The cells worth knowing (the table in the .cc has them all):
//  1. Starting + memory cleanup: nothing is sent (a worker that is not ready
//     may not have its handlers yet); READY resets the memory policy, so the
//     cleanup comes at the next sample. Starting + control cleanup: refused.
//  2. Starting + start timeout: restart, reason "start-timeout".
//  3. Starting/Running + watchdog timeout: SIGABRT (kAbort) with abort_grace,
//     then kKill at the stop timeout event; every other restart sends kStop.
//  4. Running + exit (a crash): RestartBackoff::OnUnexpectedExit: the first
//     failure (also the first after a stable run) is respawned at once, the
//     second waits backoff_min, doubling. An exit 0 or a death by SIGTERM
//     waits at least backoff_min (a platform stop may be under way).
//  5. StoppingForRestart + exit: respawn no sooner than respawn_throttle after
//     the previous spawn; an automatic restart (memory, watchdog,
//     start-timeout) of a run shorter than stable_after counts as a failure
//     and waits its backoff too. A memory restart while starting or at the
//     first sample after READY logs the "starts above the restart threshold"
//     hint, once per supervisor.
//  6. StoppingForExit + exit (any code): kStopped and kFinish(0), never a
//     respawn. Starting + exit 2 with exit_2_before_ready_is_fatal:
//     kFinish(2).
//  7. A memory sample in Running after stable_after clears the failures, and
//     crash_loop() is false from then on.
// The table lookup: applies the cell of (`state`, `event.kind`) to `context`
// and returns the next state and the actions, in order. Deterministic; reads
// no clock.
Step Transition(WorkerState state, const Event& event, MachineContext& context);

// The state and its context, for the Supervisor. Not thread-safe: one owner.
class WorkerStateMachine {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WorkerStateMachine(const MachineOptions& options)
      : context_(options) {}

  // Transition() on the current state; the state becomes step.next.
  Step Handle(const Event& event);

  WorkerState state() const { return state_; }
  const MachineContext& context() const { return context_; }
  // The worker keeps failing young; false again once the current worker has
  // run stable_after (`crashLoop` in status).
  bool crash_loop(Clock::time_point now) const;

 private:
  WorkerState state_ = WorkerState::kStarting;
  MachineContext context_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_WORKER_STATE_MACHINE_H_
