// POST /api/read: the request's validation (pure), then through the
// worker's HttpServer with the real SandboxTransport on a loop thread (the
// mark recorded, typing passed on), a transport that refuses (502 with the
// provider's code and message) and one that never answers (504).
#include "worker/http/read_routes.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/temp_dir.h"
#include "tests/worker/http/test_loop.h"
#include "worker/http/http_server.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using testing_loop::TestLoop;

TEST_CASE("read request: messageId required, typing optional", "[read]") {
  auto ok = ParseReadRequest(R"({"messageId":"wamid.1","typing":true})");
  REQUIRE(std::holds_alternative<ReadRequest>(ok));
  CHECK(std::get<ReadRequest>(ok).message_id == "wamid.1");
  CHECK(std::get<ReadRequest>(ok).typing);
  auto plain = ParseReadRequest(R"({"messageId":"wamid.2","typing":null})");
  REQUIRE(std::holds_alternative<ReadRequest>(plain));
  CHECK_FALSE(std::get<ReadRequest>(plain).typing);

  auto field_of = [](std::string_view body) {
    auto parsed = ParseReadRequest(body);
    REQUIRE(std::holds_alternative<RequestError>(parsed));
    const RequestError& e = std::get<RequestError>(parsed);
    return e.code + ":" + e.field;
  };
  CHECK(field_of("{}") == "invalid_field:messageId");
  CHECK(field_of(R"({"messageId":""})") == "invalid_field:messageId");
  CHECK(field_of(R"({"messageId":7})") == "invalid_field:messageId");
  CHECK(field_of(R"({"messageId":null})") == "invalid_field:messageId");
  CHECK(field_of(R"({"messageId":")" + std::string(257, 'a') + "\"}") ==
        "invalid_field:messageId");
  CHECK(field_of(R"({"messageId":"w","typing":"yes"})") ==
        "invalid_field:typing");
  CHECK(field_of("not json") == "invalid_json:");
  CHECK(field_of("[1]") == "invalid_json:");
}

// Answers MarkRead with the status it was given (Graph's refusal), or never.
class ScriptedTransport : public Transport {
 public:
  explicit ScriptedTransport(std::optional<common::Status> answer)
      : answer_(std::move(answer)) {}
  std::string_view name() const override { return "scripted"; }
  ConnectionState state() const override { return ConnectionState::kConnected; }
  std::string reason() const override { return ""; }
  std::optional<int64_t> last_heartbeat_ms() const override {
    return std::nullopt;
  }
  std::optional<int64_t> last_send_ok_ms() const override {
    return std::nullopt;
  }
  common::Status Start(uv_loop_t* loop, TransportEvents&) override {
    loop_ = loop;
    return common::Status::Ok();
  }
  void Send(const SendRequest&, SendCallback) override {}
  void MarkRead(const std::string&, bool, DoneCallback done) override {
    if (!answer_) return;  // never answers
    // Later, on the loop, never inside the call.
    auto* timer = new uv_timer_t;
    uv_timer_init(loop_, timer);
    timer->data = new std::function<void()>(
        [done = std::move(done), answer = *answer_] { done(answer); });
    uv_timer_start(
        timer,
        [](uv_timer_t* t) {
          auto* fn = static_cast<std::function<void()>*>(t->data);
          (*fn)();
          delete fn;
          uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
            delete reinterpret_cast<uv_timer_t*>(h);
          });
        },
        0, 0);
  }
  void UploadMedia(const MediaUpload&, UploadCallback) override {}
  MediaDownloadId DownloadMedia(const std::string&, uint64_t, MediaStreamSink,
                                DownloadCallback) override {
    return 1;
  }
  void ResumeDownload(MediaDownloadId) override {}
  void CancelDownload(MediaDownloadId) override {}
  void Poll(int64_t) override {}
  void Stop(std::function<void()> on_stopped) override { on_stopped(); }

 private:
  std::optional<common::Status> answer_;
  uv_loop_t* loop_ = nullptr;
};

class NoEvents : public TransportEvents {
 public:
  void OnInbound(const InboundMessage&) override {}
  void OnStatus(const StatusUpdate&) override {}
  void OnConnection(ConnectionState, std::string_view) override {}
};

class Fixture {
 public:
  explicit Fixture(Transport* other = nullptr,
                   milliseconds timeout = milliseconds(10000))
      : log_("test", common::LogFormat::kText, common::LogLevel::kError),
        sandbox_(SandboxTransport::Options{}, [] { return int64_t{1}; }) {
    config_.data_dir = dir_.path();
    transport_ = other ? other : &sandbox_;
    loop_.RunAndWait(
        [&] { REQUIRE(transport_->Start(loop_.loop(), events_).ok()); });
    server_.emplace(config_, log_, metrics_);
    ReadRouteDeps deps;
    deps.transport = transport_;
    deps.run_on_loop = loop_.runner();
    deps.timeout = timeout;
    InstallReadRoutes(server_->server(), RouteContext{&config_, &log_},
                      std::move(deps));
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~Fixture() {
    server_->Stop();
    thread_.join();
    loop_.Stop([this](std::function<void()> done) {
      transport_->Stop(std::move(done));
    });
  }
  httplib::Result Post(const std::string& body,
                       const std::string& type = "application/json") {
    httplib::Client client("127.0.0.1", server_->port());
    return client.Post("/api/read", body, type.c_str());
  }
  SandboxTransport& sandbox() { return sandbox_; }

 private:
  testing::TempDir dir_;
  common::Config config_;
  common::Logger log_;
  Metrics metrics_;
  TestLoop loop_;
  NoEvents events_;
  SandboxTransport sandbox_;
  Transport* transport_ = nullptr;
  std::optional<HttpServer> server_;
  std::thread thread_;
};

TEST_CASE("read routes: a message marked read through the sandbox", "[read]") {
  Fixture f;
  auto res = f.Post(R"({"messageId":"wamid.abc","typing":true})");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"messageId":"wamid.abc","read":true})");
  res = f.Post(R"({"messageId":"wamid.def"})");
  REQUIRE(res);
  CHECK(res->status == 200);
  auto marks = f.sandbox().ReadMarks();
  REQUIRE(marks.size() == 2);
  CHECK(marks[0].message_id == "wamid.abc");
  CHECK(marks[0].typing);
  CHECK(marks[1].message_id == "wamid.def");
  CHECK_FALSE(marks[1].typing);
}

TEST_CASE("read routes: bad requests are refused before the transport",
          "[read]") {
  Fixture f;
  auto res = f.Post(R"({"typing":true})");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body.find(R"("code":"invalid_field")") != std::string::npos);
  CHECK(res->body.find(R"("field":"messageId")") != std::string::npos);
  res = f.Post(R"({"messageId":""})");
  REQUIRE(res);
  CHECK(res->status == 400);
  res = f.Post("{", "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body.find(R"("code":"invalid_json")") != std::string::npos);
  res = f.Post(R"({"messageId":"w"})", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 415);
  CHECK(f.sandbox().ReadMarks().empty());
}

TEST_CASE(
    "read routes: the provider's refusal is 502 with its code and "
    "message",
    "[read]") {
  ScriptedTransport refusing(common::Status::InvalidArgument(
      "131009: Parameter value is not valid (message_id)"));
  Fixture f(&refusing);
  auto res = f.Post(R"({"messageId":"wamid.x"})");
  REQUIRE(res);
  CHECK(res->status == 502);
  CHECK(res->body.find("131009: Parameter value is not valid") !=
        std::string::npos);
}

TEST_CASE("read routes: a transport that does not answer gives 504", "[read]") {
  ScriptedTransport silent(std::nullopt);
  Fixture f(&silent, milliseconds(200));
  auto res = f.Post(R"({"messageId":"wamid.x"})");
  REQUIRE(res);
  CHECK(res->status == 504);
  CHECK(res->body.find(R"("code":"unavailable")") != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker
