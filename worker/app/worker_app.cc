#include "worker/app/worker_app.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/listen_fds.h"
#include "common/memory_probe.h"
#include "common/time_format.h"
#include "worker/app/call_timeouts.h"
#include "worker/app/gateway.h"
#include "worker/app/process_environment.h"
#include "worker/app/session_setup.h"
#include "worker/crypto/digest.h"
#include "worker/http/http_api.h"
#include "worker/http/http_server.h"
#include "worker/inbound/event_router.h"
#include "worker/memory/ballast.h"
#include "worker/memory/cleanup_runner.h"
#include "worker/memory/malloc_tuning.h"
#include "worker/memory/memory_manager.h"
#include "worker/memory/temp_file_sweeper.h"
#include "worker/memory/unused_library_pages.h"
#include "worker/metrics/metrics.h"
#include "worker/net/curl_global.h"
#include "worker/net/http_client.h"
#include "worker/outbound/dispatcher.h"
#include "worker/outbound/message_queue.h"
#include "worker/outbound/queue_watch.h"
#include "worker/storage/data_dir_lock.h"
#include "worker/storage/private_files.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

using common::FormatMegabytes;
using common::Status;

constexpr uint64_t kTrimPeriodMs = 30000;   // SPEC §6: trim every 30 s
constexpr uint64_t kSweepPeriodMs = 60000;  // SPEC §6: temp files every 60 s
constexpr auto kStaleTempAge = std::chrono::minutes(10);
constexpr uint64_t kStatusPeriodMs = 10000;
// How long a stopping worker waits at most for its keep-alive connections to
// close (each answer says `Connection: close`; a busy client's next request
// ends its connection within milliseconds, an idle one is closed after the
// server's grace of 1 s). The drain usually ends as the last one closes.
constexpr uint64_t kHttpDrainMaxMs = 1500;
constexpr uint64_t kTransportPollMs = 100;
// Cleanup signals closer together than this are merged into one cleanup (an
// emergency after a standard one still runs at once): see CleanupPacer.
constexpr int64_t kCleanupSpacingMs = 500;
constexpr uint64_t kPrunePeriodMs = 3600 * 1000;

WorkerApp* Self(void* data) { return static_cast<WorkerApp*>(data); }

std::string EnvOr(const char* name, const char* fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

}  // namespace

WorkerApp::WorkerApp(const common::Config& config, const common::Logger& log)
    : config_(config), log_(log), cleanup_pacer_(kCleanupSpacingMs) {}

WorkerApp::~WorkerApp() {
  if (http_thread_.joinable()) {
    http_->Stop();
    http_thread_.join();
  }
}

int64_t WorkerApp::NowMs() const { return common::WallClockMs(); }

uint64_t WorkerApp::ReadRss() const {
  auto reading =
      common::MeasureTree(procfs_, getpid(), common::MemorySource::kRss);
  return reading.ok() ? reading->bytes : 0;
}

uint64_t WorkerApp::ReadUsage() const {
  return ReadMemoryUsage(procfs_, getpid(), config_.memory_source);
}

uint64_t ReadMemoryUsage(const common::ProcFs& procfs, int pid,
                         common::MemorySource source) {
  auto reading = common::MeasureTree(procfs, pid, source);
  return reading.ok() ? reading->bytes : 0;
}

void WorkerApp::CloseLoop() {
  // The parts that own loop handles close them themselves (their close
  // callbacks free memory, and closing a handle twice is a libuv assertion);
  // what is left is closed here. Then the loop runs the close callbacks.
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    tasks_open_ = false;  // tasks posted from now on are dropped
    tasks_.clear();
  }
  closing_ = true;
  if (session_) session_->Close();
  if (dispatcher_) dispatcher_->Close();
  if (gateway_) gateway_->CloseLoopParts();
  if (http_client_) http_client_->Close();
  periodic_.Close();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
}

int WorkerApp::Run() {
  uv_loop_init(&loop_);
  if (Status status = Start(); !status.ok()) {
    log_.Error(config_refused_ ? "config" : "start-failed",
               {{"error", status.message()}});
    if (http_thread_.joinable()) {
      http_->Stop();
      http_thread_.join();
    }
    CloseLoop();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return config_refused_ ? 2 : 1;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (http_thread_.joinable()) http_thread_.join();
  uv_loop_close(&loop_);
  log_.Info("stopped", {{"code", exit_code_}});
  return exit_code_;
}

Status WorkerApp::Start() {
  TuneMallocForSmallFootprint();
  // The notify variables are for this process alone: read once, unset so
  // that no child of the worker talks to our supervisor.
  NotifyEnvironment notify_env = TakeNotifyEnvironment(getpid());
  watchdog_period_ = notify_env.watchdog_period;
  auto notify =
      common::NotifyClient::FromSocketAddress(notify_env.notify_socket);
  if (!notify.ok()) {
    log_.Warn("notify-disabled", {{"error", notify.status().message()}});
  } else {
    notify_ = std::move(notify.value());
  }

  // DATA_DIR and DATA_DIR/tmp are 0700 whatever the umask; one worker per
  // DATA_DIR (storage/data_dir_lock.h), taken before the queue opens.
  for (const std::string& dir : {config_.data_dir, config_.data_dir + "/tmp"}) {
    if (Status status = storage::EnsurePrivateDirectory(dir); !status.ok())
      return status;
  }
  auto data_dir_lock = storage::DataDirLock::Acquire(config_.data_dir);
  if (!data_dir_lock.ok()) return data_dir_lock.status();
  data_dir_lock_ = std::move(data_dir_lock.value());

  auto limit = common::ResolveMemoryLimit(config_.memory_limit_bytes, procfs_);
  if (!limit.ok()) return limit.status();
  limit_bytes_ = limit->bytes;

  // libcurl and OpenSSL are initialised only when a configuration calls out
  // (the Cloud API, forwarding): the sandbox keeps its small idle figure.
  if (config_.transport == common::TransportKind::kCloud ||
      !config_.webhook_url.empty() || SessionNeedsHttp(config_)) {
    HttpClient::Options client;
    // Below WORKER_STOP_TIMEOUT_S: a stop never waits on a hung call.
    client.max_timeout =
        CallTimeoutsFor(config_.worker_stop_timeout).client_max;
    auto http_client = HttpClient::Create(&loop_, std::move(client));
    if (!http_client.ok()) return http_client.status();
    http_client_ = std::move(http_client.value());
  }

  GatewayOptions parts;
  parts.data_dir = config_.data_dir;
  parts.loop = &loop_;
  parts.http = http_client_.get();
  parts.on_connection = [this](ConnectionState, std::string_view) {
    // A paused queue resumes once the transport is connected again.
    if (dispatcher_) dispatcher_->Wake();
    SendStatus();
  };
  parts.limit_bytes = limit_bytes_;
  parts.emergency_percent = config_.emergency_percent;
  // The pressure flag (503 for new sends) measures what the supervisor
  // measures: MEMORY_SOURCE (rss, pss or cgroup).
  parts.read_usage = [this] { return ReadUsage(); };
  parts.read_rss = [this] { return ReadRss(); };
  parts.now_ms = [this] { return NowMs(); };
  parts.debug_endpoints = config_.debug_endpoints;
  parts.restarts_seen =
      Metrics::RestartsFromEnv(std::getenv("DYNOGUARD_RESTARTS"));
  auto gateway = Gateway::Open(config_, log_, std::move(parts));
  if (!gateway.ok()) return gateway.status();
  gateway_ = std::move(gateway.value());
  metrics_ = &gateway_->metrics();
  queue_ = &gateway_->queue();
  memory_ = &gateway_->memory();
  cleanup_ = &gateway_->cleanup();
  sandbox_ = gateway_->sandbox();
  transport_ = &gateway_->transport();
  router_ = &gateway_->router();
  queue_watch_ = std::make_unique<QueueWatch>(
      QueueWatch::Options::FromEnvironment(), log_, *queue_, [this] {
        exit_code_ = 1;
        BeginShutdown("queue-unhealthy");
      });
  // SPEC §6: a cleanup also deletes stale temp files (any level, any
  // trigger: signal, /cleanup).
  memory_->AddCleanupStep("temp-files",
                          [this](CleanupLevel) { SweepTempFiles("cleanup"); });
  memory_->AddCleanupStep("image-pages", [this](CleanupLevel) {
    ReleaseIdleImagePages("cleanup");
  });
  if (http_client_) {
    // SPEC §6: a cleanup drops the idle connections of every caller of the
    // client (Graph API, forwarding, the session store), on the loop: a
    // cleanup may run on an HTTP thread.
    memory_->AddCleanupStep("idle-connections", [this](CleanupLevel) {
      (void)http_client_->Post(
          [this] { http_client_->CloseIdleConnections(); });
    });
  }
  if (config_.debug_endpoints) {
    log_.Warn("debug-endpoints",
              {{"", "DEBUG_ENDPOINTS=true: /debug/* is enabled"}});
  }

  Dispatcher::Options dispatch;
  dispatch.send_delay = config_.send_delay;
  dispatch.concurrency = config_.send_concurrency;
  dispatch.retry.max_attempts = config_.send_max_attempts;
  dispatch.retry.base = config_.send_retry_base;
  // A burst of sends filled the queue's page caches and malloc's free
  // lists: once it is over, the worker goes back to its idle footprint.
  dispatch.on_idle = [this] {
    const uint64_t cache = queue_->ReleaseMemory();
    ReleaseFreeHeap();
    log_.Debug("queue-idle", {{"released_cache", static_cast<int64_t>(cache)}});
  };
  // Our own `sent` (the provider took the message) and `failed` (a dead
  // letter) become status events. They are appended to the outbox before
  // the queue records the answer: a worker killed between the two writes
  // leaves the message `sending`, it is sent again on the next start and its
  // event, whose id derives from our id and the status, is stored once. So
  // the crash costs at worst a duplicate send (SPEC §7's one) and, if the
  // second answer differs, a second event; never a lost one. An outbox that
  // cannot be written (disk full) loses the event: logged, and the send
  // goes on (forwarding never holds the queue).
  dispatch.before_record = [this](DispatchResult result,
                                  const SendRequest& request,
                                  const SendResult& answer) {
    if (Status s = gateway_->sinks().OnDispatched(result, request, answer);
        !s.ok()) {
      log_.Warn("forward-append-failed",
                {{"id", request.message_id}, {"error", s.message()}});
    }
  };
  dispatcher_ = std::make_unique<Dispatcher>(
      &loop_, dispatch, log_, *queue_, *transport_, [this] { return NowMs(); },
      [this](DispatchResult result, const SendRequest&, const SendResult&) {
        metrics_->CountSend(result == DispatchResult::kSent ? SendOutcome::kSent
                            : result == DispatchResult::kRetry
                                ? SendOutcome::kRetry
                                : SendOutcome::kFailed);
      });

  auto session = MakeSessionManager(
      config_, log_, &loop_, http_client_.get(), *gateway_,
      [this](std::function<void()> task) {
        RunOnLoop(std::move(task));
        return true;
      },
      [this] { return NowMs(); });
  if (!session.ok()) {
    if (session.status().code() == Status::Code::kInvalidArgument)
      config_refused_ = true;
    return session.status();
  }
  session_ = std::move(session.value());
  gateway_->AttachSession(session_.get());
  // SPEC §7 / issue 8: a backup after an emergency cleanup.
  memory_->AddCleanupStep("session-backup", [this](CleanupLevel level) {
    if (level == CleanupLevel::kEmergency) {
      session_->RequestBackup("emergency-cleanup");
    }
  });

  http_ = std::make_unique<HttpServer>(config_, log_, *metrics_);
  LoopHooks hooks;
  hooks.wake_dispatcher = [this] { dispatcher_->OnEnqueued(); };
  hooks.dispatcher_status = [this] { return dispatcher_->Status(); };
  hooks.stall_loop = [this](std::chrono::milliseconds ms) {
    stall_ms_.store(ms.count());
    uv_async_send(&stall_async_);
  };
  hooks.run_on_loop = [this](std::function<void()> task) {
    RunOnLoop(std::move(task));
  };
  hooks.started = started_;
  InstallRoutes(http_->server(), config_, log_, gateway_->Routes(hooks));
  if (Status status = OpenListener(); !status.ok()) return status;
  if (Status status = http_->Open(); !status.ok()) return status;

  shutdown_steps_.emplace_back("queue", [this] { return queue_->Close(); });

  StartLoopHandles();
  if (Status status = gateway_->Start(&loop_); !status.ok()) {
    // The transport checks what it was given (WHATSAPP_API_BASE, the phone
    // number id, the token's characters): a refusal is a bad configuration,
    // exit 2, which the supervisor does not restart.
    if (status.code() == Status::Code::kInvalidArgument) config_refused_ = true;
    return status;
  }
  // The session is restored before the dispatcher starts and before the
  // HTTP API serves (connections wait in the listening socket's backlog).
  session_->Restore([this] { FinishStart(); });
  return Status::Ok();
}

void WorkerApp::FinishStart() {
  if (closing_) return;
  // The restore may have put inbox rows and outbox events in place after
  // the processor and the forwarder went to sleep.
  gateway_->processor().Wake();
  if (gateway_->forwarder() != nullptr) gateway_->forwarder()->Wake();
  dispatcher_->Start();
  http_thread_ = std::thread([this] { http_->Serve(); });
  started_fully_ = true;

  if (config_.api_key.empty()) {
    log_.Warn("no-api-key",
              {{"",
                "API_KEY is unset: /api/* and /cleanup answer local clients "
                "only (loopback, no Forwarded/X-Forwarded-For/X-Real-IP, a "
                "loopback Host, no foreign Origin); behind a reverse proxy "
                "every request is refused: set API_KEY"}});
  }
  LogSessionWarnings();
  LogForwardingAndWebhook();
  PrefetchSha256();  // the autosave's hash, fetched before the release
  // Linking libcurl loads its dependencies, whose constructors (GnuTLS's
  // among them) touch pages at every start: handed back on every transport.
  if (!http_client_) ReleaseUnusedTlsPages();
  ReleaseUnusedCurlDependencyPages(/*with_curl=*/!http_client_);
  ReleaseIdleImagePages("start");
  auto stats = queue_->Stats();
  log_.Info("ready", {{"transport", transport_->name()},
                      {"limit", FormatMegabytes(limit_bytes_)},
                      {"rss", FormatMegabytes(ReadRss())},
                      {"pending", stats.ok() ? stats->depth : -1},
                      // Whether libcurl and OpenSSL were initialised: only
                      // when a configuration calls out.
                      {"curl", CurlInitialized() ? "on" : "off"}});
  (void)notify_.Send("READY=1");
  SendStatus();
  session_->StartAutosave();
  if (!pending_shutdown_.empty()) BeginShutdown(pending_shutdown_);
}

void WorkerApp::LogSessionWarnings() {
  const bool remote =
      config_.session_backup &&
      config_.session_storage != common::SessionStorageKind::kFile;
  if (remote && config_.session_encryption_key.empty()) {
    log_.Warn("session-plaintext",
              {{"store", ToString(config_.session_storage)},
               {"",
                "SESSION_ENCRYPTION_KEY is unset: the session snapshot "
                "(phone numbers, message texts) leaves this machine in "
                "plaintext; set a 32-byte key (openssl rand -base64 32)"}});
  }
  if (!config_.ephemeral_platform.empty() && !remote) {
    // SPEC §7 on a platform whose instances start on an empty disk: only a
    // remote store carries the queue to the next instance.
    log_.Warn("ephemeral-disk",
              {{"platform", config_.ephemeral_platform},
               {"",
                "this platform starts every instance on an empty disk: a "
                "restart or deploy loses DATA_DIR, so messages still queued "
                "are lost unless the session is backed up to a remote store: "
                "set SESSION_STORAGE_TYPE=postgres, jsonbin or mongodb (see "
                "docs/sessions.md)"}});
  }
}

void WorkerApp::RunOnLoop(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(tasks_mu_);
  if (!tasks_open_) return;  // not started or closing: the caller times out
  tasks_.push_back(std::move(task));
  uv_async_send(&tasks_async_);
}

void WorkerApp::LogForwardingAndWebhook() {
  if (config_.webhook_url.empty()) {
    log_.Info("forwarding-off",
              {{"",
                "WEBHOOK_URL is unset: inbound messages and statuses are "
                "kept for GET /api/chats/{waId}/messages only"}});
  } else if (config_.webhook_secret.empty()) {
    log_.Warn("forwarding-unsigned",
              {{"",
                "WEBHOOK_SECRET is unset: events are POSTed to "
                "WEBHOOK_URL without X-Dynoguard-Signature-256"}});
  }
  if (config_.transport != common::TransportKind::kCloud) return;
  if (config_.whatsapp_app_secret.empty()) {
    log_.Warn("webhook-unsigned",
              {{"",
                "WHATSAPP_APP_SECRET is unset: POST /webhook answers 503 "
                "(inbound messages cannot be verified)"}});
  }
  if (config_.whatsapp_verify_token.empty()) {
    log_.Warn("webhook-no-verify-token",
              {{"",
                "WHATSAPP_VERIFY_TOKEN is unset: Meta's webhook "
                "verification (GET /webhook) is refused"}});
  }
}

void WorkerApp::SweepTempFiles(std::string_view trigger) {
  auto swept = SweepStaleFiles(config_.data_dir + "/tmp", kStaleTempAge,
                               std::chrono::system_clock::now());
  if (!swept.ok()) {
    log_.Warn("temp-sweep-failed", {{"error", swept.status().message()}});
  } else if (swept->files_removed > 0) {
    log_.Info("temp-sweep", {{"files", swept->files_removed},
                             {"freed", FormatMegabytes(swept->bytes_removed)},
                             {"trigger", trigger}});
  }
}

void WorkerApp::ReleaseUnusedTlsPages() {
  auto released =
      PageOutUnusedLibraries(procfs_, {"libcrypto.so", "libssl.so"});
  if (!released.ok()) {
    log_.Debug("tls-pages-kept", {{"error", released.status().message()}});
    return;
  }
  log_.Info("tls-pages-released",
            {{"mappings", released->mappings},
             {"rss_before", FormatMegabytes(released->rss_before)},
             {"rss_after", FormatMegabytes(released->rss_after)}});
}

void WorkerApp::ReleaseUnusedCurlDependencyPages(bool with_curl) {
  // Debian's libcurl links every protocol and auth library it may use
  // (GnuTLS for LDAP and RTMP, Kerberos, SSH, …); the worker only speaks
  // HTTP(S) through OpenSSL, so the pages their loading touched are never
  // used again. A page that is used after all is read back on demand.
  std::vector<std::string> libraries = {
      "libgnutls.so",      "libp11-kit.so",  "libkrb5.so",
      "libnettle.so",      "libhogweed.so",  "libldap",
      "liblber",           "librtmp.so",     "libssh2.so",
      "libgssapi_krb5.so", "libk5crypto.so", "libtasn1.so",
      "libunistring.so",   "libsasl2.so",    "libgmp.so",
      "libkrb5support.so", "libcom_err.so",  "libkeyutils.so",
      "libffi.so",         "libidn2.so",     "libpsl.so",
      "libbrotli"};
  // Without the HTTP client (the sandbox, no WEBHOOK_URL) libcurl itself and
  // its HTTP/2 library are never called either.
  if (with_curl) {
    libraries.push_back("libcurl.so");
    libraries.push_back("libnghttp2.so");
  }
  auto released = PageOutUnusedLibraries(procfs_, libraries);
  if (!released.ok()) {
    log_.Debug("library-pages-kept", {{"error", released.status().message()}});
    return;
  }
  log_.Info("library-pages-released",
            {{"mappings", released->mappings},
             {"rss_before", FormatMegabytes(released->rss_before)},
             {"rss_after", FormatMegabytes(released->rss_after)}});
}

void WorkerApp::ReleaseIdleImagePages(std::string_view trigger) {
  auto unmapped = UnmapIdleImagePages(procfs_);
  if (!unmapped.ok()) {
    log_.Debug("image-pages-kept", {{"error", unmapped.status().message()}});
    return;
  }
  log_.Log(
      trigger == "start" ? common::LogLevel::kInfo : common::LogLevel::kDebug,
      "image-pages-unmapped",
      {{"mappings", unmapped->mappings},
       {"rss_before", FormatMegabytes(unmapped->rss_before)},
       {"rss_after", FormatMegabytes(unmapped->rss_after)},
       {"trigger", trigger}});
}

Status WorkerApp::OpenListener() {
  auto inherited = common::ParseListenFds(EnvOr("LISTEN_FDS"),
                                          EnvOr("LISTEN_PID"), getpid());
  // The variables are for us alone: children of the worker must not think fd 3
  // is theirs.
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  if (!inherited.ok()) return inherited.status();
  if (inherited.value() >= 1) {
    if (Status status = http_->Adopt(common::kListenFdsStart); !status.ok())
      return status;
    log_.Info("listen",
              {{"fd", common::kListenFdsStart}, {"from", "inherited"}});
    return Status::Ok();
  }
  if (Status status = http_->Bind(config_.host, config_.port); !status.ok())
    return status;
  log_.Info("listen",
            {{"address", fmt::format("{}:{}", config_.host, http_->port())}});
  return Status::Ok();
}

void WorkerApp::StartLoopHandles() {
  for (auto [handle, sig] : {std::pair{&sigusr1_, SIGUSR1},
                             {&sigusr2_, SIGUSR2},
                             {&sigterm_, SIGTERM},
                             {&sigint_, SIGINT}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int signum) { Self(h->data)->OnSignal(signum); },
        sig);
  }
  periodic_.Start(&loop_, PeriodicTable());
  if (periodic_watchdog_ms_ > 0) (void)notify_.Send("WATCHDOG=1");
  uv_timer_init(&loop_, &cleanup_timer_);
  cleanup_timer_.data = this;
  uv_timer_init(&loop_, &stop_deadline_timer_);
  stop_deadline_timer_.data = this;
  uv_timer_init(&loop_, &http_drain_timer_);
  http_drain_timer_.data = this;
  uv_async_init(&loop_, &tasks_async_, [](uv_async_t* a) {
    auto* self = Self(a->data);
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(self->tasks_mu_);
      tasks.swap(self->tasks_);
    }
    for (auto& task : tasks) task();
  });
  tasks_async_.data = this;
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    tasks_open_ = true;
  }
  uv_async_init(&loop_, &stall_async_, [](uv_async_t* a) {
    auto* self = Self(a->data);
    const int64_t ms = self->stall_ms_.exchange(0);
    if (ms <= 0) return;
    self->log_.Warn("stall", {{"ms", ms}});
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  });
  stall_async_.data = this;
}

std::vector<PeriodicTask> WorkerApp::PeriodicTable() {
  using std::chrono::milliseconds;
  // The watchdog is pinged from this loop, the thread that does the real
  // work: a hung loop stops pinging and the supervisor (or systemd) restarts
  // the worker. Twice per WATCHDOG_USEC.
  periodic_watchdog_ms_ = 0;
  if (watchdog_period_ && notify_.enabled()) {
    periodic_watchdog_ms_ =
        std::max<int64_t>(1, watchdog_period_->count() / 2000);
  }
  return {
      {"memory-sample", config_.memory_poll, [this] { OnMemorySample(); }},
      {"trim", milliseconds(kTrimPeriodMs), [] { ReleaseFreeHeap(); }},
      {"temp-sweep", milliseconds(kSweepPeriodMs),
       [this] { SweepTempFiles("timer"); }},
      {"queue-prune", milliseconds(kPrunePeriodMs),
       [this] {
         auto pruned = gateway_->PruneFinished(NowMs(), 10000);
         if (!pruned.ok()) {
           log_.Warn("prune-failed", {{"error", pruned.status().ToString()}});
           return;
         }
         if (pruned->messages > 0) {
           log_.Info("queue-prune", {{"removed", pruned->messages}});
         }
         if (pruned->delivered_events > 0 || pruned->dead_events > 0) {
           log_.Info("outbox-prune", {{"delivered", pruned->delivered_events},
                                      {"dead", pruned->dead_events}});
         }
       }},
      {"status", milliseconds(kStatusPeriodMs), [this] { SendStatus(); }},
      {"queue-health", queue_watch_->options().period,
       [this] { queue_watch_->Check(); }},
      {"transport-poll", milliseconds(kTransportPollMs),
       [this] { transport_->Poll(NowMs()); }},
      {"watchdog", milliseconds(periodic_watchdog_ms_),
       [this] { (void)notify_.Send("WATCHDOG=1"); }},
  };
}

void WorkerApp::OnSignal(int signum) {
  switch (signum) {
    case SIGUSR1:
      cleanup_pacer_.Request(CleanupLevel::kStandard);
      RunPacedCleanup();
      break;
    case SIGUSR2:
      cleanup_pacer_.Request(CleanupLevel::kEmergency);
      RunPacedCleanup();
      break;
    default:
      BeginShutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
  }
}

void WorkerApp::RunPacedCleanup() {
  // A signal callback stays cheap whatever the sender's rate: it runs at most
  // one cleanup per spacing, so the loop always gets back to its other work.
  const auto now = static_cast<int64_t>(uv_now(&loop_));
  if (std::optional<CleanupLevel> level = cleanup_pacer_.TakeDue(now)) {
    uv_timer_stop(&cleanup_timer_);
    cleanup_->Run(*level,
                  *level == CleanupLevel::kEmergency ? "SIGUSR2" : "SIGUSR1",
                  cleanup_pacer_.taken_requests());
    uv_update_time(&loop_);
    return;
  }
  std::optional<int64_t> delay = cleanup_pacer_.DelayMs(now);
  if (!delay || uv_is_active(reinterpret_cast<uv_handle_t*>(&cleanup_timer_)))
    return;
  uv_timer_start(
      &cleanup_timer_, [](uv_timer_t* t) { Self(t->data)->RunPacedCleanup(); },
      static_cast<uint64_t>(*delay), 0);
}

void WorkerApp::OnMemorySample() {
  bool before = memory_->under_pressure();
  const uint64_t usage = ReadUsage();
  memory_->UpdatePressure(usage);
  gateway_->own_memory().AddSample(NowMs(), usage);
  bool after = memory_->under_pressure();
  if (before != after) {
    log_.Log(after ? common::LogLevel::kWarn : common::LogLevel::kInfo,
             "memory-pressure",
             {{"state", after ? "on" : "off"},
              {ToString(config_.memory_source),
               FormatMegabytes(memory_->last_rss())},
              {"limit", FormatMegabytes(limit_bytes_)}});
  }
}

void WorkerApp::SendStatus() {
  auto stats = queue_->Stats();
  std::string reason = transport_->reason();
  (void)notify_.Send(fmt::format(
      "STATUS=rss {} of {}, queue {}, {} {}{}{}", FormatMegabytes(ReadRss()),
      FormatMegabytes(limit_bytes_), stats.ok() ? stats->depth : -1,
      transport_->name(), ToString(transport_->state()),
      reason.empty() ? "" : " ", reason));
}

void WorkerApp::BeginShutdown(std::string_view why) {
  if (!started_fully_) {
    // A signal during the restore: the stop begins once it is done.
    if (pending_shutdown_.empty()) {
      log_.Info("shutdown-pending",
                {{"signal", why}, {"", "after the restore"}});
    }
    pending_shutdown_ = std::string(why);
    return;
  }
  if (stopping_) {
    // Heroku may send SIGTERM twice; one graceful stop is enough.
    log_.Info("shutdown-pending", {{"signal", why}});
    return;
  }
  stopping_ = true;
  log_.Info("shutdown", {{"signal", why}});
  (void)notify_.Send("STOPPING=1");
  // Past this deadline the send in flight is abandoned: it stays `sending` in
  // the queue and is sent again by the next worker (the one duplicate SPEC §7
  // allows).
  auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      config_.worker_stop_timeout - std::chrono::seconds(2));
  uint64_t deadline_ms =
      static_cast<uint64_t>(std::max<int64_t>(500, deadline.count()));
  uv_timer_start(
      &stop_deadline_timer_,
      [](uv_timer_t* t) {
        auto* self = Self(t->data);
        self->log_.Warn(
            "shutdown-deadline",
            {{"", "send in flight abandoned; it is resent on start"}});
        self->exit_code_ = 0;
        self->FinishShutdown();
      },
      deadline_ms, 0);
  // HTTP: accepting stops at once (new connections wait in the supervisor's
  // backlog for the next worker); the connections already accepted are still
  // served, every response saying `Connection: close`, so busy keep-alive
  // clients reconnect instead of losing their next request to a closing
  // connection; once the last one is closed (or at the drain's deadline, half
  // the stop deadline at most) the server stops and the requests in flight
  // finish (the pool is joined on the HTTP thread). Meanwhile the loop runs
  // the send in flight to its end.
  http_->Drain([this] { RunOnLoop([this] { EndHttpDrain(); }); });
  // Within the stop deadline, whatever WORKER_STOP_TIMEOUT_S is.
  uint64_t drain_ms = std::min(kHttpDrainMaxMs, deadline_ms / 2);
  uv_timer_start(
      &http_drain_timer_, [](uv_timer_t* t) { Self(t->data)->EndHttpDrain(); },
      drain_ms, 0);
  dispatcher_->BeginDrain([this] {
    gateway_->Stop([this] {
      sends_drained_ = true;
      MaybeFinalBackup();
    });
  });
}

void WorkerApp::EndHttpDrain() {
  if (http_stopped_ || final_backup_started_) return;
  uv_timer_stop(&http_drain_timer_);
  http_->Stop();
  http_stopped_ = true;
  MaybeFinalBackup();
}

void WorkerApp::MaybeFinalBackup() {
  // After the send in flight has finished and the HTTP API accepts nothing
  // more: the snapshot then holds every message answered 202.
  if (!http_stopped_ || !sends_drained_ || final_backup_started_) return;
  final_backup_started_ = true;
  session_->FinalBackup([this] { FinishShutdown(); });
}

void WorkerApp::FinishShutdown() {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&stop_deadline_timer_)))
    return;
  uv_timer_stop(&stop_deadline_timer_);
  uv_timer_stop(&http_drain_timer_);
  http_->Stop();  // idempotent; the deadline may come before the drain ends
  if (http_thread_.joinable()) http_thread_.join();
  // The session's threads read the stores closed below.
  if (session_) session_->Close();
  for (auto& [name, step] : shutdown_steps_) {
    if (Status status = step(); !status.ok()) {
      log_.Error("shutdown-step-failed",
                 {{"step", name}, {"error", status.message()}});
      exit_code_ = 1;
    }
  }
  CloseLoop();
}

}  // namespace dynoguard::worker
