#include "supervisor/child_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/unique_fd.h"

namespace dynoguard::supervisor {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int WaitExitCode(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST_CASE(
    "child_process: LISTEN_PID is the child's own pid and fd 3 is the socket",
    "[child_process]") {
  common::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address),
                 sizeof address) == 0);
  REQUIRE(::listen(listener.get(), 8) == 0);
  char dir_template[] = "/tmp/dg-child-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string out = std::string(dir_template) + "/out";

  SpawnOptions options;
  options.argv = {"sh", "-c",
                  "echo \"$LISTEN_PID $$ $LISTEN_FDS\" > " + out +
                      "; readlink /proc/self/fd/3 >> " + out +
                      "; ps -o pgid= -p $$ >> " + out};
  options.env = {"PATH=/usr/bin:/bin", "LISTEN_FDS=1"};
  options.listen_fd = listener.get();
  auto pid = SpawnChild(options);
  REQUIRE(pid.ok());
  CHECK(WaitExitCode(pid.value()) == 0);

  std::istringstream lines(ReadFile(out));
  std::string listen_pid, shell_pid, listen_fds, fd3, pgid;
  lines >> listen_pid >> shell_pid >> listen_fds >> fd3 >> pgid;
  CHECK(listen_pid == std::to_string(pid.value()));
  CHECK(shell_pid == std::to_string(pid.value()));
  CHECK(listen_fds == "1");
  CHECK(fd3.rfind("socket:", 0) == 0);
  CHECK(pgid == std::to_string(pid.value()));  // its own process group
  std::system(("rm -rf " + std::string(dir_template)).c_str());
}

TEST_CASE("child_process: an exec failure is an error naming the command",
          "[child_process]") {
  SpawnOptions options;
  options.argv = {"/nonexistent/dynoguard-worker"};
  auto pid = SpawnChild(options);
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.status().message() ==
        "exec /nonexistent/dynoguard-worker: No such file or directory");
}

TEST_CASE(
    "child_process: signals blocked in the parent are unblocked in the child",
    "[child_process]") {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  SpawnOptions options;
  options.argv = {"sleep", "30"};
  options.env = {"PATH=/usr/bin:/bin"};
  auto pid = SpawnChild(options);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(pid.ok());
  kill(pid.value(), SIGTERM);
  CHECK(WaitExitCode(pid.value()) == -SIGTERM);
}

}  // namespace
}  // namespace dynoguard::supervisor
