// The supervisor run by systemd: the notify protocol towards systemd (READY=1
// once the worker serves, STATUS=, watchdog pings, STOPPING=1) and socket
// activation (the listening socket arrives as fd 3 with LISTEN_FDS/LISTEN_PID).
// A datagram socket in a temporary directory plays systemd.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {
namespace {

using namespace std::chrono_literals;
using common::UniqueFd;

std::string Joined(const std::vector<std::string>& datagrams) {
  std::string all;
  for (const auto& d : datagrams) all += d + "\n";
  return all;
}

TEST_CASE(
    "under systemd the supervisor reports READY once the worker serves, "
    "STATUS, watchdog pings and STOPPING",
    "[systemd]") {
  TempDir dir;
  UniqueFd systemd = NotifySocket(dir.File("systemd.sock"));
  const int port = FreePort();
  SpawnOptions options;
  options.args = {"start"};  // the real worker beside the supervisor
  options.env = {{"HOST", "127.0.0.1"},
                 {"PORT", std::to_string(port)},
                 {"DATA_DIR", dir.path()},
                 {"MEMORY_LIMIT_MB", "512"},
                 {"NOTIFY_SOCKET", dir.File("systemd.sock")},
                 {"WATCHDOG_USEC", "400000"}};
  options.log_path = dir.File("supervisor.log");
  auto supervisor = Process::Spawn(DYNOGUARD_SUPERVISOR_BIN, options);
  REQUIRE(supervisor.ok());

  std::vector<std::string> seen;
  REQUIRE(ReceiveDatagramUntil(systemd.get(), "READY=1", seen));
  INFO("datagrams:\n" << Joined(seen) << "log:\n" << supervisor->LogText());
  // READY=1 is told only once the worker itself is ready: it serves now.
  CHECK(supervisor->LogText().find("worker: ready") != std::string::npos);
  CHECK(Connect(port));
  CHECK(ReceiveDatagramUntil(systemd.get(), "STATUS=", seen));
  CHECK(ReceiveDatagramUntil(systemd.get(), "WATCHDOG=1", seen));
  CHECK(ReceiveDatagramUntil(systemd.get(), "WATCHDOG=1", seen));

  REQUIRE(supervisor->Signal(SIGTERM).ok());
  CHECK(ReceiveDatagramUntil(systemd.get(), "STOPPING=1", seen));
  CHECK(supervisor->WaitExit(20s) == 0);
}

TEST_CASE(
    "socket activation: the supervisor serves the socket systemd passes and "
    "keeps it across a restart",
    "[systemd]") {
  TempDir dir;
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM, 0));  // inheritable
  REQUIRE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 64) == 0);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                        &len) == 0);
  const int port = ntohs(addr.sin_port);

  SpawnOptions options;
  options.args = {"start", "--", DYNOGUARD_TEST_WORKER_BIN};
  // PORT points elsewhere: answers on `port` prove fd 3 was used.
  options.env = {
      {"HOST", "127.0.0.1"},     {"PORT", std::to_string(FreePort())},
      {"DATA_DIR", dir.path()},  {"MEMORY_LIMIT_MB", "512"},
      {"LISTEN_SOCKET", "pass"},  // the test worker opts in
      {"LISTEN_FDS", "1"}};
  options.set_listen_pid = true;
  options.pass_fd = listener.get();
  options.log_path = dir.File("supervisor.log");
  auto supervisor = Process::Spawn(DYNOGUARD_SUPERVISOR_BIN, options);
  REQUIRE(supervisor.ok());
  listener = UniqueFd();  // systemd's copy is the supervisor's now

  INFO(supervisor->LogText());
  REQUIRE(supervisor->WaitForLog("supervisor: listen address=127\\.0\\.0\\.1:" +
                                     std::to_string(port) + " from=systemd",
                                 20s));
  auto first = LineRequest(port, "pid", 20s);
  REQUIRE(first.ok());
  const size_t mark = supervisor->LogSize();
  REQUIRE(supervisor->Signal(SIGHUP).ok());  // a graceful restart
  REQUIRE(supervisor->WaitForLog("supervisor: spawn pid=", 20s, mark));
  auto second = LineRequest(port, "pid", 20s);
  REQUIRE(second.ok());
  CHECK(*second != *first);  // a new worker, same socket
  REQUIRE(supervisor->Signal(SIGTERM).ok());
  CHECK(supervisor->WaitExit(20s) == 0);
}

}  // namespace
}  // namespace dynoguard::testing
