#include "supervisor/notify_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/wait.h"

namespace dynoguard::supervisor {
namespace {

// Sends `text` to the abstract address "@name" from this process.
void SendTo(const std::string& address, const std::string& text) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, address.data(), address.size());
  to.sun_path[0] = '\0';
  auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&to),
           length);
  ::close(fd);
}

TEST_CASE("notify server: only senders the filter accepts count",
          "[notify_server]") {
  auto server = NotifyServer::Open();
  REQUIRE(server.ok());
  const pid_t self = getpid();
  server->set_sender_filter([self](pid_t pid) { return pid == self; });
  std::vector<pid_t> rejected;
  server->set_rejected_handler(
      [&rejected](pid_t pid, uid_t, uint64_t) { rejected.push_back(pid); });

  // A process outside the accepted set (a child of this test) sends first.
  pid_t forger = fork();
  REQUIRE(forger >= 0);
  if (forger == 0) {
    SendTo(server->address(), "WATCHDOG=1");
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(forger, &status, 0) == forger);
  SendTo(server->address(), "READY=1");

  std::vector<std::string> received;
  REQUIRE(testing::WaitUntil(
      [&] {
        server->Drain([&](std::string_view d) { received.emplace_back(d); });
        return !received.empty();
      },
      std::chrono::seconds(5)));
  CHECK(received == std::vector<std::string>{"READY=1"});
  CHECK(server->ignored() == 1);
  CHECK(rejected == std::vector<pid_t>{forger});
}

}  // namespace
}  // namespace dynoguard::supervisor
