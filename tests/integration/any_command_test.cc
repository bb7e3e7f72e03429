// Any COMMAND under the supervisor (SPEC §2, §4): the defaults for a program
// that is not our worker (LISTEN_SOCKET=none, CLEANUP_SIGNALS=none,
// WORKER_READY=started), STOP_SIGNAL, signals to the whole process group,
// helpers that left the group, and who may speak on the notify socket. The
// commands are the test worker without its opt-ins and small shell wrappers.
//
// Budget: MEMORY_LIMIT_MB=200 (standard 140 MB, emergency 170 MB, restart
// 190 MB), except where a test says otherwise.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "tests/support/net.h"
#include "tests/support/proc_scan.h"
#include "tests/support/supervised_command.h"
#include "tests/support/wait.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::testing::SupervisedCommand;
namespace t = dynoguard::testing;

constexpr auto kWait = 20s;

std::string SignalsFile(const SupervisedCommand& run) {
  return t::ReadFileText(run.dir().File("test_worker.signals")).value_or("");
}

void WaitSignal(const SupervisedCommand& run, const std::string& name,
                const std::string& pid) {
  bool seen = t::WaitUntil(
      [&] {
        return SignalsFile(run).find(name + " " + pid + "\n") !=
               std::string::npos;
      },
      kWait);
  INFO("waited for '" << name << " " << pid << "' in test_worker.signals:\n"
                      << SignalsFile(run) << "\nsupervisor log:\n"
                      << run.Log());
  REQUIRE(seen);
}

// Asks the test worker behind PORT. With LISTEN_SOCKET=none nothing listens
// until the command has bound PORT itself, so a refused connect is retried.
std::string Ask(const SupervisedCommand& run, const std::string& line) {
  dynoguard::common::Result<std::string> answer =
      dynoguard::common::Status::Unavailable("not asked yet");
  t::WaitUntil(
      [&] {
        answer = t::LineRequest(run.port(), line, kWait);
        return answer.ok();
      },
      kWait);
  INFO("request '" << line << "': " << answer.status().ToString()
                   << "\nsupervisor log:\n"
                   << run.Log());
  REQUIRE(answer.ok());
  return *answer;
}

// Sends one datagram to the supervisor's abstract notify socket from this
// process (outside the worker's tree).
void SendNotify(pid_t supervisor_pid, const std::string& text) {
  std::string name = "dynoguard/" + std::to_string(supervisor_pid) + "/notify";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  CHECK(::sendto(fd, text.data(), text.size(), 0,
                 reinterpret_cast<sockaddr*>(&address),
                 length) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

TEST_CASE("another COMMAND binds PORT itself and is ready at exec",
          "[any_command]") {
  SupervisedCommand run(DYNOGUARD_SUPERVISOR_BIN, {DYNOGUARD_TEST_WORKER_BIN});
  run.WaitLog(R"(supervisor: start .*protocol="listen=none cleanup=none )"
              R"(ready=started stop=SIGTERM")");
  const std::string pid = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  // The test worker, given no fd 3, bound HOST:PORT on its own: no
  // EADDRINUSE, because the supervisor bound nothing.
  CHECK(Ask(run, "pid") == pid);
  CHECK(run.Count("supervisor: listen ") == 0);
}

TEST_CASE("LISTEN_SOCKET=pass hands a COMMAND the socket as fd 3",
          "[any_command]") {
  SupervisedCommand run(DYNOGUARD_SUPERVISOR_BIN, {DYNOGUARD_TEST_WORKER_BIN},
                        {{"LISTEN_SOCKET", "pass"}});
  run.WaitLog(R"(supervisor: listen address=127\.0\.0\.1:)" +
              std::to_string(run.port()));
  const std::string pid = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  CHECK(Ask(run, "pid") == pid);
}

TEST_CASE(
    "CLEANUP_SIGNALS=none: no cleanup signal, the memory restart still "
    "happens",
    "[any_command][rss]") {
  SupervisedCommand run(DYNOGUARD_SUPERVISOR_BIN, {DYNOGUARD_TEST_WORKER_BIN});
  const std::string pid = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  // 150 MB: above standard (70%); then 175 MB: above emergency (85%).
  Ask(run, "grow 150");
  run.WaitLog(R"(supervisor: memory rss=\d+MB .*level=standard)");
  Ask(run, "grow 25");
  run.WaitLog(R"(supervisor: memory rss=\d+MB .*level=emergency)");
  // Then past 95 %: the graceful restart, its stop signal the first one.
  size_t mark = run.Mark();
  Ask(run, "grow 20");
  run.WaitLog("supervisor: restart reason=memory pid=" + pid, mark);
  WaitSignal(run, "TERM", pid);
  CHECK(SignalsFile(run) == "TERM " + pid + "\n");
  CHECK(run.Count("supervisor: cleanup ") == 0);
  run.WaitLog(R"(supervisor: ready pid=(\d+))", mark);
}

TEST_CASE("the stop signal reaches a command behind a shell wrapper",
          "[any_command]") {
  // sh runs the test worker as its child (not exec: a command follows), in
  // the group the supervisor made for sh.
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN,
      {"/bin/sh", "-c",
       std::string(DYNOGUARD_TEST_WORKER_BIN) + "; echo wrapper-done"});
  run.WaitLog(R"(supervisor: ready pid=(\d+))");
  const std::string inner = Ask(run, "pid");
  t::Completed stop = run.Control({"stop"});
  CHECK(stop.exit_code == 0);
  WaitSignal(run, "TERM", inner);
  CHECK(run.supervisor().WaitExit(kWait) == 0);
}

TEST_CASE("STOP_SIGNAL is what a graceful stop sends first", "[any_command]") {
  // The test worker records SIGINT and keeps running: SIGKILL follows after
  // the stop timeout.
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN, {DYNOGUARD_TEST_WORKER_BIN},
      {{"STOP_SIGNAL", "SIGINT"}, {"WORKER_STOP_TIMEOUT_S", "1"}});
  const std::string pid = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  // "ready" is at exec here (WORKER_READY=started): wait until the test worker
  // answers, so its SIGINT handler is installed before the stop.
  REQUIRE(Ask(run, "pid") == pid);
  REQUIRE(run.supervisor().Signal(SIGTERM).ok());
  run.WaitLog("supervisor: stop pid=" + pid + " signal=SIGINT");
  WaitSignal(run, "INT", pid);
  run.WaitLog("supervisor: kill pid=" + pid);
  CHECK(run.supervisor().WaitExit(kWait) == 0);
  CHECK(SignalsFile(run).find("TERM") == std::string::npos);
}

TEST_CASE(
    "a helper that left the group is counted while it lives and stopped "
    "with the worker",
    "[any_command]") {
  // setsid -f: the helper forks away from sh, starts a new session (a group
  // of its own) and its parent exits at once: it is re-parented to the
  // supervisor, the subreaper. It holds 60 MB and serves PORT. The budget
  // leaves room for a sanitizer's shadow memory: under TSan those 60 MB are
  // ~290 MB of RSS, and a restart at 200 MB took the helper away before it
  // could answer (CI).
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN,
      {"/bin/sh", "-c",
       "TEST_WORKER_GROW_AT_START=60 setsid -f " +
           std::string(DYNOGUARD_TEST_WORKER_BIN) + "; exec sleep 600"},
      {{"MEMORY_LIMIT_MB", "2048"}});
  const std::string sleeper = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  const std::string helper = Ask(run, "pid");
  REQUIRE(helper != sleeper);
  CHECK(getpgid(std::stoi(helper)) != std::stoi(sleeper));

  bool counted = t::WaitUntil(
      [&] {
        auto status = run.Status();
        return status["memory"]["processes"].GetInt() >= 2 &&
               status["memory"]["bytes"].GetUint64() >= 60ull << 20;
      },
      kWait);
  INFO(run.Log());
  CHECK(counted);

  t::Completed stop = run.Control({"stop"});
  CHECK(stop.exit_code == 0);
  WaitSignal(run, "TERM", helper);
  CHECK(run.supervisor().WaitExit(kWait) == 0);
  bool gone =
      t::WaitUntil([&] { return !t::ProcessAlive(std::stoi(helper)); }, kWait);
  CHECK(gone);
}

TEST_CASE(
    "a helper that ignores the stop signal is SIGKILLed at the stop timeout",
    "[any_command]") {
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN,
      {"/bin/sh", "-c",
       "TEST_WORKER_IGNORE_TERM=1 setsid -f " +
           std::string(DYNOGUARD_TEST_WORKER_BIN) + "; exec sleep 600"},
      {{"WORKER_STOP_TIMEOUT_S", "1"}});
  const std::string sleeper = run.WaitLog(R"(supervisor: ready pid=(\d+))")[1];
  const std::string helper = Ask(run, "pid");
  REQUIRE(run.supervisor().Signal(SIGTERM).ok());
  // The main process (sleep) dies of SIGTERM at once; the helper records it
  // and runs on: the stop waits for it, then kills it.
  run.WaitLog("supervisor: stop-wait pid=" + sleeper);
  WaitSignal(run, "TERM", helper);
  run.WaitLog("supervisor: kill pid=" + sleeper);
  CHECK(run.supervisor().WaitExit(kWait) == 0);
  bool gone =
      t::WaitUntil([&] { return !t::ProcessAlive(std::stoi(helper)); }, kWait);
  CHECK(gone);
}

TEST_CASE(
    "notify datagrams from outside the worker's tree are ignored: forged "
    "READY=1 and WATCHDOG=1 change nothing",
    "[any_command]") {
  // `sleep` never sends READY=1: only the forged one could make it ready.
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN, {"/bin/sleep", "600"},
      {{"WORKER_READY", "notify"}, {"WORKER_START_TIMEOUT_S", "3"}});
  const std::string pid = run.WaitLog(R"(supervisor: spawn pid=(\d+))")[1];
  SendNotify(run.supervisor().pid(), "READY=1");
  SendNotify(run.supervisor().pid(), "WATCHDOG=1");
  run.WaitLog("supervisor: notify-ignored pid=" + std::to_string(getpid()) +
              R"( uid=\d+ ignored=1 reason=not-the-worker)");
  run.WaitLog("supervisor: notify-ignored pid=" + std::to_string(getpid()) +
              R"( uid=\d+ ignored=2 )");
  auto status = run.Status();
  CHECK_FALSE(status["worker"]["ready"].GetBool());
  // Still not ready: the start timeout restarts it.
  run.WaitLog("supervisor: start-timeout pid=" + pid);
  CHECK(run.Count("supervisor: ready ") == 0);
}

}  // namespace
