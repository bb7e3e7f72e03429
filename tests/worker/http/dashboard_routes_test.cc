#include "worker/http/dashboard_routes.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/log.h"
#include "common/memory_history.h"
#include "supervisor/control_server.h"
#include "tests/support/temp_dir.h"
#include "worker/app/gateway.h"
#include "worker/http/http_api.h"
#include "worker/http/http_server.h"

namespace dynoguard::worker {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kNow = 1'764'590'400'000;

// The worker's HTTP side (the real object graph, a fixed clock and memory
// figure) with an API key set, on 127.0.0.1.
class DashboardServer {
 public:
  DashboardServer() {
    config_.api_key = common::Redacted("k3y");
    config_.data_dir = dir_.path();
    log_fd_ = ::open(dir_.File("worker.log").c_str(),
                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(log_fd_ >= 0);
    log_ = std::make_unique<common::Logger>("worker", common::LogFormat::kText,
                                            common::LogLevel::kInfo, log_fd_);
    GatewayOptions parts;
    parts.data_dir = dir_.path();
    parts.limit_bytes = 512 * kMiB;
    parts.read_usage = [] { return 100 * kMiB; };
    parts.read_rss = [] { return 100 * kMiB; };
    parts.now_ms = [] { return kNow; };
    parts.durable_sandbox = false;
    auto gateway = Gateway::Open(config_, *log_, std::move(parts));
    REQUIRE(gateway.ok());
    gateway_ = std::move(gateway).value();
    gateway_->own_memory().AddSample(kNow - 5000, 100 * kMiB);
    LoopHooks hooks;
    hooks.dispatcher_status = [] { return DispatcherStatus{}; };
    server_ = std::make_unique<HttpServer>(config_, *log_, gateway_->metrics());
    InstallRoutes(server_->server(), config_, *log_, gateway_->Routes(hooks));
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~DashboardServer() {
    server_->Stop();
    thread_.join();
    server_.reset();
    gateway_.reset();
    ::close(log_fd_);
  }
  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client;
  }
  const testing::TempDir& dir() const { return dir_; }
  Gateway& gateway() { return *gateway_; }

 private:
  testing::TempDir dir_;
  common::Config config_;
  int log_fd_ = -1;
  std::unique_ptr<common::Logger> log_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// A real supervisor control server answering `history`, on its own loop.
class SupervisorSocket {
 public:
  SupervisorSocket(const std::string& path, std::string answer)
      : answer_(std::move(answer)) {
    uv_loop_init(&loop_);
    server_ = std::make_unique<supervisor::ControlServer>(
        &loop_, [this](std::string_view request) {
          ++asked_;
          return request == "history" ? answer_ : std::string("{}");
        });
    REQUIRE(server_->Listen(path).ok());
    uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
      auto* self = static_cast<SupervisorSocket*>(async->data);
      self->server_->Close();
      uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
    });
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~SupervisorSocket() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  int asked() const { return asked_.load(); }

 private:
  std::string answer_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<supervisor::ControlServer> server_;
  std::thread thread_;
  std::atomic<int> asked_{0};
};

TEST_CASE("dashboard route: public HTML with a strict policy",
          "[dashboard-route]") {
  DashboardServer server;
  auto client = server.Client();
  auto res = client.Get("/dashboard");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(res->get_header_value("Cache-Control") == "no-store");
  CHECK(res->get_header_value("Content-Security-Policy")
            .starts_with("default-src 'none'"));
  CHECK(res->body.find("the worker's own samples (no supervisor)") !=
        std::string::npos);
  CHECK(res->body.find("worker start</td>") != std::string::npos);
  // The API key guards /api/*, not the page.
  auto api = client.Get("/api/queue");
  REQUIRE(api);
  CHECK(api->status == 401);

  auto bad = client.Get("/dashboard?window=forever");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("\"field\":\"window\"") != std::string::npos);
  auto post = client.Post("/dashboard", "", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
}

TEST_CASE("dashboard route: a cleanup run by the worker alone is marked",
          "[dashboard-route]") {
  DashboardServer server;
  server.gateway().cleanup().Run(CleanupLevel::kEmergency, "test");
  auto res = server.Client().Get("/dashboard");
  REQUIRE(res);
  CHECK(res->body.find("emergency cleanup</td>") != std::string::npos);
}

TEST_CASE("dashboard route: the supervisor's history, asked once a second",
          "[dashboard-route]") {
  DashboardServer server;
  common::MemoryHistory history;
  history.AddSample(kNow - 30000, 400 * kMiB);
  history.AddEvent(kNow - 20000, common::MemoryEventKind::kRestart,
                   "emergency-grace");
  common::MemoryHistorySnapshot s = history.Snapshot();
  s.now_ms = kNow;
  s.limit_bytes = 512 * kMiB;
  s.source = "pss";
  s.keeper = "supervisor";
  s.restart_percent = 90;
  SupervisorSocket supervisor(server.dir().File("supervisor.sock"),
                              common::MemoryHistoryJson(s));
  // The first request may have come before the socket (a failure is kept
  // 5 s): this server is fresh, so it asks at once.
  auto client = server.Client();
  auto res = client.Get("/dashboard");
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->body.find("memory as the supervisor measures it") !=
        std::string::npos);
  CHECK(res->body.find("restart</td><td>emergency-grace</td>") !=
        std::string::npos);
  CHECK(res->body.find("restart 90%") != std::string::npos);
  CHECK(res->body.find("memory (pss)") != std::string::npos);
  for (int i = 0; i < 5; ++i) REQUIRE(client.Get("/dashboard"));
  // Six pages, fewer questions: the answer is kept for a second.
  CHECK(supervisor.asked() >= 1);
  CHECK(supervisor.asked() < 6);
}

}  // namespace
}  // namespace dynoguard::worker
