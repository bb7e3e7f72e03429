// Supervisor: runs one worker command and keeps it inside its memory budget, on
// a libuv loop.
//
// State × event, s6-style: the worker is kStarting (spawned, no READY=1 yet),
// kRunning, kStopping (SIGTERM sent, waiting for the exit or the stop timeout),
// kBackoff (crashed, waiting to respawn) or kStopped. Events: the worker's exit
// (SIGCHLD), notify datagrams (READY, WATCHDOG, STATUS), the memory poll, the
// stop/backoff timers, signals to the supervisor and control requests. Every
// transition is logged on one line with its reason and figures.
#ifndef DYNOGUARD_SUPERVISOR_SUPERVISOR_H_
#define DYNOGUARD_SUPERVISOR_SUPERVISOR_H_

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/notify_client.h"
#include "common/proc_fs.h"
#include "common/unique_fd.h"
#include "supervisor/control_server.h"
#include "supervisor/memory_policy.h"
#include "supervisor/notify_server.h"
#include "supervisor/restart_backoff.h"

namespace dynoguard::supervisor {

enum class WorkerState { kStarting, kRunning, kStopping, kBackoff, kStopped };
std::string_view ToString(WorkerState state);

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
  // after a stop, 1 when set-up fails (logged on one line), 2 when the worker
  // (speaks_notify) exited 2 before READY=1: it refused its configuration.
  int Run();

 private:
  // Set-up steps.
  common::Status Prepare();
  common::Status Spawn();

  // Events.
  void OnChildExited(pid_t pid, int wait_status);
  void OnNotify(std::string_view datagram);
  void OnPoll();
  void OnStopTimeout();
  void OnBackoffElapsed();
  std::string OnControl(std::string_view request);

  // Actions.
  void Restart(std::string_view reason, std::string_view detail = {});
  // `source`=`what` says who asked, e.g. signal=SIGTERM or control=stop.
  void Shutdown(std::string_view source, std::string_view what);
  void StopWorker();
  void SendCleanup(MemoryAction action, std::string_view trigger);
  void Finish();
  std::string StatusJson() const;
  std::vector<std::string> ChildEnvironment() const;

  // Constant after construction.
  const common::Config& config_;
  const common::Logger& log_;
  const std::vector<std::string> command_;
  const bool speaks_notify_;
  int exit_code_ = 0;  // Run()'s result: 2 when the worker refused its config
  const Clock::time_point started_at_ = Clock::now();

  // Loop and handles (owned; closed in Finish()).
  uv_loop_t loop_{};
  uv_signal_t sigchld_{}, sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t poll_timer_{}, stop_timer_{}, backoff_timer_{},
      systemd_watchdog_timer_{};
  uv_poll_t notify_poll_{};
  std::unique_ptr<ControlServer> control_;
  std::optional<NotifyServer> notify_server_;
  common::UniqueFd listen_fd_;
  common::NotifyClient systemd_;
  common::ProcFs procfs_;

  // Budget.
  uint64_t limit_bytes_ = 0;
  std::string limit_source_;
  MemoryPolicy policy_;
  RestartBackoff backoff_;

  // The worker.
  WorkerState state_ = WorkerState::kStopped;
  pid_t worker_pid_ = -1;
  Clock::time_point worker_started_;
  bool worker_ready_ = false;
  bool watchdog_armed_ = false;
  Clock::time_point last_ping_;
  std::string worker_status_;
  bool shutting_down_ = false;
  bool told_systemd_ready_ = false;
  bool finished_ = false;

  // History for status and logs.
  int restarts_ = 0;
  std::string last_restart_reason_;
  std::string last_cleanup_;
  struct Sample {
    uint64_t bytes = 0;
    double percent = 0;
    int processes = 0;
    MemoryLevel level = MemoryLevel::kNormal;
    bool valid = false;
  } last_sample_;
  Clock::time_point last_memory_log_;
  double last_logged_percent_ = -100;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_SUPERVISOR_H_
