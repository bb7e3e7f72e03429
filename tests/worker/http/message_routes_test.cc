// POST /api/messages end to end for every message kind and the 24-hour
// customer-service window: the worker's own object graph (app/gateway.h) with
// the real queue (SQLite in a temp dir) behind a real HttpServer on 127.0.0.1,
// driven with httplib::Client. The window is a set of contacts the test opens
// and closes (engineer D's durable contacts stand behind it in the worker).
#include "worker/http/message_routes.h"

#include <fcntl.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "tests/support/temp_dir.h"
#include "worker/app/gateway.h"
#include "worker/http/http_api.h"
#include "worker/http/http_server.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kNow = 1700000000000;
constexpr char kContact[] = "15551234567";

// The contacts whose window is open; thread-safe (HTTP threads ask).
class Window {
 public:
  void Open(const std::string& wa_id) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.insert(wa_id);
  }
  void Close(const std::string& wa_id) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(wa_id);
  }
  bool IsOpen(std::string_view wa_id, int64_t now_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    asked_.emplace_back(std::string(wa_id), now_ms);
    return open_.count(std::string(wa_id)) > 0;
  }
  std::vector<std::pair<std::string, int64_t>> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> open_;
  std::vector<std::pair<std::string, int64_t>> asked_;
};

// A worker's HTTP side serving on a thread for the test's duration; with
// `window`, MessageRouteDeps::window_open asks it.
class TestServer {
 public:
  explicit TestServer(Window* window) {
    config_.max_body_bytes = 65536;
    log_fd_ = ::open(dir_.File("worker.log").c_str(),
                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(log_fd_ >= 0);
    log_ = std::make_unique<common::Logger>("worker", common::LogFormat::kText,
                                            common::LogLevel::kInfo, log_fd_);
    GatewayOptions parts;
    parts.data_dir = dir_.path();
    parts.limit_bytes = 512 * kMiB;
    parts.emergency_percent = 85;
    parts.read_usage = [] { return 100 * kMiB; };
    parts.read_rss = [] { return 100 * kMiB; };
    parts.now_ms = [] { return kNow; };
    parts.durable_sandbox = false;
    auto gateway = Gateway::Open(config_, *log_, std::move(parts));
    REQUIRE(gateway.ok());
    gateway_ = std::move(gateway).value();

    LoopHooks hooks;
    hooks.wake_dispatcher = [this] { wakes_.fetch_add(1); };
    hooks.dispatcher_status = [] { return DispatcherStatus{}; };
    hooks.stall_loop = [](std::chrono::milliseconds) {};
    ApiRoutes routes = gateway_->Routes(hooks);
    // The gateway wires its durable contacts; these tests script the window
    // themselves (or check that no window_open means no check).
    routes.messages.window_open = nullptr;
    if (window != nullptr) {
      routes.messages.window_open = [window](std::string_view wa_id,
                                             int64_t now_ms) {
        return window->IsOpen(wa_id, now_ms);
      };
    }
    server_ = std::make_unique<HttpServer>(config_, *log_, gateway_->metrics());
    InstallRoutes(server_->server(), config_, *log_, std::move(routes));
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }

  ~TestServer() {
    server_->Stop();
    thread_.join();
    server_.reset();
    // The gateway's processor thread logs to log_fd_ until it stops.
    gateway_.reset();
    ::close(log_fd_);
  }

  httplib::Result Post(const std::string& body) {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client.Post("/api/messages", body, "application/json");
  }
  MessageQueue& queue() { return gateway_->queue(); }
  int64_t depth() { return queue().Stats()->depth; }
  int wakes() const { return wakes_.load(); }

 private:
  testing::TempDir dir_;
  common::Config config_;
  int log_fd_ = -1;
  std::unique_ptr<common::Logger> log_;
  std::unique_ptr<Gateway> gateway_;
  std::atomic<int> wakes_{0};
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  INFO(body);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

std::string Str(const rapidjson::Value& value) {
  REQUIRE(value.IsString());
  return std::string(value.GetString(), value.GetStringLength());
}

// The id of a 202 answer.
std::string Queued(const httplib::Result& res) {
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 202);
  rapidjson::Document doc = Json(res->body);
  CHECK(Str(doc["status"]) == "queued");
  return Str(doc["id"]);
}

struct ErrorAnswer {
  std::string code;
  std::string field;
  std::string message;
};

ErrorAnswer Refused(const httplib::Result& res, int status) {
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->status == status);
  rapidjson::Document doc = Json(res->body);
  REQUIRE(doc.HasMember("error"));
  const rapidjson::Value& error = doc["error"];
  return ErrorAnswer{
      Str(error["code"]),
      error.HasMember("field") ? Str(error["field"]) : std::string(),
      Str(error["message"])};
}

std::string Body(std::string_view members) {
  return R"({"to":"+15551234567",)" + std::string(members) + "}";
}

const std::string kWindowMessage =
    "outside the 24-hour customer-service window of 15551234567: only "
    "template messages can be sent until the contact writes again";

struct Kind {
  const char* name;
  std::string members;
  std::string summary;
};

// One valid body of each kind.
std::vector<Kind> EveryKind() {
  return {
      {"text", R"("text":"hello","previewUrl":true)", "hello"},
      {"text", R"("type":"text","text":{"body":"cloud form"})", "cloud form"},
      {"template",
       R"("type":"template","template":{"name":"hello_world","language":"en_US"})",
       ""},
      {"image",
       R"("type":"image","image":{"link":"https://e.com/a.jpg","caption":"pic"})",
       "pic"},
      {"document", R"("document":{"id":"101","filename":"a.pdf"})", "a.pdf"},
      {"audio", R"("audio":{"id":"102"})", ""},
      {"video", R"("video":{"link":"https://e.com/v.mp4"})", ""},
      {"sticker", R"("sticker":{"id":"103"})", ""},
      {"reaction",
       R"("reaction":{"message_id":"wamid.1","emoji":"\ud83d\udc4d"})",
       "\xF0\x9F\x91\x8D"},
      {"location", R"("location":{"latitude":1.5,"longitude":2,"name":"Here"})",
       "Here"},
      {"contacts", R"("contacts":[{"name":{"formatted_name":"Ada"}}])", "Ada"},
      {"interactive",
       R"("interactive":{"type":"button","body":{"text":"Pick"},)"
       R"("action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}})",
       "Pick"},
      {"interactive",
       R"("interactive":{"type":"list","body":{"text":"Menu"},"action":)"
       R"({"button":"Open","sections":[{"rows":[{"id":"r","title":"R"}]}]}})",
       "Menu"},
  };
}

TEST_CASE("message routes: every kind is queued with its summary",
          "[message-routes]") {
  Window window;
  window.Open(kContact);
  TestServer server(&window);
  int queued = 0;
  for (const Kind& kind : EveryKind()) {
    INFO(kind.members);
    std::string id = Queued(server.Post(Body(kind.members)));
    ++queued;
    auto stored = server.queue().Get(id);
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());
    CHECK((*stored)->to == kContact);
    CHECK((*stored)->text == kind.summary);
    if (std::string_view(kind.name) == "template") {
      CHECK((*stored)->template_json ==
            R"({"name":"hello_world","language":{"code":"en_US"}})");
    }
  }
  CHECK(server.depth() == queued);
  CHECK(server.wakes() == queued);
}

TEST_CASE("message routes: a wrong field is 400 naming its path",
          "[message-routes]") {
  Window window;
  window.Open(kContact);
  TestServer server(&window);
  struct Case {
    const char* members;
    const char* field;
  };
  for (const Case& c : {
           Case{R"("type":"gif","gif":{})", "type"},
           Case{R"("image":{"link":5})", "image.link"},
           Case{R"("interactive":{"type":"button","body":{"text":"b"},)"
                R"("action":{"buttons":[{"type":"reply","reply":{"id":"a",)"
                R"("title":"A"}},5]}})",
                "interactive.action.buttons[1]"},
           Case{R"("contacts":[{"name":{}}])",
                "contacts[0].name.formatted_name"},
       }) {
    INFO(c.members);
    ErrorAnswer error = Refused(server.Post(Body(c.members)), 400);
    CHECK(error.code == "invalid_field");
    CHECK(error.field == c.field);
  }
  CHECK(server.depth() == 0);
}

TEST_CASE("message routes: outside the 24-hour window only templates pass",
          "[message-routes]") {
  Window window;  // nobody wrote: every window is closed
  TestServer server(&window);
  for (const Kind& kind : EveryKind()) {
    INFO(kind.members);
    if (std::string_view(kind.name) == "template") continue;
    ErrorAnswer error = Refused(server.Post(Body(kind.members)), 400);
    CHECK(error.code == "invalid_field");
    CHECK(error.field == "to");
    CHECK(error.message == kWindowMessage);
  }
  CHECK(server.depth() == 0);
  CHECK(server.wakes() == 0);
  // The window is asked about the normalized number at the gateway's clock.
  std::vector<std::pair<std::string, int64_t>> asked = window.asked();
  REQUIRE(!asked.empty());
  CHECK(asked.front() == std::make_pair(std::string(kContact), kNow));

  // A template needs no window (and does not ask about it).
  const size_t asked_before = window.asked().size();
  Queued(server.Post(Body(
      R"("template":{"name":"hello_world","language":{"code":"en_US"}})")));
  CHECK(server.depth() == 1);
  CHECK(window.asked().size() == asked_before);

  // Once the contact writes, free-form messages pass again; closed again,
  // they are refused again.
  window.Open(kContact);
  Queued(server.Post(Body(R"("text":"thanks for writing")")));
  CHECK(server.depth() == 2);
  window.Close(kContact);
  CHECK(Refused(server.Post(Body(R"("text":"too late")")), 400).field == "to");
  CHECK(server.depth() == 2);
}

TEST_CASE("message routes: the body is validated before the window",
          "[message-routes]") {
  Window window;
  TestServer server(&window);
  CHECK(Refused(server.Post(Body(R"("image":{})")), 400).field == "image");
  CHECK(Refused(server.Post(R"({"to":"12","text":"a"})"), 400).field == "to");
  CHECK(window.asked().empty());
}

TEST_CASE(
    "message routes: an idempotent repeat answers the original id after the "
    "window closed",
    "[message-routes]") {
  Window window;
  window.Open(kContact);
  TestServer server(&window);
  const std::string body = Body(R"("text":"once","idempotencyKey":"order-1")");
  const std::string id = Queued(server.Post(body));
  window.Close(kContact);

  auto repeat = server.Post(body);
  REQUIRE(repeat);
  CHECK(repeat->status == 200);
  rapidjson::Document doc = Json(repeat->body);
  CHECK(Str(doc["id"]) == id);
  CHECK(Str(doc["status"]) == "queued");

  // The same key with another body is still a conflict, not a send.
  ErrorAnswer conflict = Refused(
      server.Post(Body(R"("text":"changed","idempotencyKey":"order-1")")), 422);
  CHECK(conflict.code == "conflict");
  CHECK(conflict.field == "idempotencyKey");
  // A new key is a new message: refused while the window is closed.
  CHECK(
      Refused(server.Post(Body(R"("text":"once","idempotencyKey":"order-2")")),
              400)
          .field == "to");
  CHECK(server.depth() == 1);
  CHECK(server.wakes() == 1);
}

TEST_CASE("message routes: without window_open nothing is checked",
          "[message-routes]") {
  TestServer server(nullptr);
  Queued(server.Post(Body(R"("text":"no contacts store")")));
  Queued(server.Post(Body(R"("sticker":{"id":"1"})")));
  CHECK(server.depth() == 2);
}

}  // namespace
}  // namespace dynoguard::worker
