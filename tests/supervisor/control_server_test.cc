#include "supervisor/control_server.h"

#include <sys/socket.h>
#include <sys/un.h>
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

}  // namespace
}  // namespace dynoguard::supervisor
