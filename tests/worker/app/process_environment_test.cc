#include "worker/app/process_environment.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

namespace dynoguard::worker {
namespace {

TEST_CASE(
    "process environment: the notify variables are read, then gone for "
    "children",
    "[process_environment]") {
  setenv("NOTIFY_SOCKET", "/run/test/notify", 1);
  setenv("WATCHDOG_USEC", "2000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  NotifyEnvironment env = TakeNotifyEnvironment(getpid());
  CHECK(env.notify_socket == "/run/test/notify");
  REQUIRE(env.watchdog_period.has_value());
  CHECK(env.watchdog_period->count() == 2000000);
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
  CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
  CHECK(std::getenv("WATCHDOG_PID") == nullptr);

  // A child started now sees none of them.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    execl("/bin/sh", "sh", "-c",
          "test -z \"$NOTIFY_SOCKET$WATCHDOG_USEC$WATCHDOG_PID\"",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("process environment: a watchdog for another pid is not ours",
          "[process_environment]") {
  setenv("WATCHDOG_USEC", "2000000", 1);
  setenv("WATCHDOG_PID", "1", 1);
  NotifyEnvironment env = TakeNotifyEnvironment(getpid());
  CHECK(env.notify_socket.empty());
  CHECK_FALSE(env.watchdog_period.has_value());
  CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
}

}  // namespace
}  // namespace dynoguard::worker
