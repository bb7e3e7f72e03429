#include "worker/metrics/supervisor_history.h"

#include <uv.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "common/memory_history.h"
#include "supervisor/control_server.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::worker {
namespace {

using common::MemoryEventKind;
using common::MemoryHistory;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kT0 = 1'764'590'400'000;

// The supervisor's control server, on a loop in its own thread, answering
// `history` with `json` (what Supervisor::OnControl does).
class ServedHistory {
 public:
  ServedHistory(const std::string& path, std::string json)
      : json_(std::move(json)) {
    uv_loop_init(&loop_);
    server_ = std::make_unique<supervisor::ControlServer>(
        &loop_, [this](std::string_view request) {
          if (request == "history") return json_;
          return std::string(R"({"ok":false,"error":"unknown request"})");
        });
    status_ = server_->Listen(path);
    uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
      auto* self = static_cast<ServedHistory*>(async->data);
      self->server_->Close();
      uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
    });
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServedHistory() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  const common::Status& status() const { return status_; }

 private:
  std::string json_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<supervisor::ControlServer> server_;
  common::Status status_;
  std::thread thread_;
};

common::MemoryHistorySnapshot FullSnapshot() {
  MemoryHistory h;
  for (int64_t s = 0; s < 26 * 3600; ++s) {
    h.AddSample(kT0 + s * 1000, (100 + static_cast<uint64_t>(s % 300)) * kMiB);
  }
  for (int i = 0; i < 200; ++i) {
    h.AddEvent(kT0 + i, MemoryEventKind::kRestart, "emergency-grace");
  }
  common::MemoryHistorySnapshot s = h.Snapshot();
  s.now_ms = kT0 + 26 * 3600 * 1000;
  s.limit_bytes = 512 * kMiB;
  s.source = "pss";
  s.keeper = "supervisor";
  s.standard_percent = 65;
  s.emergency_percent = 80;
  s.restart_percent = 90;
  return s;
}

void CheckSame(const common::MemoryHistorySnapshot& a,
               const common::MemoryHistorySnapshot& b) {
  CHECK(a.now_ms == b.now_ms);
  CHECK(a.limit_bytes == b.limit_bytes);
  CHECK(a.source == b.source);
  CHECK(a.keeper == b.keeper);
  CHECK(a.standard_percent == b.standard_percent);
  CHECK(a.emergency_percent == b.emergency_percent);
  CHECK(a.restart_percent == b.restart_percent);
  REQUIRE(a.points.size() == b.points.size());
  for (size_t i = 0; i < a.points.size(); ++i) {
    CHECK(a.points[i].time_ms == b.points[i].time_ms);
    CHECK(a.points[i].width_ms == b.points[i].width_ms);
    CHECK(a.points[i].min_bytes == b.points[i].min_bytes);
    CHECK(a.points[i].max_bytes == b.points[i].max_bytes);
  }
  REQUIRE(a.events.size() == b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    CHECK(a.events[i].time_ms == b.events[i].time_ms);
    CHECK(a.events[i].kind == b.events[i].kind);
    CHECK(a.events[i].detail == b.events[i].detail);
    CHECK(a.events[i].bytes == b.events[i].bytes);
  }
}

TEST_CASE("supervisor history: the JSON answer parses back to the snapshot",
          "[supervisor-history]") {
  common::MemoryHistorySnapshot s = FullSnapshot();
  auto parsed = ParseSupervisorHistory(common::MemoryHistoryJson(s));
  REQUIRE(parsed.ok());
  CheckSame(parsed.value(), s);
}

TEST_CASE("supervisor history: refusals and garbage are errors",
          "[supervisor-history]") {
  for (std::string_view bad :
       {"", "null", "[]", "{", R"({"ok":false,"error":"unknown request"})",
        R"({"points":[]})"}) {
    INFO(bad);
    auto parsed = ParseSupervisorHistory(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == common::Status::Code::kInvalidArgument);
  }
  auto refused =
      ParseSupervisorHistory(R"({"ok":false,"error":"unknown request"})");
  CHECK(refused.status().message().find("unknown request") !=
        std::string::npos);
}

TEST_CASE("supervisor history: bad points and events are skipped",
          "[supervisor-history]") {
  auto parsed = ParseSupervisorHistory(
      R"({"ok":true,"limit":-1,"thresholds":{"standard":"x"},)"
      R"("points":[[1,1000,2,3],[1,2],"x",[1,-5,2,3],[2,1000,-1,3],)"
      R"([3,1000,4,5]],)"
      R"("events":[{"time":5,"kind":"reboot"},{"kind":"exit"},7,)"
      R"({"time":9,"kind":"exit","detail":"code=3","bytes":12},)"
      R"({"time":10,"kind":"start","detail":")" +
      std::string(500, 'd') + R"("}]})");
  REQUIRE(parsed.ok());
  const auto& s = parsed.value();
  CHECK(s.limit_bytes == 0);
  CHECK(s.standard_percent == 70);
  REQUIRE(s.points.size() == 2);
  CHECK(s.points[1].time_ms == 3);
  REQUIRE(s.events.size() == 2);
  CHECK(s.events[0].kind == MemoryEventKind::kExit);
  CHECK(s.events[0].detail == "code=3");
  CHECK(s.events[0].bytes == 12);
  CHECK(s.events[1].detail.size() == MemoryHistory::kMaxDetail);
}

TEST_CASE("supervisor history: fetched over a real control socket",
          "[supervisor-history]") {
  testing::TempDir dir;
  const std::string path = dir.File("supervisor.sock");
  common::MemoryHistorySnapshot s = FullSnapshot();
  ServedHistory served(path, common::MemoryHistoryJson(s));
  REQUIRE(served.status().ok());
  auto fetched = FetchSupervisorHistory(path, std::chrono::milliseconds(2000));
  INFO(fetched.status().message());
  REQUIRE(fetched.ok());
  CheckSame(fetched.value(), s);
}

TEST_CASE("supervisor history: no supervisor is Unavailable",
          "[supervisor-history]") {
  testing::TempDir dir;
  auto fetched = FetchSupervisorHistory(dir.File("supervisor.sock"),
                                        std::chrono::milliseconds(200));
  REQUIRE_FALSE(fetched.ok());
  CHECK(fetched.status().code() == common::Status::Code::kUnavailable);
}

}  // namespace
}  // namespace dynoguard::worker
