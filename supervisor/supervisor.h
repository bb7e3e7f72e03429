// Supervisor: runs one worker command and keeps it inside its memory budget, on
// a libuv loop.
//
// The worker's life cycle is the s6-style state × event table of
// WorkerStateMachine (supervisor/worker_state_machine.h): this class turns
// what happens (SIGCHLD, notify datagrams, the memory poll, timers, signals to
// the supervisor, control requests) into events, and performs the actions the
// table returns (spawn, signals, timers, log lines). Every transition is
// logged on one line with its reason and figures.
#ifndef DYNOGUARD_SUPERVISOR_SUPERVISOR_H_
#define DYNOGUARD_SUPERVISOR_SUPERVISOR_H_

#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/memory_history.h"
#include "common/notify_client.h"
#include "common/proc_fs.h"
#include "common/unique_fd.h"
#include "supervisor/control_server.h"
#include "supervisor/http_readiness_probe.h"
#include "supervisor/leftover_watch.h"
#include "supervisor/memory_policy.h"
#include "supervisor/notify_server.h"
#include "supervisor/worker_protocol.h"
#include "supervisor/worker_state_machine.h"
#include "supervisor/worker_tree.h"

namespace dynoguard::supervisor {

// Single-threaded: everything runs on the loop Run() drives.
class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  // `command`: the argv to supervise. `speaks_notify`: whether the command is
  // expected to send READY=1 (our worker does; for any other command the
  // supervisor counts it running at spawn).
  Supervisor(const common::Config& config, const common::Logger& log,
             std::vector<std::string> command, bool speaks_notify);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Sets up (data dir, limit, listening socket, notify and control sockets),
  // spawns the worker and runs until a graceful stop. Returns the exit code: 0
  // after a stop, 1 when set-up fails (logged on one line), 2 when memory
  // cannot be measured with MEMORY_SOURCE at start (one line, nothing
  // started) or the worker (speaks_notify) exited 2 before READY=1: it
  // refused its configuration.
  int Run();

 private:
  // Set-up steps.
  common::Status CheckMemorySource();
  common::Status Prepare();

  // Feeds `event` to the table and performs the actions it returns; returns
  // the step (the caller may look for a refusal).
  Step Dispatch(Event event);
  void Perform(const Step& step);
  Event Make(EventKind kind) const;

  // Events from the outside world.
  void OnChildExited(pid_t pid, int wait_status);
  void OnNotify(std::string_view datagram);
  void OnPoll();
  std::string OnControl(std::string_view request);

  // Actions.
  common::Status SpawnWorker();
  void Spawn();
  void StartReadiness();
  void SignalWorker(int sig, std::chrono::milliseconds grace);
  void Kill();
  void Reap();
  void SendCleanup(MemoryAction action, std::string_view trigger);
  void WriteNote(const Action& action);
  void SetPollPeriod(std::chrono::milliseconds period);
  void Finish(int exit_code);
  std::string StatusJson() const;
  std::string HistoryJson() const;
  std::vector<std::string> ChildEnvironment() const;

  // Constant after construction.
  const common::Config& config_;
  const common::Logger& log_;
  const std::vector<std::string> command_;
  const bool speaks_notify_;
  // LISTEN_SOCKET, CLEANUP_SIGNALS, WORKER_READY, STOP_SIGNAL for this command.
  const WorkerProtocol protocol_;
  const Clock::time_point started_at_ = Clock::now();

  // Loop and handles (owned; closed in Finish()).
  uv_loop_t loop_{};
  uv_signal_t sigchld_{}, sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t poll_timer_{}, stop_timer_{}, backoff_timer_{}, start_timer_{},
      watchdog_timer_{}, systemd_watchdog_timer_{};
  uv_poll_t notify_poll_{};
  std::unique_ptr<ControlServer> control_;
  std::optional<NotifyServer> notify_server_;
  common::UniqueFd listen_fd_;
  common::NotifyClient systemd_;
  common::ProcFs procfs_;
  // The worker's group and the supervisor's other descendants (signals,
  // notify senders).
  WorkerTree tree_{procfs_, getpid()};
  // WORKER_READY=http:/PATH: probing the current worker, else null.
  std::unique_ptr<HttpReadinessProbe> http_probe_;
  // A stop whose main process exited first waits here for the rest.
  LeftoverWatch leftovers_{&loop_, tree_};

  // Budget.
  uint64_t limit_bytes_ = 0;
  std::string limit_source_;
  MemoryPolicy policy_;
  std::chrono::milliseconds poll_period_{0};
  // Samples in a row that could not be measured; warned about once.
  int unreadable_samples_ = 0;
  int unreadable_warnings_ = 0;

  // The worker: its state and bookkeeping live in the table's context; here
  // only what the I/O needs.
  WorkerStateMachine machine_;
  pid_t worker_pid_ = -1;
  Clock::time_point worker_started_;
  std::chrono::milliseconds stop_grace_{0};  // of the stop timer running
  std::string worker_status_;
  // Run()'s result once Finish() ran: 0 after a stop, 1 when set-up failed,
  // 2 on a configuration refused.
  std::optional<int> exit_code_;

  // History for status and logs.
  std::string last_cleanup_;
  struct Sample {
    uint64_t bytes = 0;
    double percent = 0;
    int processes = 0;
    MemoryLevel level = MemoryLevel::kNormal;
  } last_sample_;
  Clock::time_point last_memory_log_;
  double last_logged_percent_ = -100;
  // Samples and events across worker restarts, for `history` (/dashboard).
  common::MemoryHistory history_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_SUPERVISOR_H_
