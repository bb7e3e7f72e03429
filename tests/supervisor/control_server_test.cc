#include "supervisor/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace dynoguard::supervisor {
namespace {

// A loop in its own thread serving one ControlServer, stopped through an async
// handle.
class ServedControl {
 public:
  explicit ServedControl(const std::string& path) {
    uv_loop_init(&loop_);
    server_ =
        std::make_unique<ControlServer>(&loop_, [](std::string_view request) {
          return "echo:" + std::string(request);
        });
    status_ = server_->Listen(path);
    uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
      auto* self = static_cast<ServedControl*>(async->data);
      self->server_->Close();
      uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
    });
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServedControl() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  const common::Status& status() const { return status_; }

 private:
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<ControlServer> server_;
  common::Status status_;
  std::thread thread_;
};

std::string TempDir() {
  char dir_template[] = "/tmp/dg-ctl-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  return dir_template;
}

TEST_CASE("control_server: one request line gets one response line",
          "[control]") {
  std::string dir = TempDir();
  std::string path = dir + "/supervisor.sock";
  {
    ServedControl served(path);
    REQUIRE(served.status().ok());
    auto answer = SendControlRequest(path, "status", 2000);
    REQUIRE(answer.ok());
    CHECK(answer.value() == "echo:status");
    auto second = SendControlRequest(path, "cleanup emergency", 2000);
    REQUIRE(second.ok());
    CHECK(second.value() == "echo:cleanup emergency");
  }
  CHECK(access(path.c_str(), F_OK) != 0);  // removed on close
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("control_server: no supervisor is a clear Unavailable", "[control]") {
  auto answer =
      SendControlRequest("/tmp/dg-none-here/supervisor.sock", "status", 500);
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().code() == common::Status::Code::kUnavailable);
  CHECK(answer.status().message().find("no supervisor is running") == 0);
}

TEST_CASE("control_server: a stale socket file is replaced, a live one refused",
          "[control]") {
  std::string dir = TempDir();
  std::string path = dir + "/supervisor.sock";
  // A socket file nobody listens on (a supervisor that was SIGKILLed).
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) ==
          0);
  ::close(fd);
  {
    ServedControl first(path);
    REQUIRE(first.status().ok());
    ServedControl second(path);
    REQUIRE_FALSE(second.status().ok());
    CHECK(second.status().message().find("another supervisor is running") == 0);
    CHECK(SendControlRequest(path, "ping", 2000).ok());
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("control_server: the socket file is 0600", "[control]") {
  std::string dir = TempDir();
  std::string path = dir + "/supervisor.sock";
  {
    ServedControl served(path);
    REQUIRE(served.status().ok());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  std::system(("rm -rf " + dir).c_str());
}

// Another uid than root or the supervisor's is refused (SO_PEERCRED). Needs
// root to become another user.
TEST_CASE("control_server: a client of another uid is refused", "[control]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot connect as another uid; skipped");
    return;
  }
  std::string dir = TempDir();
  std::string path = dir + "/supervisor.sock";
  {
    ServedControl served(path);
    REQUIRE(served.status().ok());
    // Loosen the file so only the SO_PEERCRED check stands in the way.
    REQUIRE(::chmod(path.c_str(), 0666) == 0);
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
      auto answer = SendControlRequest(path, "stop", 2000);
      std::string text = answer.ok() ? *answer : answer.status().message();
      (void)!::write(pipe_fds[1], text.data(), text.size());
      _exit(0);
    }
    ::close(pipe_fds[1]);
    std::string text;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
      text.append(buffer, static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CAPTURE(text);
    CHECK(text.find(R"("ok":false)") != std::string::npos);
    CHECK(text.find("permission denied") != std::string::npos);
    // The supervisor's own user still gets through.
    auto own = SendControlRequest(path, "ping", 2000);
    REQUIRE(own.ok());
    CHECK(*own == "echo:ping");
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace dynoguard::supervisor
