// WorkerApp: the gateway process. Owns the queue, the transport, the memory
// manager and the HTTP server, and runs the libuv loop that does the real work:
// sends (Dispatcher), signals (SIGUSR1/2 cleanups, SIGTERM graceful stop),
// periodic trims and temp-file sweeps, memory sampling, and the systemd notify
// protocol (READY, WATCHDOG from this loop, STATUS, STOPPING).
#ifndef DYNOGUARD_WORKER_APP_WORKER_APP_H_
#define DYNOGUARD_WORKER_APP_WORKER_APP_H_

#include <uv.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/memory_probe.h"
#include "common/notify_client.h"
#include "common/proc_fs.h"
#include "common/status.h"
#include "worker/app/periodic_tasks.h"
#include "worker/memory/cleanup_pacer.h"

namespace dynoguard::worker {

class Ballast;
class CleanupRunner;
enum class CleanupLevel;
class Dispatcher;
class Gateway;
class EventRouter;
class HttpClient;
class HttpServer;
class MemoryManager;
class MessageQueue;
class QueueWatch;
class Metrics;
class SandboxTransport;
class SessionManager;
class Transport;
class TransportEvents;
namespace storage {
class DataDirLock;
}

// Single use: construct, Run() once. Not thread-safe; its parts document their
// own safety.
// The MEMORY_SOURCE figure of the tree of `pid`, 0 when it cannot be read.
uint64_t ReadMemoryUsage(const common::ProcFs& procfs, int pid,
                         common::MemorySource source);

class WorkerApp {
 public:
  WorkerApp(const common::Config& config, const common::Logger& log);
  ~WorkerApp();
  WorkerApp(const WorkerApp&) = delete;
  WorkerApp& operator=(const WorkerApp&) = delete;

  // Serves until SIGTERM/SIGINT, then stops gracefully. Returns the exit code:
  // 0 after a graceful stop, 1 when start-up fails (logged), 2 for a
  // configuration this build cannot serve.
  int Run();

 private:
  common::Status Start();
  common::Status OpenListener();
  // On the sandbox transport nothing speaks TLS: hands back the libcrypto and
  // libssl pages that cpp-httplib's OpenSSL initialisation touched
  // (worker/unused_library_pages.h).
  void ReleaseUnusedTlsPages();
  // On a configuration with the HTTP client: hands back the pages of the
  // libraries libcurl links but the worker never calls (GnuTLS, Kerberos,
  // LDAP, SSH, …).
  // `with_curl`: libcurl and libnghttp2 too (no HTTP client was made).
  void ReleaseUnusedCurlDependencyPages(bool with_curl);
  // Unmaps the clean pages of the worker's program and libraries
  // (worker/memory/unused_library_pages.h): after the start, which touched
  // far more code than the running worker uses, and at each cleanup. Logs
  // `image-pages-unmapped` (at debug level for a cleanup). Thread-safe.
  void ReleaseIdleImagePages(std::string_view trigger);
  // Deletes DATA_DIR/tmp files older than 10 minutes; logs what it removed.
  // Thread-safe (a cleanup may run it on an HTTP thread).
  void SweepTempFiles(std::string_view trigger);
  // The start lines about forwarding (WEBHOOK_URL, WEBHOOK_SECRET) and the
  // Cloud webhook (WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN).
  void LogForwardingAndWebhook();
  // The rest of the start, once the session is restored: the dispatcher,
  // the HTTP thread, READY=1, autosave.
  void FinishStart();
  // The session's start warnings: plaintext to a remote store, an
  // ephemeral disk without one.
  void LogSessionWarnings();
  // The HTTP drain is over (no connection left, or its deadline): Stop().
  void EndHttpDrain();
  // The final backup once sends and HTTP are drained, then FinishShutdown.
  void MaybeFinalBackup();
  void StartLoopHandles();
  void OnSignal(int signum);
  // Runs the cleanup the signals asked for when the pacer lets it, or arms
  // cleanup_timer_ for when it will.
  void RunPacedCleanup();
  void OnMemorySample();
  // The periodic tasks (SPEC §6: trim every 30 s, temp files every 60 s; the
  // memory sample, queue prune, STATUS, transport poll and watchdog ping).
  std::vector<PeriodicTask> PeriodicTable();
  // Closes every loop handle (each part its own first); the caller then runs
  // the loop to let the close callbacks run.
  void CloseLoop();
  void BeginShutdown(std::string_view why);
  void FinishShutdown();
  void SendStatus();
  int64_t NowMs() const;
  uint64_t ReadRss() const;
  // The figure MEMORY_SOURCE names (what the supervisor compares to the
  // limit): the pressure flag follows it.
  uint64_t ReadUsage() const;

  const common::Config& config_;
  const common::Logger& log_;
  const std::chrono::system_clock::time_point started_ =
      std::chrono::system_clock::now();
  common::ProcFs procfs_;
  common::NotifyClient notify_;
  uint64_t limit_bytes_ = 0;

  // Parts, in construction order (destroyed in reverse).
  std::unique_ptr<storage::DataDirLock> data_dir_lock_;  // released last
  // The outbound HTTP client (TRANSPORT=cloud or WEBHOOK_URL), on the loop;
  // destroyed after the gateway whose parts use it.
  std::unique_ptr<HttpClient> http_client_;
  // The object graph (gateway.h); the pointers below borrow from it.
  std::unique_ptr<Gateway> gateway_;
  Metrics* metrics_ = nullptr;
  MessageQueue* queue_ = nullptr;
  std::unique_ptr<QueueWatch> queue_watch_;
  MemoryManager* memory_ = nullptr;
  CleanupRunner* cleanup_ = nullptr;
  SandboxTransport* sandbox_ = nullptr;
  Transport* transport_ = nullptr;
  EventRouter* router_ = nullptr;
  // What the transport reports (on the loop): to the router, and a
  // connection change also wakes the dispatcher.
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<SessionManager> session_;
  std::unique_ptr<HttpServer> http_;
  std::thread http_thread_;

  // The steps a graceful stop runs, in order, after the send in flight has
  // finished. The session backup joins here (before the queue closes) when a
  // session store is configured.
  std::vector<std::pair<std::string, std::function<common::Status()>>>
      shutdown_steps_;

  uv_loop_t loop_{};
  uv_signal_t sigusr1_{}, sigusr2_{}, sigterm_{}, sigint_{};
  // SIGUSR1/SIGUSR2 ask the pacer; cleanup_timer_ runs what it lets through.
  CleanupPacer cleanup_pacer_;
  uv_timer_t cleanup_timer_{};
  PeriodicTimers periodic_;
  std::optional<std::chrono::microseconds> watchdog_period_;
  int64_t periodic_watchdog_ms_ = 0;
  uv_timer_t stop_deadline_timer_{}, http_drain_timer_{};
  // DEBUG_ENDPOINTS: /debug/stall asks the loop to block this long (ms), as
  // a hung worker would; stall_async_ wakes the loop to do it.
  uv_async_t stall_async_{};
  // Tasks other threads hand to the loop (LoopHooks::run_on_loop).
  void RunOnLoop(std::function<void()> task);
  uv_async_t tasks_async_{};
  std::mutex tasks_mu_;
  std::deque<std::function<void()>> tasks_;  // guarded by tasks_mu_
  bool tasks_open_ = false;                  // guarded by tasks_mu_
  std::atomic<int64_t> stall_ms_{0};
  bool stopping_ = false;
  bool started_fully_ = false;  // FinishStart ran
  bool closing_ = false;        // CloseLoop ran
  bool final_backup_started_ = false;
  std::string pending_shutdown_;  // a signal that came during the restore
  bool http_stopped_ = false;     // the drain is over, Stop() called
  bool sends_drained_ = false;    // the send in flight has finished
  int exit_code_ = 0;
  bool config_refused_ = false;  // Start failed on a bad configuration: exit 2
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_WORKER_APP_H_
