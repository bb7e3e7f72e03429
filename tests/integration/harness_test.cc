// The test worker alone (no supervisor): the program the supervisor tests
// drive must itself do what they rely on.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/proc_scan.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::common::UniqueFd;
using dynoguard::testing::Process;
using dynoguard::testing::SpawnOptions;
using dynoguard::testing::TempDir;
namespace t = dynoguard::testing;

constexpr uint64_t kMegabyte = 1024 * 1024;
using Env = std::map<std::string, std::string>;

// A test worker bound to its own free port in its own DATA_DIR.
struct LoneWorker {
  explicit LoneWorker(Env extra = {})
      : port(t::FreePort()), process(Start(std::move(extra))) {
    REQUIRE(t::WaitUntil([&] { return t::Connect(port, 200ms); }, 10s));
  }

  Process Start(Env extra) {
    SpawnOptions options;
    options.env = {{"PORT", std::to_string(port)}, {"DATA_DIR", dir.path()}};
    for (auto& [key, value] : extra) options.env[key] = value;
    options.log_path = dir.File("worker.log");
    auto spawned = Process::Spawn(DYNOGUARD_TEST_WORKER_BIN, options);
    REQUIRE(spawned.ok());
    return std::move(spawned).value();
  }

  std::string Ask(const std::string& line) {
    auto answer = t::LineRequest(port, line, 10s);
    INFO("request '" << line << "': " << answer.status().ToString());
    REQUIRE(answer.ok());
    return *answer;
  }

  std::string SignalsFile() const {
    return t::ReadFileText(dir.File("test_worker.signals")).value_or("");
  }

  TempDir dir;
  int port;
  Process process;
};

TEST_CASE("test worker answers ping and pid on its own PORT", "[harness]") {
  LoneWorker worker;
  CHECK(worker.Ask("ping") == "pong");
  CHECK(worker.Ask("pid") == std::to_string(worker.process.pid()));
  CHECK(worker.Ask("nonsense").starts_with("error"));
}

TEST_CASE("test worker grows and frees resident memory", "[harness]") {
  LoneWorker worker;
  CHECK(worker.Ask("grow 40") == "ok 40");
  CHECK(worker.Ask("grow 10") == "ok 50");
  auto grown = t::ProcessMemoryBytes(worker.process.pid());
  REQUIRE(grown.has_value());
  CHECK(*grown >= 50 * kMegabyte);
  CHECK(worker.Ask("free") == "ok 0");
  auto freed = t::ProcessMemoryBytes(worker.process.pid());
  REQUIRE(freed.has_value());
  CHECK(*freed < 20 * kMegabyte);
}

TEST_CASE("test worker allocates TEST_WORKER_GROW_AT_START before serving",
          "[harness]") {
  LoneWorker worker(Env{{"TEST_WORKER_GROW_AT_START", "30"}});
  CHECK(worker.Ask("grow 0") == "ok 30");
}

TEST_CASE("test worker records signals, USR1 frees half and USR2 all",
          "[harness]") {
  LoneWorker worker;
  const std::string pid = std::to_string(worker.process.pid());
  REQUIRE(worker.Ask("grow 20") == "ok 20");
  REQUIRE(worker.process.Signal(SIGUSR1).ok());
  REQUIRE(t::WaitUntil(
      [&] {
        return worker.SignalsFile().find("USR1 " + pid) != std::string::npos;
      },
      10s));
  CHECK(worker.Ask("grow 0") == "ok 10");
  REQUIRE(worker.process.Signal(SIGUSR2).ok());
  REQUIRE(t::WaitUntil([&] { return worker.Ask("grow 0") == "ok 0"; }, 10s));
  REQUIRE(worker.process.Signal(SIGHUP).ok());
  REQUIRE(t::WaitUntil([&] { return worker.Ask("signals") == "USR1,USR2,HUP"; },
                       10s));
  CHECK(worker.SignalsFile() ==
        "USR1 " + pid + "\nUSR2 " + pid + "\nHUP " + pid + "\n");
}

TEST_CASE("test worker keeps its memory with TEST_WORKER_KEEP_ON_SIGNAL",
          "[harness]") {
  LoneWorker worker(Env{{"TEST_WORKER_KEEP_ON_SIGNAL", "1"}});
  REQUIRE(worker.Ask("grow 10") == "ok 10");
  REQUIRE(worker.process.Signal(SIGUSR2).ok());
  REQUIRE(t::WaitUntil([&] { return worker.Ask("signals") == "USR2"; }, 10s));
  CHECK(worker.Ask("grow 0") == "ok 10");
}

TEST_CASE("test worker exits 0 on SIGTERM and records it", "[harness]") {
  LoneWorker worker;
  REQUIRE(worker.process.Signal(SIGTERM).ok());
  CHECK(worker.process.WaitExit(10s) == 0);
  CHECK(worker.SignalsFile() ==
        "TERM " + std::to_string(worker.process.pid()) + "\n");
}

TEST_CASE("test worker ignores SIGTERM with TEST_WORKER_IGNORE_TERM",
          "[harness]") {
  LoneWorker worker(Env{{"TEST_WORKER_IGNORE_TERM", "1"}});
  REQUIRE(worker.process.Signal(SIGTERM).ok());
  REQUIRE(t::WaitUntil([&] { return worker.Ask("signals") == "TERM"; }, 10s));
  CHECK(worker.process.running());
  CHECK(worker.Ask("ping") == "pong");
}

TEST_CASE("test worker exits with TEST_WORKER_EXIT_AT_START", "[harness]") {
  TempDir dir;
  SpawnOptions options;
  options.env = {{"TEST_WORKER_EXIT_AT_START", "7"}};
  options.log_path = dir.File("worker.log");
  auto process = Process::Spawn(DYNOGUARD_TEST_WORKER_BIN, options);
  REQUIRE(process.ok());
  CHECK(process->WaitExit(10s) == 7);
}

TEST_CASE("test worker exits 3 on crash", "[harness]") {
  LoneWorker worker;
  CHECK(worker.Ask("crash") == "ok");
  CHECK(worker.process.WaitExit(10s) == 3);
}

TEST_CASE("test worker sends READY=1 then WATCHDOG=1 until it hangs",
          "[harness]") {
  TempDir dir;
  UniqueFd notify = t::NotifySocket(dir.File("notify.sock"));
  LoneWorker worker(Env{{"NOTIFY_SOCKET", dir.File("notify.sock")},
                        {"WATCHDOG_USEC", "100000"}});
  CHECK(t::ReceiveDatagram(notify.get()) == "READY=1");
  CHECK(t::ReceiveDatagram(notify.get()) == "WATCHDOG=1");
  CHECK(t::ReceiveDatagram(notify.get()) == "WATCHDOG=1");
  REQUIRE(worker.Ask("hang") == "ok");
  // Drain what was sent before the hang, then expect silence.
  timeval short_wait{0, 300000};
  ::setsockopt(notify.get(), SOL_SOCKET, SO_RCVTIMEO, &short_wait,
               sizeof(short_wait));
  while (!t::ReceiveDatagram(notify.get()).empty()) {
  }
  CHECK(t::ReceiveDatagram(notify.get()).empty());
  CHECK(!t::LineRequest(worker.port, "ping", 300ms).ok());
}

TEST_CASE("test worker serves an inherited socket on fd 3", "[harness]") {
  TempDir dir;
  const int port = t::FreePort();
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof(addr)) == 0);
  REQUIRE(::listen(listener.get(), 16) == 0);
  SpawnOptions options;
  // PORT points elsewhere: an answer proves fd 3 was used.
  options.env = {{"LISTEN_FDS", "1"},
                 {"PORT", std::to_string(t::FreePort())},
                 {"DATA_DIR", dir.path()}};
  options.set_listen_pid = true;
  options.pass_fd = listener.get();
  options.log_path = dir.File("worker.log");
  auto process = Process::Spawn(DYNOGUARD_TEST_WORKER_BIN, options);
  REQUIRE(process.ok());
  auto answer = t::LineRequest(port, "pid", 10s);
  REQUIRE(answer.ok());
  CHECK(*answer == std::to_string(process->pid()));
  CHECK(process->WaitForLog("inherited fd 3", 10s));
}

TEST_CASE("test worker's spawned child holds 20 MB and dies with it",
          "[harness][rss]") {
  LoneWorker worker;
  REQUIRE(worker.Ask("grow 60") == "ok 60");
  const pid_t child = std::stoi(worker.Ask("spawn-child"));
  CHECK(t::ChildrenOf(worker.process.pid()) == std::vector<pid_t>{child});
  // Resident: its own 20 MB, not a copy-on-write view of the parent's 60 MB
  // (which it drops right after the fork).
  CHECK(t::WaitUntil(
      [&] {
        auto bytes = t::ProcessMemoryBytes(child);
        return bytes.has_value() && *bytes >= 20 * kMegabyte &&
               *bytes < 40 * kMegabyte;
      },
      10s));
  REQUIRE(worker.process.Signal(SIGKILL).ok());
  REQUIRE(worker.process.WaitExit(10s) == -SIGKILL);
  CHECK(t::WaitUntil([&] { return !t::ProcessAlive(child); }, 10s));
}

}  // namespace
