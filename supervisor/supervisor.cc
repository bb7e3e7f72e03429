#include "supervisor/supervisor.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/listen_fds.h"
#include "common/memory_probe.h"
#include "common/notify_message.h"
#include "supervisor/child_process.h"
#include "supervisor/listen_socket.h"

extern char** environ;

namespace dynoguard::supervisor {
namespace {

using common::FormatMegabytes;
using common::Status;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// A memory line is worth logging when the level changes, the usage moved this
// much, or this long passed since the last one.
constexpr double kMemoryLogStepPercent = 10;
constexpr auto kMemoryLogInterval = std::chrono::seconds(60);

std::string FormatDuration(std::chrono::steady_clock::duration d) {
  double seconds = std::chrono::duration<double>(d).count();
  if (seconds < 1)
    return fmt::format("{}ms", duration_cast<milliseconds>(d).count());
  return fmt::format("{:.1f}s", seconds);
}

std::string FormatPercent(double percent) {
  return fmt::format("({:.1f}%)", percent);
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

MemoryThresholds ThresholdsFrom(const common::Config& config) {
  MemoryThresholds t;
  t.standard_percent = config.standard_percent;
  t.emergency_percent = config.emergency_percent;
  t.restart_percent = config.restart_percent;
  t.emergency_grace = config.emergency_grace;
  t.cleanup_cooldown = config.cleanup_cooldown;
  t.optimization_enabled = config.memory_optimization;
  return t;
}

template <typename T>
T* Self(void* data) {
  return static_cast<T*>(data);
}

}  // namespace

std::string_view ToString(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kStopping:
      return "stopping";
    case WorkerState::kBackoff:
      return "backoff";
    case WorkerState::kStopped:
      return "stopped";
  }
  return "?";
}

Supervisor::Supervisor(const common::Config& config, const common::Logger& log,
                       std::vector<std::string> command, bool speaks_notify)
    : config_(config),
      log_(log),
      command_(std::move(command)),
      speaks_notify_(speaks_notify),
      policy_(ThresholdsFrom(config)),
      backoff_(config.restart_backoff_min, config.restart_backoff_max) {}

Supervisor::~Supervisor() {
  if (!finished_) Finish();
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_loop_close(&loop_);
}

int Supervisor::Run() {
  uv_loop_init(&loop_);
  if (Status status = Prepare(); !status.ok()) {
    log_.Error("setup-failed", {{"error", status.message()}});
    Finish();
    return 1;
  }
  if (Status status = Spawn(); !status.ok()) {
    log_.Error("spawn-failed",
               {{"command", command_[0]}, {"error", status.message()}});
    Finish();
    return 1;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

Status Supervisor::Prepare() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec)
    return Status::IOError("create DATA_DIR " + config_.data_dir, ec.message());

  // The budget: configured, else the cgroup limit, else MemTotal.
  if (config_.memory_limit_bytes > 0) {
    limit_bytes_ = config_.memory_limit_bytes;
    limit_source_ = "MEMORY_LIMIT_MB";
  } else {
    auto detected = common::DetectMemoryLimit(procfs_);
    if (!detected.ok()) return detected.status();
    limit_bytes_ = detected->bytes;
    limit_source_ = detected->source;
  }

  // Our own systemd, if any: notify socket and watchdog.
  const char* notify_socket = std::getenv("NOTIFY_SOCKET");
  auto systemd = common::NotifyClient::FromSocketAddress(
      notify_socket ? notify_socket : "");
  if (systemd.ok()) systemd_ = std::move(systemd.value());

  log_.Info("start",
            {{"version", DYNOGUARD_VERSION},
             {"pid", getpid()},
             {"limit", FormatMegabytes(limit_bytes_)},
             {"limit_source", limit_source_},
             {"source", common::ToString(config_.memory_source)},
             {"poll", fmt::format("{}ms", config_.memory_poll.count())},
             {"optimization", config_.memory_optimization}});

  // The listening socket: inherited from systemd socket activation, else bound
  // here.
  const char* listen_fds = std::getenv("LISTEN_FDS");
  const char* listen_pid = std::getenv("LISTEN_PID");
  auto inherited = common::ParseListenFds(
      listen_fds ? listen_fds : "", listen_pid ? listen_pid : "", getpid());
  if (inherited.ok() && inherited.value() >= 1) {
    listen_fd_.Reset(common::kListenFdsStart);
    log_.Info("listen", {{"address", BoundAddress(listen_fd_.get())},
                         {"from", "systemd"}});
  } else {
    auto opened = OpenListenSocket(config_.host, config_.port);
    if (!opened.ok()) return opened.status();
    listen_fd_ = std::move(opened.value());
    log_.Info("listen", {{"address", BoundAddress(listen_fd_.get())}});
  }

  auto notify = NotifyServer::Open();
  if (!notify.ok()) return notify.status();
  notify_server_.emplace(std::move(notify.value()));
  uv_poll_init(&loop_, &notify_poll_, notify_server_->fd());
  notify_poll_.data = this;
  uv_poll_start(&notify_poll_, UV_READABLE, [](uv_poll_t* handle, int, int) {
    auto* self = Self<Supervisor>(handle->data);
    self->notify_server_->Drain(
        [self](std::string_view datagram) { self->OnNotify(datagram); });
  });

  control_ = std::make_unique<ControlServer>(
      &loop_, [this](std::string_view request) { return OnControl(request); });
  if (Status status = control_->Listen(config_.data_dir + "/supervisor.sock");
      !status.ok()) {
    return status;
  }

  // Orphaned grandchildren (a bot's helpers) are re-parented to us and reaped,
  // as PID 1 would.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  uv_signal_init(&loop_, &sigchld_);
  sigchld_.data = this;
  uv_signal_start(
      &sigchld_,
      [](uv_signal_t* handle, int) {
        auto* self = Self<Supervisor>(handle->data);
        int wait_status = 0;
        pid_t pid;
        while ((pid = waitpid(-1, &wait_status, WNOHANG)) > 0)
          self->OnChildExited(pid, wait_status);
      },
      SIGCHLD);
  for (auto [handle, sig] :
       {std::pair{&sigterm_, SIGTERM}, {&sigint_, SIGINT}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int signum) {
          Self<Supervisor>(h->data)->Shutdown("signal", SignalName(signum));
        },
        sig);
  }
  uv_signal_init(&loop_, &sighup_);
  sighup_.data = this;
  uv_signal_start(
      &sighup_,
      [](uv_signal_t* h, int) { Self<Supervisor>(h->data)->Restart("sighup"); },
      SIGHUP);

  for (uv_timer_t* timer : {&poll_timer_, &stop_timer_, &backoff_timer_,
                            &systemd_watchdog_timer_}) {
    uv_timer_init(&loop_, timer);
    timer->data = this;
  }
  auto poll_ms = static_cast<uint64_t>(config_.memory_poll.count());
  uv_timer_start(
      &poll_timer_, [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnPoll(); },
      poll_ms, poll_ms);

  const char* watchdog_usec = std::getenv("WATCHDOG_USEC");
  const char* watchdog_pid = std::getenv("WATCHDOG_PID");
  auto period = common::NotifyClient::WatchdogPeriod(
      watchdog_usec ? watchdog_usec : "", watchdog_pid ? watchdog_pid : "",
      getpid());
  if (period && systemd_.enabled()) {
    auto half_ms =
        static_cast<uint64_t>(std::max<int64_t>(1, period->count() / 2000));
    uv_timer_start(
        &systemd_watchdog_timer_,
        [](uv_timer_t* t) {
          (void)Self<Supervisor>(t->data)->systemd_.Send("WATCHDOG=1");
        },
        half_ms, half_ms);
  }
  return Status::Ok();
}

std::vector<std::string> Supervisor::ChildEnvironment() const {
  // Our own systemd protocol variables are ours, not the worker's: it gets the
  // supervisor's.
  static constexpr std::string_view kReplaced[] = {
      "NOTIFY_SOCKET",   "WATCHDOG_USEC",     "WATCHDOG_PID",
      "LISTEN_FDS",      "LISTEN_PID",        "LISTEN_FDNAMES",
      "MEMORY_LIMIT_MB", "DYNOGUARD_RESTARTS"};
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string_view name = text.substr(0, text.find('='));
    bool replaced = false;
    for (auto r : kReplaced) replaced = replaced || name == r;
    if (!replaced) env.emplace_back(text);
  }
  env.push_back("NOTIFY_SOCKET=" + notify_server_->address());
  env.push_back("LISTEN_FDS=1");
  env.push_back("LISTEN_FDNAMES=http");
  env.push_back(
      fmt::format("MEMORY_LIMIT_MB={}", limit_bytes_ / (1024 * 1024)));
  env.push_back(fmt::format("DYNOGUARD_RESTARTS={}", restarts_));
  if (config_.worker_watchdog.count() > 0) {
    env.push_back(fmt::format("WATCHDOG_USEC={}",
                              config_.worker_watchdog.count() * 1000000));
  }
  return env;
}

Status Supervisor::Spawn() {
  SpawnOptions options;
  options.argv = command_;
  options.env = ChildEnvironment();
  options.listen_fd = listen_fd_.get();
  auto pid = SpawnChild(options);
  if (!pid.ok()) return pid.status();
  worker_pid_ = pid.value();
  worker_started_ = Clock::now();
  worker_ready_ = false;
  watchdog_armed_ = false;
  worker_status_.clear();
  policy_.Reset();
  last_sample_ = Sample{};
  last_logged_percent_ = -100;
  state_ = speaks_notify_ ? WorkerState::kStarting : WorkerState::kRunning;
  std::string joined;
  for (const auto& arg : command_) joined += (joined.empty() ? "" : " ") + arg;
  log_.Info("spawn", {{"pid", worker_pid_}, {"command", joined}});
  if (!speaks_notify_ && !told_systemd_ready_) {
    (void)systemd_.Send("READY=1");
    told_systemd_ready_ = true;
  }
  return Status::Ok();
}

void Supervisor::OnChildExited(pid_t pid, int wait_status) {
  if (pid != worker_pid_) {
    log_.Debug("reaped", {{"pid", pid}});
    return;
  }
  auto now = Clock::now();
  std::string uptime = FormatDuration(now - worker_started_);
  if (WIFSIGNALED(wait_status)) {
    log_.Info("exit", {{"pid", pid},
                       {"status", "killed"},
                       {"signal", SignalName(WTERMSIG(wait_status))},
                       {"uptime", uptime}});
  } else {
    log_.Info("exit", {{"pid", pid},
                       {"status", "exited"},
                       {"code", WEXITSTATUS(wait_status)},
                       {"uptime", uptime}});
  }
  // Whatever the worker left in its process group goes with it.
  kill(-pid, SIGKILL);
  uv_timer_stop(&stop_timer_);
  worker_pid_ = -1;
  bool planned = state_ == WorkerState::kStopping;

  if (shutting_down_) {
    Finish();
    return;
  }
  // Our worker exits 2 on a configuration it refuses (dynoguard's exit-code
  // convention); before it was ever ready that will not change by
  // restarting, so the supervisor stops and says so. Other commands have
  // conventions of their own and are restarted as any crash.
  if (speaks_notify_ && !planned && state_ == WorkerState::kStarting &&
      WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 2) {
    log_.Error("worker-config",
               {{"pid", pid},
                {"hint",
                 "the worker refused its configuration (exit 2, see its line "
                 "above); not restarting"}});
    exit_code_ = 2;
    shutting_down_ = true;
    Finish();
    return;
  }
  ++restarts_;
  if (planned) {
    if (Status status = Spawn(); !status.ok()) {
      log_.Error("spawn-failed", {{"error", status.message()}});
      state_ = WorkerState::kBackoff;
      uv_timer_start(
          &backoff_timer_,
          [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnBackoffElapsed(); },
          static_cast<uint64_t>(config_.restart_backoff_max.count()), 0);
    }
    return;
  }
  last_restart_reason_ = "crash";
  auto delay = backoff_.OnUnexpectedExit(worker_started_, now);
  if (backoff_.crash_loop()) {
    log_.Warn(
        "crash-loop",
        {{"failures", backoff_.consecutive_failures()},
         {"delay", FormatDuration(delay)},
         {"hint",
          "the worker keeps exiting soon after start; see its log above"}});
  }
  log_.Info("backoff", {{"delay", FormatDuration(delay)},
                        {"failures", backoff_.consecutive_failures()}});
  state_ = WorkerState::kBackoff;
  uv_timer_start(
      &backoff_timer_,
      [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnBackoffElapsed(); },
      static_cast<uint64_t>(delay.count()), 0);
}

void Supervisor::OnBackoffElapsed() {
  if (state_ != WorkerState::kBackoff || shutting_down_) return;
  if (Status status = Spawn(); !status.ok()) {
    log_.Error("spawn-failed", {{"error", status.message()}});
    auto delay = backoff_.OnUnexpectedExit(Clock::now(), Clock::now());
    uv_timer_start(
        &backoff_timer_,
        [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnBackoffElapsed(); },
        static_cast<uint64_t>(delay.count()), 0);
  }
}

void Supervisor::OnNotify(std::string_view datagram) {
  auto message = common::ParseNotifyMessage(datagram);
  auto now = Clock::now();
  if (message.ready && !worker_ready_ && worker_pid_ > 0) {
    worker_ready_ = true;
    // As systemd does, the watchdog clock starts at READY=1: a worker that
    // hangs before its first ping is caught too. Commands that never send
    // READY=1 arm it with their first ping.
    watchdog_armed_ = true;
    last_ping_ = now;
    if (state_ == WorkerState::kStarting) state_ = WorkerState::kRunning;
    log_.Info("ready", {{"pid", worker_pid_},
                        {"startup", FormatDuration(now - worker_started_)}});
    if (!told_systemd_ready_) {
      (void)systemd_.Send("READY=1");
      told_systemd_ready_ = true;
    }
  }
  if (message.watchdog) {
    last_ping_ = now;
    watchdog_armed_ = true;
  }
  if (message.status) {
    worker_status_ = *message.status;
    (void)systemd_.Send("STATUS=" + worker_status_);
  }
}

void Supervisor::OnPoll() {
  auto now = Clock::now();
  if (worker_pid_ <= 0 || state_ == WorkerState::kStopping) return;

  if (config_.worker_watchdog.count() > 0 && watchdog_armed_ &&
      now - last_ping_ > config_.worker_watchdog) {
    log_.Warn(
        "watchdog-timeout",
        {{"pid", worker_pid_}, {"silent", FormatDuration(now - last_ping_)}});
    Restart("watchdog");
    return;
  }

  auto reading =
      common::MeasureTree(procfs_, worker_pid_, config_.memory_source);
  if (!reading.ok()) {
    log_.Debug("memory-unreadable",
               {{"pid", worker_pid_}, {"error", reading.status().message()}});
    return;
  }
  auto decision = policy_.Decide({reading->bytes, limit_bytes_}, now);
  last_sample_ = {reading->bytes, decision.percent, reading->processes,
                  decision.level, true};

  if (decision.level_changed || now - last_memory_log_ >= kMemoryLogInterval ||
      std::fabs(decision.percent - last_logged_percent_) >=
          kMemoryLogStepPercent) {
    auto level = decision.level == MemoryLevel::kNormal
                     ? common::LogLevel::kInfo
                     : common::LogLevel::kWarn;
    log_.Log(level, "memory",
             {{common::ToString(config_.memory_source),
               FormatMegabytes(reading->bytes)},
              {"limit", FormatMegabytes(limit_bytes_)},
              {"", FormatPercent(decision.percent)},
              {"level", ToString(decision.level)},
              {"processes", reading->processes}});
    last_memory_log_ = now;
    last_logged_percent_ = decision.percent;
  }

  switch (decision.action) {
    case MemoryAction::kNone:
      break;
    case MemoryAction::kStandardCleanup:
    case MemoryAction::kEmergencyCleanup:
      SendCleanup(decision.action, "memory");
      break;
    case MemoryAction::kRestart:
      Restart(decision.reason,
              fmt::format("{}={} {}", common::ToString(config_.memory_source),
                          FormatMegabytes(reading->bytes),
                          FormatPercent(decision.percent)));
      break;
  }
}

void Supervisor::SendCleanup(MemoryAction action, std::string_view trigger) {
  if (worker_pid_ <= 0) return;
  bool emergency = action == MemoryAction::kEmergencyCleanup;
  kill(worker_pid_, emergency ? SIGUSR2 : SIGUSR1);
  last_cleanup_ = emergency ? "emergency" : "standard";
  log_.Log(emergency ? common::LogLevel::kWarn : common::LogLevel::kInfo,
           "cleanup",
           {{"level", last_cleanup_},
            {"pid", worker_pid_},
            {common::ToString(config_.memory_source),
             FormatMegabytes(last_sample_.bytes)},
            {"", FormatPercent(last_sample_.percent)},
            {"trigger", trigger}});
}

void Supervisor::Restart(std::string_view reason, std::string_view detail) {
  if (shutting_down_ || state_ == WorkerState::kStopping ||
      state_ == WorkerState::kStopped)
    return;
  last_restart_reason_ = std::string(reason);
  if (detail.empty()) {
    log_.Warn("restart", {{"reason", reason}, {"pid", worker_pid_}});
  } else {
    log_.Warn(
        "restart",
        {{"reason", reason}, {"pid", worker_pid_}, {"", std::string(detail)}});
  }
  if (state_ == WorkerState::kBackoff) {
    uv_timer_stop(&backoff_timer_);
    ++restarts_;
    if (Status status = Spawn(); !status.ok()) {
      log_.Error("spawn-failed", {{"error", status.message()}});
    }
    return;
  }
  StopWorker();
}

void Supervisor::StopWorker() {
  if (worker_pid_ <= 0) return;
  state_ = WorkerState::kStopping;
  kill(worker_pid_, SIGTERM);
  log_.Info(
      "stop",
      {{"pid", worker_pid_},
       {"signal", "SIGTERM"},
       {"timeout", fmt::format("{}s", config_.worker_stop_timeout.count())}});
  uv_timer_start(
      &stop_timer_,
      [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnStopTimeout(); },
      static_cast<uint64_t>(config_.worker_stop_timeout.count() * 1000), 0);
}

void Supervisor::OnStopTimeout() {
  if (worker_pid_ <= 0) return;
  log_.Warn("kill", {{"pid", worker_pid_},
                     {"after", FormatDuration(config_.worker_stop_timeout)},
                     {"signal", "SIGKILL"}});
  kill(-worker_pid_, SIGKILL);
  kill(worker_pid_, SIGKILL);
}

void Supervisor::Shutdown(std::string_view source, std::string_view what) {
  if (shutting_down_) {
    // Heroku may repeat SIGTERM; the stop already under way covers it.
    log_.Info("shutdown-pending", {{source, what}});
    return;
  }
  shutting_down_ = true;
  log_.Info("shutdown", {{source, what}});
  (void)systemd_.Send("STOPPING=1");
  if (worker_pid_ <= 0) {
    Finish();
    return;
  }
  if (state_ != WorkerState::kStopping) StopWorker();
}

void Supervisor::Finish() {
  if (finished_) return;
  finished_ = true;
  state_ = WorkerState::kStopped;
  if (worker_pid_ > 0) {
    // Only reached when set-up failed after a spawn: never leave the worker
    // behind.
    kill(-worker_pid_, SIGKILL);
    kill(worker_pid_, SIGKILL);
    int status = 0;
    waitpid(worker_pid_, &status, 0);
    worker_pid_ = -1;
  }
  if (control_) control_->Close();
  auto close_handle = [](auto* handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    if (h->loop != nullptr && !uv_is_closing(h)) uv_close(h, nullptr);
  };
  close_handle(&sigchld_);
  close_handle(&sigterm_);
  close_handle(&sigint_);
  close_handle(&sighup_);
  close_handle(&poll_timer_);
  close_handle(&stop_timer_);
  close_handle(&backoff_timer_);
  close_handle(&systemd_watchdog_timer_);
  close_handle(&notify_poll_);
  log_.Info("stopped", {{"restarts", restarts_}});
}

std::string Supervisor::OnControl(std::string_view request) {
  auto reply = [](bool ok, std::string_view what) {
    return fmt::format(R"({{"ok":{},"{}":"{}"}})", ok ? "true" : "false",
                       ok ? "action" : "error", what);
  };
  if (request == "ping") return reply(true, "pong");
  if (request == "status") return StatusJson();
  if (request == "restart") {
    if (shutting_down_) return reply(false, "the supervisor is stopping");
    Restart("control");
    return reply(true, "restart");
  }
  if (request == "stop") {
    Shutdown("control", "stop");
    return reply(true, "stop");
  }
  if (request == "cleanup standard" || request == "cleanup emergency") {
    if (worker_pid_ <= 0 || state_ == WorkerState::kStopping) {
      return reply(false, "no running worker");
    }
    bool emergency = request == "cleanup emergency";
    SendCleanup(emergency ? MemoryAction::kEmergencyCleanup
                          : MemoryAction::kStandardCleanup,
                "control");
    return reply(true, emergency ? "cleanup emergency" : "cleanup standard");
  }
  return reply(false, "unknown request");
}

std::string Supervisor::StatusJson() const {
  auto now = Clock::now();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto string = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("state");
  string(ToString(state_));
  w.Key("supervisor");
  w.StartObject();
  w.Key("pid");
  w.Int(getpid());
  w.Key("version");
  string(DYNOGUARD_VERSION);
  w.Key("uptime");
  w.Double(std::chrono::duration<double>(now - started_at_).count());
  w.EndObject();
  w.Key("worker");
  w.StartObject();
  w.Key("pid");
  if (worker_pid_ > 0) {
    w.Int(worker_pid_);
  } else {
    w.Null();
  }
  w.Key("ready");
  w.Bool(worker_ready_);
  w.Key("uptime");
  if (worker_pid_ > 0) {
    w.Double(std::chrono::duration<double>(now - worker_started_).count());
  } else {
    w.Null();
  }
  w.Key("status");
  string(worker_status_);
  w.Key("command");
  w.StartArray();
  for (const auto& arg : command_) string(arg);
  w.EndArray();
  w.EndObject();
  w.Key("memory");
  w.StartObject();
  w.Key("source");
  string(common::ToString(config_.memory_source));
  w.Key("bytes");
  w.Uint64(last_sample_.bytes);
  w.Key("limit");
  w.Uint64(limit_bytes_);
  w.Key("limitSource");
  string(limit_source_);
  w.Key("percent");
  w.Double(std::round(last_sample_.percent * 10) / 10);
  w.Key("level");
  string(ToString(last_sample_.level));
  w.Key("processes");
  w.Int(last_sample_.processes);
  w.Key("thresholds");
  w.StartObject();
  w.Key("standard");
  w.Double(config_.standard_percent);
  w.Key("emergency");
  w.Double(config_.emergency_percent);
  w.Key("restart");
  w.Double(config_.restart_percent);
  w.EndObject();
  w.Key("optimization");
  w.Bool(config_.memory_optimization);
  w.EndObject();
  w.Key("restarts");
  w.Int(restarts_);
  w.Key("lastRestartReason");
  if (last_restart_reason_.empty()) {
    w.Null();
  } else {
    string(last_restart_reason_);
  }
  w.Key("lastCleanup");
  if (last_cleanup_.empty()) {
    w.Null();
  } else {
    string(last_cleanup_);
  }
  w.Key("crashLoop");
  w.Bool(backoff_.crash_loop());
  w.EndObject();
  return buffer.GetString();
}

}  // namespace dynoguard::supervisor
