#include "supervisor/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/json_writer.h"
#include "common/listen_fds.h"
#include "common/listen_socket.h"
#include "common/memory_probe.h"
#include "common/notify_message.h"
#include "common/private_dir.h"
#include "common/time_format.h"
#include "supervisor/child_process.h"

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

MachineOptions MachineOptionsFrom(const common::Config& config,
                                  bool speaks_notify) {
  MachineOptions o;
  o.start_timeout = config.worker_start_timeout;
  o.stop_timeout = config.worker_stop_timeout;
  o.watchdog = config.worker_watchdog;
  o.backoff_min = config.restart_backoff_min;
  o.backoff_max = config.restart_backoff_max;
  o.exit_2_before_ready_is_fatal = speaks_notify;
  return o;
}

template <typename T>
T* Self(void* data) {
  return static_cast<T*>(data);
}

}  // namespace

Supervisor::Supervisor(const common::Config& config, const common::Logger& log,
                       std::vector<std::string> command, bool speaks_notify)
    : config_(config),
      log_(log),
      command_(std::move(command)),
      speaks_notify_(speaks_notify),
      protocol_(ResolveWorkerProtocol(config, speaks_notify)),
      policy_(ThresholdsFrom(config)),
      machine_(MachineOptionsFrom(config, speaks_notify)) {}

Supervisor::~Supervisor() {
  if (!exit_code_) Finish(1);
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_loop_close(&loop_);
}

int Supervisor::Run() {
  uv_loop_init(&loop_);
  if (Status status = CheckMemorySource(); !status.ok()) {
    log_.Error("memory-unmeasurable",
               {{"source", common::ToString(config_.memory_source)},
                {"error", status.message()},
                {"hint",
                 "nothing started: the budget cannot be guarded; "
                 "MEMORY_SOURCE=rss works wherever /proc does"}});
    exit_code_ = 2;
    return 2;
  }
  if (Status status = Prepare(); !status.ok()) {
    log_.Error("setup-failed", {{"error", status.message()}});
    Finish(1);
    return 1;
  }
  if (Status status = SpawnWorker(); !status.ok()) {
    log_.Error("spawn-failed",
               {{"command", command_[0]}, {"error", status.message()}});
    Finish(1);
    return 1;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_.value_or(0);
}

// The first sample, before anything is started: a source that cannot be
// measured here (MEMORY_SOURCE=cgroup in a root cgroup, pss without
// smaps_rollup) would leave the budget unguarded. The supervisor's own
// process stands in for the worker: same cgroup, same /proc.
Status Supervisor::CheckMemorySource() {
  auto reading = common::MeasureTree(procfs_, getpid(), config_.memory_source);
  if (!reading.ok()) return reading.status();
  return Status::Ok();
}

Status Supervisor::Prepare() {
  if (Status status = common::CreatePrivateDirectory(config_.data_dir);
      !status.ok()) {
    return Status::IOError("DATA_DIR", status.message());
  }

  // The budget: configured, else the cgroup limit, else MemTotal.
  auto limit = common::ResolveMemoryLimit(config_.memory_limit_bytes, procfs_);
  if (!limit.ok()) return limit.status();
  limit_bytes_ = limit->bytes;
  limit_source_ = limit->source;

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
             {"optimization", config_.memory_optimization},
             {"protocol", Describe(protocol_)}});

  // The listening socket: inherited from systemd socket activation, else bound
  // here.
  const char* listen_fds = std::getenv("LISTEN_FDS");
  const char* listen_pid = std::getenv("LISTEN_PID");
  auto inherited = common::ParseListenFds(
      listen_fds ? listen_fds : "", listen_pid ? listen_pid : "", getpid());
  if (protocol_.listen_socket == common::ListenSocketMode::kNone) {
    // LISTEN_SOCKET=none: the command binds PORT itself.
  } else if (inherited.ok() && inherited.value() >= 1) {
    listen_fd_.Reset(common::kListenFdsStart);
    log_.Info("listen", {{"address", common::BoundAddress(listen_fd_.get())},
                         {"from", "systemd"}});
  } else {
    auto opened = common::OpenListenSocket(config_.host, config_.port);
    if (!opened.ok()) return opened.status();
    listen_fd_ = std::move(opened.value());
    log_.Info("listen", {{"address", common::BoundAddress(listen_fd_.get())}});
  }

  auto notify = NotifyServer::Open();
  if (!notify.ok()) return notify.status();
  notify_server_.emplace(std::move(notify.value()));
  // Only the current worker's processes speak for it (SO_PASSCRED): a late
  // datagram from a previous worker or a forged WATCHDOG=1 is dropped.
  notify_server_->set_sender_filter(
      [this](pid_t pid) { return tree_.Contains(worker_pid_, pid); });
  notify_server_->set_rejected_handler(
      [this](pid_t pid, uid_t uid, uint64_t total) {
        // A sender that is gone is a previous worker's last word (routine);
        // a live one outside the tree is worth a warning.
        bool alive = pid > 0 && kill(pid, 0) == 0;
        log_.Log(alive ? common::LogLevel::kWarn : common::LogLevel::kDebug,
                 "notify-ignored",
                 {{"pid", pid},
                  {"uid", static_cast<int64_t>(uid)},
                  {"ignored", static_cast<int64_t>(total)},
                  {"reason", alive ? "not-the-worker" : "sender-gone"}});
      });
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
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log_.Warn("subreaper-failed",
              {{"error", std::strerror(errno)},
               {"hint", "orphaned processes of the worker go to init"}});
  }
  // A control client or systemd that went away must not kill us on a write.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0)
    return Status::IOError("sigaction SIGPIPE", std::strerror(errno));

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
          auto* self = Self<Supervisor>(h->data);
          Event e = self->Make(EventKind::kStopRequest);
          e.source_key = "signal";
          e.source = SignalName(signum);
          self->Dispatch(std::move(e));
        },
        sig);
  }
  uv_signal_init(&loop_, &sighup_);
  sighup_.data = this;
  uv_signal_start(
      &sighup_,
      [](uv_signal_t* h, int) {
        auto* self = Self<Supervisor>(h->data);
        Event e = self->Make(EventKind::kRestartRequest);
        e.reason = "sighup";
        self->Dispatch(std::move(e));
      },
      SIGHUP);

  for (uv_timer_t* timer :
       {&poll_timer_, &stop_timer_, &backoff_timer_, &start_timer_,
        &watchdog_timer_, &systemd_watchdog_timer_}) {
    uv_timer_init(&loop_, timer);
    timer->data = this;
  }
  SetPollPeriod(config_.memory_poll);

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
  if (listen_fd_) {
    env.push_back("LISTEN_FDS=1");
    env.push_back("LISTEN_FDNAMES=http");
  }
  env.push_back(
      fmt::format("MEMORY_LIMIT_MB={}", limit_bytes_ / (1024 * 1024)));
  env.push_back(
      fmt::format("DYNOGUARD_RESTARTS={}", machine_.context().restarts));
  if (config_.worker_watchdog.count() > 0) {
    env.push_back(fmt::format("WATCHDOG_USEC={}",
                              config_.worker_watchdog.count() * 1000000));
  }
  return env;
}

// ------------------------------------------------------------ the table

Event Supervisor::Make(EventKind kind) const {
  Event e;
  e.kind = kind;
  e.now = Clock::now();
  return e;
}

Step Supervisor::Dispatch(Event event) {
  const WorkerState before = machine_.state();
  Step step = machine_.Handle(event);
  if (step.next != before) {
    log_.Debug("transition", {{"from", StateName(before)},
                              {"event", ToString(event.kind)},
                              {"to", StateName(step.next)}});
  }
  Perform(step);
  return step;
}

// Runs the actions in order. kSpawn feeds its outcome back (Dispatch), so it
// comes last in the lists the table returns.
void Supervisor::Perform(const Step& step) {
  for (const Action& action : step.actions) {
    const auto delay_ms = static_cast<uint64_t>(action.delay.count());
    switch (action.kind) {
      case ActionKind::kSpawn:
        Spawn();
        break;
      case ActionKind::kArmStartTimer:
        uv_timer_start(
            &start_timer_,
            [](uv_timer_t* t) {
              auto* self = Self<Supervisor>(t->data);
              self->Dispatch(self->Make(EventKind::kStartTimeout));
            },
            delay_ms, 0);
        break;
      case ActionKind::kDisarmStartTimer:
        uv_timer_stop(&start_timer_);
        break;
      case ActionKind::kArmWatchdog:
        uv_timer_start(
            &watchdog_timer_,
            [](uv_timer_t* t) {
              auto* self = Self<Supervisor>(t->data);
              self->Dispatch(self->Make(EventKind::kWatchdogTimeout));
            },
            delay_ms, 0);
        break;
      case ActionKind::kArmBackoff:
        uv_timer_start(
            &backoff_timer_,
            [](uv_timer_t* t) {
              auto* self = Self<Supervisor>(t->data);
              self->Dispatch(self->Make(EventKind::kBackoffElapsed));
            },
            delay_ms, 0);
        break;
      case ActionKind::kStop:
        SignalWorker(protocol_.stop_signal, action.delay);
        break;
      case ActionKind::kAbort:
        SignalWorker(SIGABRT, action.delay);
        break;
      case ActionKind::kKill:
        Kill();
        break;
      case ActionKind::kReap:
        Reap();
        break;
      case ActionKind::kCleanup:
        SendCleanup(action.cleanup, action.text);
        break;
      case ActionKind::kResetMemoryPolicy:
        policy_.Reset();
        last_sample_ = Sample{};
        last_logged_percent_ = -100;
        SetPollPeriod(config_.memory_poll);
        break;
      case ActionKind::kTellSystemdReady:
        (void)systemd_.Send("READY=1");
        break;
      case ActionKind::kTellSystemdStopping:
        (void)systemd_.Send("STOPPING=1");
        break;
      case ActionKind::kFinish:
        Finish(action.exit_code);
        break;
      case ActionKind::kRefuse:
        break;  // the caller answers with action.text
      case ActionKind::kLog:
        WriteNote(action);
        break;
    }
  }
}

void Supervisor::WriteNote(const Action& a) {
  switch (a.note) {
    case Note::kReady:
      log_.Info("ready",
                {{"pid", a.pid}, {"startup", FormatDuration(a.delay)}});
      break;
    case Note::kRestart:
      history_.AddEvent(common::WallClockMs(),
                        common::MemoryEventKind::kRestart, a.text);
      if (a.detail.empty()) {
        log_.Warn("restart", {{"reason", a.text}, {"pid", a.pid}});
      } else {
        log_.Warn("restart",
                  {{"reason", a.text}, {"pid", a.pid}, {"", a.detail}});
      }
      break;
    case Note::kBackoff:
      log_.Info("backoff",
                {{"delay", FormatDuration(a.delay)}, {"failures", a.failures}});
      break;
    case Note::kThrottle:
      log_.Info("throttle",
                {{"delay", FormatDuration(a.delay)}, {"failures", a.failures}});
      break;
    case Note::kCrashLoop:
      log_.Warn("crash-loop",
                {{"failures", a.failures},
                 {"delay", FormatDuration(a.delay)},
                 {"hint",
                  "the worker keeps failing soon after start; see its log "
                  "above"}});
      break;
    case Note::kStartsAbove:
      log_.Warn("restart-hint",
                {{"pid", a.pid},
                 {"hint",
                  "starts above the restart threshold: raise MEMORY_LIMIT_MB "
                  "or MEMORY_RESTART_PERCENT"}});
      break;
    case Note::kStartTimeout:
      log_.Warn("start-timeout",
                {{"pid", a.pid},
                 {"after", FormatDuration(a.delay)},
                 {"hint", "not ready within WORKER_START_TIMEOUT_S"}});
      break;
    case Note::kWatchdogTimeout:
      log_.Warn("watchdog-timeout",
                {{"pid", a.pid}, {"silent", FormatDuration(a.delay)}});
      break;
    case Note::kConfigRefused:
      log_.Error("worker-config",
                 {{"pid", a.pid},
                  {"hint",
                   "the worker refused its configuration (exit 2, see its line "
                   "above); not restarting"}});
      break;
    case Note::kShutdown:
      log_.Info("shutdown", {{a.text_key, a.text}});
      break;
    case Note::kShutdownPending:
      log_.Info("shutdown-pending", {{a.text_key, a.text}});
      break;
    case Note::kCleanupDeferred:
      log_.Debug("cleanup-deferred", {{"pid", a.pid}, {"until", "ready"}});
      break;
  }
}

// ------------------------------------------------------------ actions

Status Supervisor::SpawnWorker() {
  SpawnOptions options;
  options.argv = command_;
  options.env = ChildEnvironment();
  options.listen_fd = listen_fd_ ? listen_fd_.get() : -1;
  auto pid = SpawnChild(options);
  if (!pid.ok()) return pid.status();
  worker_pid_ = pid.value();
  worker_started_ = Clock::now();
  worker_status_.clear();
  std::string joined;
  for (const auto& arg : command_) joined += (joined.empty() ? "" : " ") + arg;
  log_.Info("spawn", {{"pid", worker_pid_}, {"command", joined}});
  history_.AddEvent(common::WallClockMs(),
                    common::MemoryEventKind::kWorkerStart,
                    machine_.context().restarts > 0 ? "restart" : "");
  Event spawned = Make(EventKind::kSpawned);
  spawned.pid = worker_pid_;
  Dispatch(std::move(spawned));
  StartReadiness();
  return Status::Ok();
}

// WORKER_READY: `started` is ready at exec, `http:/PATH` at the probe's first
// answer, `notify` at READY=1 (OnNotify). Each feeds the same kReady event.
void Supervisor::StartReadiness() {
  switch (protocol_.ready.mode) {
    case common::ReadyMode::kStarted:
      Dispatch(Make(EventKind::kReady));
      break;
    case common::ReadyMode::kNotify:
      break;
    case common::ReadyMode::kHttp: {
      HttpReadinessProbe::Options probe;
      probe.port =
          listen_fd_ ? common::BoundPort(listen_fd_.get()) : config_.port;
      probe.path = protocol_.ready.http_path;
      http_probe_ = std::make_unique<HttpReadinessProbe>(
          &loop_, probe, [this, pid = worker_pid_] {
            if (pid == worker_pid_) Dispatch(Make(EventKind::kReady));
          });
      http_probe_->Start();
      break;
    }
  }
}

void Supervisor::Spawn() {
  if (Status status = SpawnWorker(); !status.ok()) {
    log_.Error("spawn-failed",
               {{"command", command_[0]}, {"error", status.message()}});
    Dispatch(Make(EventKind::kSpawnFailed));
  }
}

void Supervisor::OnChildExited(pid_t pid, int wait_status) {
  if (pid != worker_pid_) {
    log_.Debug("reaped", {{"pid", pid}});
    return;
  }
  Event e = Make(EventKind::kChildExit);
  std::string uptime = FormatDuration(e.now - worker_started_);
  if (WIFSIGNALED(wait_status)) {
    e.exit.signaled = true;
    e.exit.signal = WTERMSIG(wait_status);
    log_.Info("exit", {{"pid", pid},
                       {"status", "killed"},
                       {"signal", SignalName(e.exit.signal)},
                       {"uptime", uptime}});
  } else {
    e.exit.code = WEXITSTATUS(wait_status);
    log_.Info("exit", {{"pid", pid},
                       {"status", "exited"},
                       {"code", e.exit.code},
                       {"uptime", uptime}});
  }
  // A stop under way: what is left of the worker (the bot behind a wrapper
  // that died first, a helper that left the group) keeps the rest of the stop
  // timeout before the exit counts; the stop timer's SIGKILL ends the wait.
  const WorkerState state = machine_.state();
  if (state == WorkerState::kStarting || state == WorkerState::kRunning) {
    history_.AddEvent(common::WallClockMs(), common::MemoryEventKind::kExit,
                      e.exit.signaled ? SignalName(e.exit.signal)
                                      : fmt::format("code={}", e.exit.code));
  }
  if ((state == WorkerState::kStoppingForRestart ||
       state == WorkerState::kStoppingForExit) &&
      tree_.AnyLeft(pid)) {
    log_.Info("stop-wait", {{"pid", pid}, {"for", "descendants"}});
    leftovers_.Start(pid, [this, e]() { Dispatch(e); });
    return;
  }
  Dispatch(std::move(e));
}

void Supervisor::Reap() {
  if (worker_pid_ > 0) {
    // Whatever the worker left, in its group or re-parented to us, goes with
    // it.
    tree_.SignalAll(worker_pid_, SIGKILL);
  }
  http_probe_.reset();
  uv_timer_stop(&stop_timer_);
  uv_timer_stop(&start_timer_);
  uv_timer_stop(&watchdog_timer_);
  worker_pid_ = -1;
  unreadable_samples_ = 0;
}

void Supervisor::OnNotify(std::string_view datagram) {
  auto message = common::ParseNotifyMessage(datagram);
  if (worker_pid_ <= 0) return;
  if (message.ready) Dispatch(Make(EventKind::kReady));
  if (message.watchdog) Dispatch(Make(EventKind::kWatchdogPing));
  if (message.status) {
    worker_status_ = *message.status;
    (void)systemd_.Send("STATUS=" + worker_status_);
  }
}

void Supervisor::SetPollPeriod(std::chrono::milliseconds period) {
  if (period == poll_period_) return;
  poll_period_ = period;
  auto ms = static_cast<uint64_t>(period.count());
  uv_timer_start(
      &poll_timer_, [](uv_timer_t* t) { Self<Supervisor>(t->data)->OnPoll(); },
      ms, ms);
}

void Supervisor::OnPoll() {
  const WorkerState state = machine_.state();
  if (worker_pid_ <= 0 ||
      (state != WorkerState::kStarting && state != WorkerState::kRunning)) {
    return;
  }
  auto now = Clock::now();
  auto reading = common::MeasureWorker(procfs_, getpid(), worker_pid_,
                                       config_.memory_source);
  if (!reading.ok()) {
    // One failed sample is routine (the worker may be exiting); twice in a
    // row means the budget is not guarded: say so once, at warn level.
    if (++unreadable_samples_ >= 2 && unreadable_warnings_++ == 0) {
      log_.Warn("memory-unmeasurable",
                {{"pid", worker_pid_},
                 {"source", common::ToString(config_.memory_source)},
                 {"error", reading.status().message()}});
    } else {
      log_.Debug("memory-unreadable",
                 {{"pid", worker_pid_}, {"error", reading.status().message()}});
    }
    return;
  }
  unreadable_samples_ = 0;
  history_.AddSample(common::WallClockMs(), reading->bytes);
  auto decision = policy_.Decide({reading->bytes, limit_bytes_}, now);
  last_sample_ = {reading->bytes, decision.percent, reading->processes,
                  decision.level};

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

  // A fast leak crosses the last 25 points of the budget in a few seconds:
  // from the standard threshold on, sample every MEMORY_POLL_FAST_MS until
  // back under it. Below it, one sample per MEMORY_POLL_MS keeps idle CPU
  // where it was.
  SetPollPeriod(policy_.NextPoll(decision, config_.memory_poll,
                                 config_.memory_poll_fast));

  Event e = Make(EventKind::kMemorySample);
  e.now = now;
  e.memory = decision.action;
  e.memory_reason = decision.reason;
  if (decision.action == MemoryAction::kRestart) {
    e.detail = fmt::format("{}={} {}", common::ToString(config_.memory_source),
                           FormatMegabytes(reading->bytes),
                           FormatPercent(decision.percent));
  }
  Dispatch(std::move(e));
}

void Supervisor::SendCleanup(MemoryAction action, std::string_view trigger) {
  if (worker_pid_ <= 0) return;
  // CLEANUP_SIGNALS=none: the command has no cleanup; restarts still happen.
  if (!protocol_.cleanup.enabled) return;
  bool emergency = action == MemoryAction::kEmergencyCleanup;
  // To the whole group: a bot behind a shell wrapper gets it too.
  tree_.SignalGroup(worker_pid_, emergency ? protocol_.cleanup.emergency
                                           : protocol_.cleanup.standard);
  last_cleanup_ = emergency ? "emergency" : "standard";
  history_.AddEvent(common::WallClockMs(),
                    emergency ? common::MemoryEventKind::kEmergencyCleanup
                              : common::MemoryEventKind::kStandardCleanup,
                    trigger, last_sample_.bytes);
  log_.Log(emergency ? common::LogLevel::kWarn : common::LogLevel::kInfo,
           "cleanup",
           {{"level", last_cleanup_},
            {"pid", worker_pid_},
            {common::ToString(config_.memory_source),
             FormatMegabytes(last_sample_.bytes)},
            {"", FormatPercent(last_sample_.percent)},
            {"trigger", trigger}});
}

// The stop (SIGTERM) or, for a hung worker, SIGABRT; SIGKILL follows after
// `grace` (the stop timer).
void Supervisor::SignalWorker(int sig, std::chrono::milliseconds grace) {
  if (worker_pid_ <= 0) return;
  // The stop signal goes to the group and every descendant (a bot behind a
  // wrapper, a helper that left the group); SIGABRT, for a core of the hung
  // worker, to the worker alone.
  if (sig == SIGABRT) {
    kill(worker_pid_, sig);
  } else {
    tree_.SignalAll(worker_pid_, sig);
  }
  stop_grace_ = grace;
  log_.Log(sig == SIGABRT ? common::LogLevel::kWarn : common::LogLevel::kInfo,
           "stop",
           {{"pid", worker_pid_},
            {"signal", SignalName(sig)},
            {"timeout", FormatDuration(grace)}});
  uv_timer_start(
      &stop_timer_,
      [](uv_timer_t* t) {
        auto* self = Self<Supervisor>(t->data);
        self->Dispatch(self->Make(EventKind::kStopTimeout));
      },
      static_cast<uint64_t>(grace.count()), 0);
}

void Supervisor::Kill() {
  if (worker_pid_ <= 0) return;
  log_.Warn("kill", {{"pid", worker_pid_},
                     {"after", FormatDuration(stop_grace_)},
                     {"signal", "SIGKILL"}});
  tree_.SignalAll(worker_pid_, SIGKILL);
  kill(worker_pid_, SIGKILL);
}

void Supervisor::Finish(int exit_code) {
  if (exit_code_) return;
  exit_code_ = exit_code;
  if (worker_pid_ > 0) {
    // Only reached when set-up failed after a spawn: never leave the worker
    // behind.
    tree_.SignalAll(worker_pid_, SIGKILL);
    kill(worker_pid_, SIGKILL);
    int status = 0;
    waitpid(worker_pid_, &status, 0);
    worker_pid_ = -1;
  }
  if (control_) control_->Close();
  http_probe_.reset();
  leftovers_.Close();
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
  close_handle(&start_timer_);
  close_handle(&watchdog_timer_);
  close_handle(&systemd_watchdog_timer_);
  close_handle(&notify_poll_);
  log_.Info("stopped", {{"restarts", machine_.context().restarts}});
}

std::string Supervisor::OnControl(std::string_view request) {
  auto reply = [](bool ok, std::string_view what) {
    return fmt::format(R"({{"ok":{},"{}":"{}"}})", ok ? "true" : "false",
                       ok ? "action" : "error", what);
  };
  // The table's answer: refused with its reason, or done.
  auto answer = [&](const Step& step, std::string_view done) {
    for (const Action& action : step.actions) {
      if (action.kind == ActionKind::kRefuse) return reply(false, action.text);
    }
    return reply(true, done);
  };
  if (request == "ping") return reply(true, "pong");
  if (request == "status") return StatusJson();
  if (request == "history") return HistoryJson();
  if (request == "restart") {
    Event e = Make(EventKind::kRestartRequest);
    e.reason = "control";
    return answer(Dispatch(std::move(e)), "restart");
  }
  if (request == "stop") {
    Event e = Make(EventKind::kStopRequest);
    e.source_key = "control";
    e.source = "stop";
    return answer(Dispatch(std::move(e)), "stop");
  }
  if (request == "cleanup standard" || request == "cleanup emergency") {
    bool emergency = request == "cleanup emergency";
    Event e = Make(EventKind::kCleanupRequest);
    e.cleanup = emergency ? MemoryAction::kEmergencyCleanup
                          : MemoryAction::kStandardCleanup;
    return answer(Dispatch(std::move(e)),
                  emergency ? "cleanup emergency" : "cleanup standard");
  }
  return reply(false, "unknown request");
}

// The memory samples and events since the supervisor started, for the
// worker's /dashboard (the worker asks over the control socket).
std::string Supervisor::HistoryJson() const {
  common::MemoryHistorySnapshot snapshot = history_.Snapshot();
  snapshot.now_ms = common::WallClockMs();
  snapshot.limit_bytes = limit_bytes_;
  snapshot.source = common::ToString(config_.memory_source);
  snapshot.keeper = "supervisor";
  snapshot.standard_percent = config_.standard_percent;
  snapshot.emergency_percent = config_.emergency_percent;
  snapshot.restart_percent = config_.restart_percent;
  return common::MemoryHistoryJson(snapshot);
}

std::string Supervisor::StatusJson() const {
  auto now = Clock::now();
  common::JsonWriter w;
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  const WorkerState state = machine_.state();
  const MachineContext& context = machine_.context();
  w.Key("state");
  w.String(ToString(state));
  w.Key("supervisor");
  w.StartObject();
  w.Key("pid");
  w.Int(getpid());
  w.Key("version");
  w.String(DYNOGUARD_VERSION);
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
  w.Bool(state == WorkerState::kRunning);
  w.Key("uptime");
  if (worker_pid_ > 0) {
    w.Double(std::chrono::duration<double>(now - worker_started_).count());
  } else {
    w.Null();
  }
  w.Key("status");
  w.String(worker_status_);
  w.Key("command");
  w.StartArray();
  for (const auto& arg : command_) w.String(arg);
  w.EndArray();
  w.EndObject();
  w.Key("memory");
  w.StartObject();
  w.Key("source");
  w.String(common::ToString(config_.memory_source));
  w.Key("bytes");
  w.Uint(last_sample_.bytes);
  w.Key("limit");
  w.Uint(limit_bytes_);
  w.Key("limitSource");
  w.String(limit_source_);
  w.Key("percent");
  w.Double(std::round(last_sample_.percent * 10) / 10);
  w.Key("level");
  w.String(ToString(last_sample_.level));
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
  w.Int(context.restarts);
  w.Key("lastRestartReason");
  if (context.last_restart_reason.empty()) {
    w.Null();
  } else {
    w.String(context.last_restart_reason);
  }
  w.Key("lastCleanup");
  if (last_cleanup_.empty()) {
    w.Null();
  } else {
    w.String(last_cleanup_);
  }
  w.Key("crashLoop");
  w.Bool(machine_.crash_loop(now));
  w.Key("failures");
  w.Int(context.backoff.consecutive_failures());
  w.EndObject();
  return w.str();
}

}  // namespace dynoguard::supervisor
