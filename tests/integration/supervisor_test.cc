// The supervisor from the outside: the real binary supervising the test
// worker, on a real port, in a temporary DATA_DIR, judged by its log lines,
// its control commands, the signals the worker records and /proc.
//
// Budget in every test: MEMORY_LIMIT_MB=200, so standard cleanup starts at
// 140 MB (70%), emergency at 170 MB (85%), restart at 190 MB (95%).
#include <rapidjson/document.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/proc_scan.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::testing::Completed;
using dynoguard::testing::Process;
using dynoguard::testing::SpawnOptions;
using dynoguard::testing::TempDir;
namespace t = dynoguard::testing;

using Env = std::map<std::string, std::string>;

constexpr auto kWait = 20s;
constexpr uint64_t kMegabyte = 1024 * 1024;

// One supervisor running the test worker. The constructor starts it; tests
// wait for what they need (WaitReady, WaitLog). Every failed wait prints the
// supervisor's log.
class Guarded {
 public:
  // PORT=0: the supervisor binds a free port and logs it (port() reads it
  // from that line), so no other test can take the port between a choice
  // and the bind.
  explicit Guarded(const Env& overrides = {}) {
    env_ = {{"HOST", "127.0.0.1"},
            {"PORT", "0"},
            {"DATA_DIR", dir_.path()},
            {"MEMORY_LIMIT_MB", "200"},
            {"MEMORY_SOURCE", "rss"},
            {"MEMORY_POLL_MS", "100"},
            {"MEMORY_STANDARD_PERCENT", "70"},
            {"MEMORY_EMERGENCY_PERCENT", "85"},
            {"MEMORY_RESTART_PERCENT", "95"},
            {"MEMORY_EMERGENCY_GRACE_S", "15"},
            {"MEMORY_CLEANUP_COOLDOWN_S", "30"},
            {"WORKER_STOP_TIMEOUT_S", "2"},
            {"WORKER_WATCHDOG_S", "0"},
            {"RESTART_BACKOFF_MIN_MS", "50"},
            {"RESTART_BACKOFF_MAX_MS", "400"},
            {"LOG_FORMAT", "text"},
            // The test worker speaks all our protocols: it opts in as another
            // COMMAND would (the defaults are for any bot).
            {"LISTEN_SOCKET", "pass"},
            {"CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2"},
            {"WORKER_READY", "notify"}};
    for (const auto& [key, value] : overrides) env_[key] = value;
    SpawnOptions options;
    options.args = {"start", "--", DYNOGUARD_TEST_WORKER_BIN};
    options.env = env_;
    options.log_path = dir_.File("supervisor.log");
    auto spawned = Process::Spawn(DYNOGUARD_SUPERVISOR_BIN, options);
    INFO(spawned.status().ToString());
    REQUIRE(spawned.ok());
    supervisor_.emplace(std::move(spawned).value());
  }

  Process& supervisor() { return *supervisor_; }
  const Process& supervisor() const { return *supervisor_; }
  const TempDir& dir() const { return dir_; }
  // The port the supervisor listens on, from its `listen` line (waited for).
  int port() {
    if (port_ == 0) {
      port_ =
          std::stoi(WaitLog(R"(supervisor: listen address=[0-9.]+:(\d+))")[1]);
    }
    return port_;
  }
  std::string Log() const { return supervisor_->LogText(); }
  // An offset: later waits look only at lines logged after this point.
  size_t Mark() const { return supervisor_->LogSize(); }

  // Waits for a line matching `regex` after `from`; returns its groups.
  // `end` (if set) gets the offset just past that line.
  std::vector<std::string> WaitLog(const std::string& regex, size_t from = 0,
                                   size_t* end = nullptr) {
    auto match = supervisor_->WaitForLogMatch(regex, kWait, from, end);
    INFO("waited for /" << regex << "/ in the supervisor log:\n" << Log());
    REQUIRE(match.has_value());
    return *match;
  }

  // The pid of the next worker that reports READY=1 after `from`.
  pid_t WaitReady(size_t from = 0) {
    return std::stoi(WaitLog(R"(supervisor: ready pid=(\d+))", from)[1]);
  }

  // Sends one line to the worker behind the supervisor's socket.
  std::string Ask(const std::string& line) {
    auto answer = t::LineRequest(port(), line, kWait);
    INFO("request '" << line << "': " << answer.status().ToString()
                     << "\nsupervisor log:\n"
                     << Log());
    REQUIRE(answer.ok());
    return *answer;
  }

  // `supervisor <args>` as a control client with the same DATA_DIR.
  Completed Control(std::vector<std::string> args) {
    auto done = t::Run(DYNOGUARD_SUPERVISOR_BIN, std::move(args),
                       {{"DATA_DIR", dir_.path()}}, dir_.path(), kWait);
    INFO(done.status().ToString());
    REQUIRE(done.ok());
    return *done;
  }

  // `supervisor status --json`, parsed.
  rapidjson::Document Status() {
    Completed done = Control({"status", "--json"});
    INFO("status --json: exit " << done.exit_code
                                << "\nstdout: " << done.stdout_text
                                << "\nstderr: " << done.stderr_text);
    REQUIRE(done.exit_code == 0);
    rapidjson::Document doc;
    doc.Parse(done.stdout_text.c_str());
    REQUIRE(!doc.HasParseError());
    // The shape the contract fixes; checked here so that tests can index it
    // (RapidJSON asserts on a missing member).
    REQUIRE(doc.IsObject());
    REQUIRE(doc.HasMember("state"));
    REQUIRE(doc.HasMember("restarts"));
    REQUIRE(doc["restarts"].IsInt());
    REQUIRE(doc.HasMember("lastRestartReason"));
    REQUIRE(doc.HasMember("worker"));
    REQUIRE(doc["worker"].IsObject());
    REQUIRE(doc["worker"].HasMember("pid"));
    REQUIRE(doc.HasMember("memory"));
    const auto& memory = doc["memory"];
    REQUIRE(memory.IsObject());
    for (const char* key : {"bytes", "limit", "percent"}) {
      INFO("memory." << key);
      REQUIRE(memory.HasMember(key));
      REQUIRE(memory[key].IsNumber());
    }
    REQUIRE(memory["bytes"].IsUint64());
    REQUIRE(memory["limit"].IsUint64());
    return doc;
  }

  // Grows the test worker's ballast so that its tree sits at about
  // `percent` of the 200 MB budget, whatever the build's own footprint
  // (a sanitizer build starts tens of MB higher). Returns the MB grown.
  long GrowTo(double percent) {
    const long mb = static_cast<long>(percent * 2.0) - BaselineMegabytes();
    INFO("baseline " << BaselineMegabytes() << " MB, target " << percent
                     << "%");
    REQUIRE(mb > 0);
    REQUIRE(Ask("grow " + std::to_string(mb)) == "ok " + std::to_string(mb));
    return mb;
  }

  // The worker's memory before it grew anything, as the supervisor samples
  // it (rounded up to whole MB); measured once.
  long BaselineMegabytes() {
    if (baseline_mb_ > 0) return baseline_mb_;
    uint64_t bytes = 0;
    bool sampled = t::WaitUntil(
        [&] {
          bytes = Status()["memory"]["bytes"].GetUint64();
          return bytes > 0;
        },
        kWait, 50ms);
    INFO(Log());
    REQUIRE(sampled);
    baseline_mb_ = static_cast<long>((bytes + kMegabyte - 1) / kMegabyte);
    return baseline_mb_;
  }

  // The lines the test worker(s) appended to $DATA_DIR/test_worker.signals.
  std::string SignalsFile() const {
    return t::ReadFileText(dir_.File("test_worker.signals")).value_or("");
  }
  bool Recorded(const std::string& signal_name, pid_t pid) const {
    return SignalsFile().find(signal_name + " " + std::to_string(pid) + "\n") !=
           std::string::npos;
  }
  // Waits until the worker `pid` recorded `signal_name`.
  void WaitSignal(const std::string& signal_name, pid_t pid) {
    bool seen = t::WaitUntil([&] { return Recorded(signal_name, pid); }, kWait);
    INFO("waited for '" << signal_name << " " << pid
                        << "' in test_worker.signals:\n"
                        << SignalsFile() << "\nsupervisor log:\n"
                        << Log());
    REQUIRE(seen);
  }

  // Waits until `pid` is gone (reaped, not merely dead).
  void WaitGone(pid_t pid) {
    bool gone = t::WaitUntil([&] { return !t::ProcessExists(pid); }, kWait);
    INFO("process " << pid << " still exists (state "
                    << t::ProcessState(pid).value_or('?')
                    << ")\nsupervisor log:\n"
                    << Log());
    REQUIRE(gone);
  }

 private:
  TempDir dir_;
  int port_ = 0;  // read from the listen line on first use
  Env env_;
  std::optional<Process> supervisor_;
  long baseline_mb_ = 0;
};

size_t CountMatches(const Guarded& guard, const std::string& regex,
                    size_t from = 0) {
  return guard.supervisor().LogMatches(regex, from).size();
}

// ---------------------------------------------------------------- startup

TEST_CASE("supervisor logs start then listen then spawn then ready",
          "[supervisor]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  guard.WaitLog(R"(supervisor: start .*pid=\d+ .*limit=200MB)");
  guard.WaitLog(R"(supervisor: listen address=127\.0\.0\.1:)" +
                std::to_string(guard.port()));
  guard.WaitLog(R"(supervisor: spawn pid=)" + std::to_string(worker) +
                " command=");
  CHECK(guard.Ask("pid") == std::to_string(worker));
}

TEST_CASE("worker gets the listening socket and NOTIFY_SOCKET and its budget",
          "[supervisor]") {
  Guarded guard(Env{{"WORKER_WATCHDOG_S", "2"}});
  const pid_t worker = guard.WaitReady();
  guard.WaitLog("test_worker: listening on inherited fd 3");
  std::string environ =
      t::ReadFileText("/proc/" + std::to_string(worker) + "/environ")
          .value_or("");
  std::replace(environ.begin(), environ.end(), '\0', '\n');
  INFO("worker environment:\n" << environ);
  CHECK(environ.find("\nLISTEN_FDS=1\n") != std::string::npos);
  CHECK(environ.find("\nLISTEN_PID=" + std::to_string(worker) + "\n") !=
        std::string::npos);
  CHECK(environ.find("\nNOTIFY_SOCKET=") != std::string::npos);
  CHECK(environ.find("\nWATCHDOG_USEC=2000000\n") != std::string::npos);
  CHECK(environ.find("\nMEMORY_LIMIT_MB=200\n") != std::string::npos);
  // Its own process group.
  CHECK(::getpgid(worker) == worker);
}

// ---------------------------------------------------------------- memory

TEST_CASE("standard cleanup: SIGUSR1 at 70% of the budget",
          "[supervisor][rss]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  const long grown = guard.GrowTo(76);
  guard.WaitLog(
      R"(supervisor: cleanup level=standard pid=)" + std::to_string(worker),
      mark);
  guard.WaitSignal("USR1", worker);
  // The worker freed half; the level falls back without an emergency.
  CHECK(guard.Ask("grow 0") == "ok " + std::to_string(grown - grown / 2));
  guard.WaitLog(R"(supervisor: memory .*level=normal)", mark);
  CHECK(!guard.Recorded("USR2", worker));
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
}

TEST_CASE("emergency cleanup: SIGUSR2 at 85% of the budget",
          "[supervisor][rss]") {
  // The worker keeps its memory on signals: a standard cleanup sampled while
  // it grows must not bring it back under the emergency threshold.
  Guarded guard(Env{{"TEST_WORKER_KEEP_ON_SIGNAL", "1"}});
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  guard.GrowTo(91);
  guard.WaitLog(
      R"(supervisor: cleanup level=emergency pid=)" + std::to_string(worker),
      mark);
  guard.WaitSignal("USR2", worker);
  CHECK(t::ProcessAlive(worker));
}

TEST_CASE("memory restart: a new worker above 95% of the budget",
          "[supervisor][rss]") {
  Guarded guard(Env{{"TEST_WORKER_KEEP_ON_SIGNAL", "1"}});
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  guard.GrowTo(97);
  guard.WaitLog(R"(supervisor: restart reason=memory)", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  guard.WaitGone(old_worker);
  guard.WaitSignal("TERM", old_worker);  // a graceful stop first
}

TEST_CASE("emergency grace: restart when still above 85% after the cleanup",
          "[supervisor][rss]") {
  Guarded guard(Env{{"TEST_WORKER_KEEP_ON_SIGNAL", "1"},
                    {"MEMORY_EMERGENCY_GRACE_S", "1"}});
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  guard.GrowTo(91);  // no memory restart
  guard.WaitLog(R"(supervisor: cleanup level=emergency)", mark);
  guard.WaitSignal("USR2", old_worker);
  guard.WaitLog(R"(supervisor: restart reason=emergency-grace)", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  CHECK(CountMatches(guard, "supervisor: restart reason=memory") == 0);
}

TEST_CASE("memory of the worker's child processes counts",
          "[supervisor][rss]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  guard.GrowTo(60);  // alone below the standard threshold
  // A few polls at ~60%: below the standard threshold, nothing happens.
  std::this_thread::sleep_for(500ms);
  REQUIRE(CountMatches(guard, "supervisor: cleanup ", mark) == 0);
  // +20 MB in a child process: the tree is at ~75%.
  const pid_t child = std::stoi(guard.Ask("spawn-child"));
  CHECK(child > 0);
  guard.WaitLog(
      R"(supervisor: cleanup level=standard pid=)" + std::to_string(worker),
      mark);
  guard.WaitSignal("USR1", worker);
  guard.WaitLog(R"(supervisor: memory .*processes=2)", mark);
}

TEST_CASE("ENABLE_MEMORY_OPTIMIZATION=false sends no cleanup signals",
          "[supervisor]") {
  Guarded guard(Env{{"ENABLE_MEMORY_OPTIMIZATION", "false"}});
  const pid_t worker = guard.WaitReady();
  guard.GrowTo(91);
  bool measured = t::WaitUntil(
      [&] {
        auto status = guard.Status();
        return status["memory"]["percent"].GetDouble() >= 85.0;
      },
      kWait, 100ms);
  INFO(guard.Log());
  REQUIRE(measured);
  std::this_thread::sleep_for(1s);  // ten more polls at ~91%
  CHECK(CountMatches(guard, "supervisor: cleanup ") == 0);
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
  CHECK(guard.SignalsFile().empty());
  CHECK(guard.Ask("pid") == std::to_string(worker));
}

// ---------------------------------------------------------------- crashes

TEST_CASE("a first crash is respawned at once, a second quick one backs off",
          "[supervisor]") {
  Guarded guard;
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  REQUIRE(guard.Ask("crash") == "ok");
  guard.WaitLog("supervisor: exit pid=" + std::to_string(old_worker) +
                    " status=exited code=3",
                mark);
  guard.WaitLog(R"(supervisor: backoff delay=0ms failures=1)", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  CHECK(!t::ProcessExists(old_worker));
  // The backoff (RESTART_BACKOFF_MIN_MS=50) starts with the second failure.
  const size_t second = guard.Mark();
  REQUIRE(guard.Ask("crash") == "ok");
  guard.WaitLog(R"(supervisor: backoff delay=50ms failures=2)", second);
  guard.WaitReady(second);
}

TEST_CASE("a crash loop is reported and its delays grow up to the cap",
          "[supervisor]") {
  Guarded guard(Env{{"TEST_WORKER_EXIT_AT_START", "1"}});
  guard.WaitLog(R"(supervisor: crash-loop failures=\d+)");
  bool enough = t::WaitUntil(
      [&] {
        return CountMatches(guard, R"(supervisor: backoff delay=\d+ms)") >= 7;
      },
      kWait);
  INFO(guard.Log());
  REQUIRE(enough);
  std::vector<int> delays;
  for (const auto& match :
       guard.supervisor().LogMatches(R"(supervisor: backoff delay=(\d+)ms)")) {
    delays.push_back(std::stoi(match[1]));
  }
  CHECK(delays.front() == 0);  // the first failure is respawned at once
  CHECK(delays[1] >= 50);
  CHECK(delays[2] > delays[1]);
  for (size_t i = 1; i < delays.size(); ++i) CHECK(delays[i] >= delays[i - 1]);
  CHECK(*std::max_element(delays.begin(), delays.end()) <= 400);
  CHECK(delays.back() == 400);
  CHECK(CountMatches(guard, "supervisor: ready ") == 0);
  CHECK(guard.supervisor().running());
}

TEST_CASE("a worker that ignores SIGTERM is killed after the stop timeout",
          "[supervisor]") {
  Guarded guard(
      Env{{"TEST_WORKER_IGNORE_TERM", "1"}, {"WORKER_STOP_TIMEOUT_S", "1"}});
  const pid_t old_worker = guard.WaitReady();
  const std::string old_pid = std::to_string(old_worker);
  const size_t mark = guard.Mark();
  REQUIRE(guard.supervisor().Signal(SIGHUP).ok());
  guard.WaitLog("supervisor: stop pid=" + old_pid + " signal=SIGTERM", mark);
  guard.WaitSignal("TERM", old_worker);
  guard.WaitLog("supervisor: kill pid=" + old_pid, mark);
  guard.WaitLog(
      "supervisor: exit pid=" + old_pid + " status=killed signal=SIGKILL",
      mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
}

TEST_CASE("a hung worker is restarted by the watchdog", "[supervisor]") {
  Guarded guard(
      Env{{"WORKER_WATCHDOG_S", "1"}, {"WORKER_STOP_TIMEOUT_S", "1"}});
  const pid_t old_worker = guard.WaitReady();
  // Let it ping a few times (every 500 ms) before it hangs: waited for by
  // asking, not by sleeping, so a slow machine does not change the test.
  CHECK(
      t::WaitUntil([&] { return std::stoi(guard.Ask("pings")) >= 2; }, kWait));
  const size_t mark = guard.Mark();
  REQUIRE(guard.Ask("hang") == "ok");
  guard.WaitLog(
      "supervisor: watchdog-timeout pid=" + std::to_string(old_worker), mark);
  guard.WaitLog("supervisor: restart reason=watchdog", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  guard.WaitGone(old_worker);
}

TEST_CASE(
    "the watchdog also restarts a worker that hangs before its first ping",
    "[supervisor]") {
  // systemd semantics: with WATCHDOG_USEC set, the clock runs from READY=1;
  // a worker that never sends WATCHDOG=1 is as hung as one that stopped.
  Guarded guard(
      Env{{"WORKER_WATCHDOG_S", "1"}, {"WORKER_STOP_TIMEOUT_S", "1"}});
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  REQUIRE(guard.Ask("hang") == "ok");  // well before its first ping at 500 ms
  guard.WaitLog(
      "supervisor: watchdog-timeout pid=" + std::to_string(old_worker), mark);
  guard.WaitLog("supervisor: restart reason=watchdog", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
}

TEST_CASE("a watchdog timeout sends SIGABRT, not the graceful stop",
          "[supervisor]") {
  // The stop timeout is long: a worker killed by SIGABRT did not wait for it.
  Guarded guard(
      Env{{"WORKER_WATCHDOG_S", "1"}, {"WORKER_STOP_TIMEOUT_S", "30"}});
  const pid_t old_worker = guard.WaitReady();
  const std::string old_pid = std::to_string(old_worker);
  const size_t mark = guard.Mark();
  REQUIRE(guard.Ask("hang") == "ok");
  guard.WaitLog("supervisor: watchdog-timeout pid=" + old_pid, mark);
  guard.WaitLog("supervisor: stop pid=" + old_pid + " signal=SIGABRT", mark);
  guard.WaitLog(
      "supervisor: exit pid=" + old_pid + " status=killed signal=SIGABRT",
      mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  CHECK(!guard.Recorded("TERM", old_worker));
  CHECK(CountMatches(guard, "supervisor: kill pid=" + old_pid, mark) == 0);
}

// ---------------------------------------------------------------- start

TEST_CASE("a worker that is never ready is restarted after the start timeout",
          "[supervisor]") {
  Guarded guard(Env{{"TEST_WORKER_READY_AFTER_MS", "-1"},
                    {"WORKER_START_TIMEOUT_S", "1"}});
  auto first = guard.WaitLog(R"(supervisor: spawn pid=(\d+))");
  guard.WaitLog("supervisor: start-timeout pid=" + first[1]);
  guard.WaitLog("supervisor: restart reason=start-timeout pid=" + first[1]);
  guard.WaitLog("supervisor: exit pid=" + first[1] + " status=exited code=0");
  bool respawned = t::WaitUntil(
      [&] { return CountMatches(guard, "supervisor: spawn pid=") >= 2; },
      kWait);
  INFO(guard.Log());
  CHECK(respawned);
  auto status = guard.Status();
  REQUIRE(status["lastRestartReason"].IsString());
  CHECK(std::string(status["lastRestartReason"].GetString()) ==
        "start-timeout");
}

TEST_CASE("no cleanup signal reaches a worker before it is ready",
          "[supervisor][rss]") {
  // 150 MB at start (75%, above the standard threshold) and READY=1 only
  // 1.5 s later: a dozen samples at 100 ms fall before READY.
  Guarded guard(Env{{"TEST_WORKER_GROW_AT_START", "150"},
                    {"TEST_WORKER_READY_AFTER_MS", "1500"},
                    {"TEST_WORKER_KEEP_ON_SIGNAL", "1"}});
  size_t ready_end = 0;
  const pid_t worker = std::stoi(
      guard.WaitLog(R"(supervisor: ready pid=(\d+))", 0, &ready_end)[1]);
  size_t cleanup_end = 0;
  guard.WaitLog(
      "supervisor: cleanup level=standard pid=" + std::to_string(worker), 0,
      &cleanup_end);
  CHECK(cleanup_end > ready_end);
  guard.WaitSignal("USR1", worker);
  CHECK(CountMatches(guard, "supervisor: cleanup ") == 1);
}

TEST_CASE(
    "a worker that starts above the restart threshold is throttled, "
    "counted as a crash loop and the budget hinted at once",
    "[supervisor]") {
  Guarded guard(Env{{"TEST_WORKER_GROW_AT_START", "195"},
                    {"RESTART_BACKOFF_MIN_MS", "100"},
                    {"RESTART_BACKOFF_MAX_MS", "30000"}});
  guard.WaitLog(R"(supervisor: restart-hint .*raise MEMORY_LIMIT_MB or )"
                R"(MEMORY_RESTART_PERCENT)");
  guard.WaitLog(R"(supervisor: throttle delay=)");
  guard.WaitLog(R"(supervisor: crash-loop failures=5)");
  // Every respawn waited for the throttle: no restart went without one.
  const size_t restarts =
      CountMatches(guard, "supervisor: restart reason=memory");
  // (The first respawn may need none when the worker took a second to stop;
  // the one in progress may not have logged its line yet.)
  CHECK(CountMatches(guard, "supervisor: throttle delay=") + 2 >= restarts);
  CHECK(CountMatches(guard, "supervisor: restart-hint ") == 1);
  auto status = guard.Status();
  REQUIRE(status.HasMember("crashLoop"));
  CHECK(status["crashLoop"].GetBool());
}

// ---------------------------------------------------------------- signals

TEST_CASE("SIGTERM stops the worker once and the supervisor exits 0",
          "[supervisor]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  REQUIRE(guard.supervisor().Signal(SIGTERM).ok());
  auto code = guard.supervisor().WaitExit(kWait);
  INFO(guard.Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(CountMatches(guard, "supervisor: shutdown .*signal=SIGTERM") == 1);
  CHECK(CountMatches(guard, "supervisor: stopped") == 1);
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
  CHECK(CountMatches(guard, "supervisor: spawn ") == 1);
  CHECK(guard.SignalsFile() == "TERM " + std::to_string(worker) + "\n");
  CHECK(!t::ProcessAlive(worker));
}

TEST_CASE("SIGINT stops like SIGTERM", "[supervisor]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  REQUIRE(guard.supervisor().Signal(SIGINT).ok());
  auto code = guard.supervisor().WaitExit(kWait);
  INFO(guard.Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
  CHECK(guard.Recorded("TERM", worker));
  CHECK(!t::ProcessAlive(worker));
}

TEST_CASE("SIGTERM to supervisor and worker at once: one stop, no respawn",
          "[supervisor]") {
  // Heroku signals every process of the dyno at the same moment; the worker's
  // exit 0 may reach the supervisor before its own SIGTERM.
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  REQUIRE(::kill(worker, SIGTERM) == 0);
  REQUIRE(guard.supervisor().Signal(SIGTERM).ok());
  auto code = guard.supervisor().WaitExit(kWait);
  INFO(guard.Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(CountMatches(guard, "supervisor: spawn ") == 1);
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
  CHECK(CountMatches(guard, "supervisor: stopped") == 1);
  CHECK(!t::ProcessAlive(worker));
}

TEST_CASE("a worker exit 0 seen before our own SIGTERM is not respawned",
          "[supervisor]") {
  // The other order, made certain: the worker's exit is logged first, our
  // SIGTERM follows. A first failure is respawned at once, but an exit 0
  // waits RESTART_BACKOFF_MIN_MS (here 3 s) for the SIGTERM a platform stop
  // sends along.
  Guarded guard(Env{{"RESTART_BACKOFF_MIN_MS", "3000"},
                    {"RESTART_BACKOFF_MAX_MS", "3000"}});
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  REQUIRE(::kill(worker, SIGTERM) == 0);
  guard.WaitLog("supervisor: exit pid=" + std::to_string(worker) +
                    " status=exited code=0",
                mark);
  REQUIRE(guard.supervisor().Signal(SIGTERM).ok());
  auto code = guard.supervisor().WaitExit(kWait);
  INFO(guard.Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(CountMatches(guard, "supervisor: spawn ") == 1);
  CHECK(CountMatches(guard, "supervisor: stopped") == 1);
}

TEST_CASE("SIGHUP restarts the worker gracefully", "[supervisor]") {
  Guarded guard;
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  REQUIRE(guard.supervisor().Signal(SIGHUP).ok());
  guard.WaitLog("supervisor: restart reason=sighup", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  guard.WaitSignal("TERM", old_worker);
  guard.WaitLog("supervisor: exit pid=" + std::to_string(old_worker) +
                    " status=exited code=0",
                mark);
  guard.WaitGone(old_worker);
  CHECK(guard.supervisor().running());
}

TEST_CASE("the socket keeps accepting while the worker is replaced",
          "[supervisor]") {
  Guarded guard;
  const int port = guard.port();
  guard.WaitReady();
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::mutex mu;
  std::vector<std::string> failures;  // guarded by mu
  std::thread client([&] {
    while (!stop) {
      auto answer = t::LineRequest(port, "ping", kWait);
      if (answer.ok() && *answer == "pong") {
        ++answered;
      } else {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(answer.ok() ? "answer '" + *answer + "'"
                                       : answer.status().ToString());
      }
    }
  });
  t::WaitUntil([&] { return answered >= 20; }, kWait);
  const int before = answered;
  const size_t mark = guard.Mark();
  REQUIRE(guard.supervisor().Signal(SIGHUP).ok());
  const bool replaced =
      guard.supervisor()
          .WaitForLogMatch(R"(supervisor: ready pid=)", kWait, mark)
          .has_value();
  const int at_ready = answered;
  t::WaitUntil([&] { return answered >= at_ready + 20; }, kWait);
  stop = true;
  client.join();
  INFO(guard.Log());
  REQUIRE(replaced);
  std::lock_guard<std::mutex> lock(mu);
  std::string failed;
  for (const auto& failure : failures) failed += failure + "\n";
  INFO("failed requests:\n" << failed);
  CHECK(failures.empty());
  CHECK(before >= 20);
  CHECK(answered >= at_ready + 20);
}

// ---------------------------------------------------------------- control

TEST_CASE("status --json reports state and worker and memory and restarts",
          "[supervisor][control]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  REQUIRE(guard.Ask("grow 20") == "ok 20");
  bool sampled = t::WaitUntil(
      [&] {
        return guard.Status()["memory"]["bytes"].GetUint64() >= 20 * kMegabyte;
      },
      kWait, 100ms);
  INFO(guard.Log());
  REQUIRE(sampled);
  rapidjson::Document status = guard.Status();
  REQUIRE(status["state"].IsString());
  CHECK(std::string(status["state"].GetString()).size() > 0);
  REQUIRE(status["worker"]["pid"].IsInt());
  CHECK(status["worker"]["pid"].GetInt() == worker);
  CHECK(status["memory"]["limit"].GetUint64() == 200 * kMegabyte);
  CHECK(status["memory"]["percent"].GetDouble() >= 10.0);
  CHECK(status["memory"]["percent"].GetDouble() < 70.0);
  CHECK(status["restarts"].GetInt() == 0);
  CHECK(status.HasMember("lastRestartReason"));
}

TEST_CASE("control commands fail with exit 1 when no supervisor runs",
          "[supervisor][control]") {
  TempDir dir;
  auto done = t::Run(DYNOGUARD_SUPERVISOR_BIN, {"status", "--json"},
                     {{"DATA_DIR", dir.path()}}, dir.path(), kWait);
  REQUIRE(done.ok());
  INFO("stderr: " << done->stderr_text);
  CHECK(done->exit_code == 1);
  CHECK(!done->stderr_text.empty());
  CHECK(std::count(done->stderr_text.begin(), done->stderr_text.end(), '\n') <=
        1);
}

TEST_CASE("supervisor restart replaces the worker", "[supervisor][control]") {
  Guarded guard;
  const pid_t old_worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  Completed done = guard.Control({"restart"});
  INFO(done.stderr_text);
  CHECK(done.exit_code == 0);
  guard.WaitLog("supervisor: restart reason=control", mark);
  const pid_t new_worker = guard.WaitReady(mark);
  CHECK(new_worker != old_worker);
  CHECK(guard.Ask("pid") == std::to_string(new_worker));
  rapidjson::Document status = guard.Status();
  REQUIRE(status["worker"]["pid"].IsInt());
  CHECK(status["worker"]["pid"].GetInt() == new_worker);
  CHECK(status["restarts"].GetInt() == 1);
  REQUIRE(status["lastRestartReason"].IsString());
  CHECK(std::string(status["lastRestartReason"].GetString()) == "control");
}

TEST_CASE("supervisor cleanup sends SIGUSR1", "[supervisor][control]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  Completed done = guard.Control({"cleanup"});
  INFO(done.stderr_text);
  CHECK(done.exit_code == 0);
  guard.WaitSignal("USR1", worker);
  guard.WaitLog(
      "supervisor: cleanup level=standard pid=" + std::to_string(worker), mark);
  CHECK(!guard.Recorded("USR2", worker));
}

TEST_CASE("supervisor cleanup --emergency sends SIGUSR2",
          "[supervisor][control]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  const size_t mark = guard.Mark();
  Completed done = guard.Control({"cleanup", "--emergency"});
  INFO(done.stderr_text);
  CHECK(done.exit_code == 0);
  guard.WaitSignal("USR2", worker);
  guard.WaitLog(
      "supervisor: cleanup level=emergency pid=" + std::to_string(worker),
      mark);
  CHECK(!guard.Recorded("USR1", worker));
}

TEST_CASE("supervisor stop ends worker and supervisor with nothing left over",
          "[supervisor][control]") {
  Guarded guard;
  const pid_t worker = guard.WaitReady();
  const pid_t grandchild = std::stoi(guard.Ask("spawn-child"));
  REQUIRE(t::ProcessAlive(grandchild));
  const std::string socket_path = guard.dir().File("supervisor.sock");
  REQUIRE(::access(socket_path.c_str(), F_OK) == 0);
  Completed done = guard.Control({"stop"});
  INFO(done.stderr_text);
  CHECK(done.exit_code == 0);
  auto code = guard.supervisor().WaitExit(kWait);
  INFO(guard.Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(CountMatches(guard, "supervisor: stopped") == 1);
  CHECK(CountMatches(guard, "supervisor: restart ") == 0);
  CHECK(guard.SignalsFile() == "TERM " + std::to_string(worker) + "\n");
  CHECK(!t::ProcessAlive(worker));
  CHECK(t::WaitUntil([&] { return !t::ProcessAlive(grandchild); }, kWait));
  CHECK(::access(socket_path.c_str(), F_OK) != 0);
}

// ---------------------------------------------------------------- hygiene

TEST_CASE("a bad configuration value exits 2 before starting anything",
          "[supervisor]") {
  Env bad;
  std::string variable;
  SECTION("not a number") {
    bad = {{"MEMORY_POLL_MS", "abc"}};
    variable = "MEMORY_POLL_MS";
  }
  SECTION("standard threshold above emergency") {
    bad = {{"MEMORY_STANDARD_PERCENT", "90"}};
    variable = "MEMORY_(STANDARD|EMERGENCY)_PERCENT";
  }
  SECTION("unknown memory source") {
    bad = {{"MEMORY_SOURCE", "heap"}};
    variable = "MEMORY_SOURCE";
  }
  Guarded guard(bad);
  auto code = guard.supervisor().WaitExit(kWait);
  const std::string log = guard.Log();
  INFO("output:\n" << log);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  CHECK(CountMatches(guard, variable) == 1);
  CHECK(CountMatches(guard, "spawn") == 0);
  CHECK(CountMatches(guard, "supervisor: listen") == 0);
  CHECK(::access(guard.dir().File("supervisor.sock").c_str(), F_OK) != 0);
}

TEST_CASE("memory that cannot be measured at start exits 2 with one line",
          "[supervisor]") {
  // MEMORY_SOURCE=cgroup where no cgroup memory files are visible (as in a
  // root cgroup): a private mount namespace hides /sys/fs/cgroup. Needs
  // unshare(1) with CAP_SYS_ADMIN; skipped without.
  TempDir dir;
  const std::string hide = "mount -t tmpfs none /sys/fs/cgroup";
  auto probe = t::Run("/usr/bin/unshare", {"-m", "sh", "-c", hide}, {},
                      dir.path(), kWait);
  if (!probe.ok() || probe->exit_code != 0) {
    WARN("skipped: cannot hide /sys/fs/cgroup in a mount namespace here");
    return;
  }
  auto run =
      t::Run("/usr/bin/unshare",
             {"-m", "sh", "-c", hide + " && exec \"$0\" start -- sleep 30",
              DYNOGUARD_SUPERVISOR_BIN},
             {{"DATA_DIR", dir.File("data")},
              {"MEMORY_SOURCE", "cgroup"},
              {"MEMORY_LIMIT_MB", "200"},
              {"HOST", "127.0.0.1"},
              {"PORT", "0"}},
             dir.path(), kWait);
  REQUIRE(run.ok());
  const std::string output = run->stdout_text + run->stderr_text;
  INFO(output);
  CHECK(run->exit_code == 2);
  CHECK(std::count(output.begin(), output.end(), '\n') == 1);
  CHECK(output.find("supervisor: memory-unmeasurable source=cgroup") !=
        std::string::npos);
  CHECK(output.find("spawn") == std::string::npos);
  CHECK(::access(dir.File("data/supervisor.sock").c_str(), F_OK) != 0);
}

TEST_CASE("no zombies after crashes and restarts", "[supervisor]") {
  Guarded guard;
  const pid_t supervisor_pid = guard.supervisor().pid();
  pid_t worker = guard.WaitReady();
  std::vector<pid_t> grandchildren;
  for (int round = 0; round < 2; ++round) {
    // A grandchild that outlives its parent for a moment: orphaned, it is
    // reparented to the supervisor (a subreaper) or to init.
    grandchildren.push_back(std::stoi(guard.Ask("spawn-child")));
    const size_t mark = guard.Mark();
    REQUIRE(guard.Ask("crash") == "ok");
    worker = guard.WaitReady(mark);
  }
  const size_t mark = guard.Mark();
  REQUIRE(guard.Control({"restart"}).exit_code == 0);
  worker = guard.WaitReady(mark);
  const std::vector<pid_t> expected = {worker};
  bool only_worker = t::WaitUntil(
      [&] { return t::ChildrenOf(supervisor_pid) == expected; }, kWait);
  std::string children;
  for (pid_t pid : t::ChildrenOf(supervisor_pid)) {
    children += std::to_string(pid) + "(" +
                std::string(1, t::ProcessState(pid).value_or('?')) + ") ";
  }
  INFO("children of the supervisor: " << children << "\nlive worker: " << worker
                                      << "\n"
                                      << guard.Log());
  CHECK(only_worker);
  for (pid_t pid : t::ChildrenOf(supervisor_pid)) CHECK(!t::IsZombie(pid));
  for (pid_t pid : grandchildren) {
    CHECK(t::WaitUntil([&] { return !t::ProcessAlive(pid); }, kWait));
  }
}

}  // namespace
