// The HTTP API end to end: a real HttpServer on 127.0.0.1 with the real
// queue (SQLite in a temp dir), sandbox transport, memory manager, caches and
// event router, driven with httplib::Client and raw sockets.
#include "worker/http/http_api.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <memory>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/log.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "tests/worker/transport/sandbox/sandbox_driver.h"
#include "worker/app/gateway.h"
#include "worker/forward/event_outbox.h"
#include "worker/http/api_auth.h"
#include "worker/http/http_api.h"
#include "worker/http/http_server.h"
#include "worker/inbound/event_router.h"
#include "worker/memory/ballast.h"
#include "worker/memory/memory_manager.h"
#include "worker/metrics/metrics.h"
#include "worker/outbound/message_queue.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct Options {
  std::string api_key;        // empty: loopback-only mode
  bool sandbox = true;        // TRANSPORT=sandbox
  bool ballast = true;        // DEBUG_ENDPOINTS
  uint64_t max_body = 16384;  // MAX_BODY_BYTES
  std::string app_secret;     // WHATSAPP_APP_SECRET (POST /webhook)
  std::string webhook_url;    // WEBHOOK_URL: events recorded in the outbox
  common::LogRequests log_requests = common::LogRequests::kErrors;
  DispatcherStatus dispatcher;  // what the (absent) dispatcher reports
};

common::Config MakeConfig(const Options& options) {
  common::Config config;
  config.api_key = common::Redacted(options.api_key);
  config.max_body_bytes = options.max_body;
  config.whatsapp_app_secret = common::Redacted(options.app_secret);
  config.webhook_url = options.webhook_url;
  config.log_requests = options.log_requests;
  return config;
}

int OpenLogFile(const std::string& path) {
  int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  return fd;
}

// A worker's HTTP side, serving on a thread for the duration of a test: the
// worker's own object graph (app/gateway.h) with a fake clock and a fixed
// memory figure (100 MiB of 512 MiB, emergency at 85 %), a real HttpServer on
// 127.0.0.1.
class TestServer {
 public:
  explicit TestServer(Options options = {})
      : options_(options),
        config_(MakeConfig(options)),
        log_fd_(OpenLogFile(dir_.File("worker.log"))),
        log_("worker", common::LogFormat::kText, common::LogLevel::kInfo,
             log_fd_) {
    GatewayOptions parts;
    parts.data_dir = dir_.path();
    parts.limit_bytes = 512 * kMiB;
    parts.emergency_percent = 85;
    parts.read_usage = [] { return 100 * kMiB; };
    parts.read_rss = [] { return 100 * kMiB; };
    parts.now_ms = [this] { return now_.load(); };
    parts.debug_endpoints = options.ballast;
    parts.durable_sandbox = false;
    auto gateway = Gateway::Open(config_, log_, std::move(parts));
    REQUIRE(gateway.ok());
    gateway_ = std::move(gateway).value();
    // The test contact has written: its 24-hour window is open, so the
    // free-form texts below may be sent (the rule itself: message_routes_test).
    REQUIRE(gateway_->inbox().RecordInbound("15551234567", now_.load()).ok());
    // Simulated inbound messages are handled by the processor's thread.
    REQUIRE(gateway_->Start(nullptr).ok());

    LoopHooks hooks;
    hooks.wake_dispatcher = [this] { wakes_.fetch_add(1); };
    hooks.dispatcher_status = [dispatcher = options.dispatcher] {
      return dispatcher;
    };
    hooks.stall_loop = [](std::chrono::milliseconds) {};
    ApiRoutes routes = gateway_->Routes(hooks);
    if (!options.sandbox) routes.sandbox.sandbox = nullptr;
    server_ = std::make_unique<HttpServer>(config_, log_, gateway_->metrics());
    InstallRoutes(server_->server(), config_, log_, std::move(routes));
    server_->server().Get("/boom",
                          [](const httplib::Request&, httplib::Response&) {
                            throw std::runtime_error("handler bug");
                          });

    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    REQUIRE(server_->port() > 0);
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

  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client;
  }
  int port() const { return server_->port(); }
  std::string LogText() const {
    return testing::ReadFileText(dir_.File("worker.log")).value_or("");
  }

  MessageQueue& queue() { return gateway_->queue(); }
  EventOutbox* outbox() { return gateway_->outbox(); }
  MemoryManager& memory() { return gateway_->memory(); }
  SandboxTransport& sandbox() { return *gateway_->sandbox(); }
  ChatHistory& history() { return gateway_->history(); }
  // The chat with `wa_id`, newest `limit` last (a read error fails the test).
  std::vector<ChatEntry> Chat(const std::string& wa_id, size_t limit = 10) {
    auto chat = gateway_->history().Recent(wa_id, limit);
    REQUIRE(chat.ok());
    return std::move(chat).value();
  }
  Ballast& ballast() {
    REQUIRE(gateway_->ballast() != nullptr);
    return *gateway_->ballast();
  }
  Metrics& metrics() { return gateway_->metrics(); }
  Gateway& gateway() { return *gateway_; }
  int wakes() const { return wakes_.load(); }
  // Moves the fake clock on.
  void Advance(std::chrono::milliseconds by) { now_ += by.count(); }

 private:
  testing::TempDir dir_;
  Options options_;
  common::Config config_;
  int log_fd_;
  common::Logger log_;
  std::atomic<int64_t> now_{1700000000000};
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

// Checks that `res` is the JSON error `code` with HTTP `status`; returns the
// error object's "field" or "".
std::string ExpectError(const httplib::Result& res, int status,
                        const std::string& code) {
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  rapidjson::Document doc = Json(res->body);
  REQUIRE(doc.HasMember("error"));
  CHECK(Str(doc["error"]["code"]) == code);
  CHECK(!Str(doc["error"]["message"]).empty());
  return doc["error"].HasMember("field") ? Str(doc["error"]["field"]) : "";
}

httplib::Result PostJson(httplib::Client& client, const std::string& path,
                         const std::string& body,
                         const httplib::Headers& headers = {}) {
  return client.Post(path.c_str(), headers, body, "application/json");
}

// True when `answer` holds a status line, headers and the whole body its
// Content-Length announces.
bool CompleteResponse(const std::string& answer) {
  size_t end = answer.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string headers = answer.substr(0, end);
  std::transform(headers.begin(), headers.end(), headers.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  size_t length_at = headers.find("content-length:");
  if (length_at == std::string::npos) return true;
  size_t length = std::stoul(headers.substr(length_at + 15));
  return answer.size() >= end + 4 + length;
}

// Sends `bytes` on a plain TCP connection and returns what the server
// answered before closing (empty when it closed without answering). With
// `half_close` the client then shuts its side down, so the server sees the
// end of a truncated request (httplib writes no answer to a half-closed
// client).
std::string RawExchange(int port, const std::string& bytes,
                        bool half_close = false) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on a bad request
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[4096];
  // Read until the server closes or one whole response (headers plus
  // Content-Length bytes) is in: a kept-alive connection stays open.
  while (!CompleteResponse(answer)) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 10000) <= 0) break;
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

void ExpectHealthy(TestServer& server) {
  auto client = server.Client();
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
}

const std::string kText = R"({"to":"+15551234567","text":"hello"})";

// ---------------------------------------------------------------------------
// Public routes

TEST_CASE("http api: GET /health reports memory, session and queue",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document doc = Json(res->body);
  CHECK(Str(doc["status"]) == "ok");
  CHECK(Str(doc["timestamp"]) == "2023-11-14T22:13:20.000Z");
  CHECK(doc["uptime"].IsNumber());
  CHECK(doc["memory"]["raw"]["rss"].GetUint64() == 100 * kMiB);
  CHECK(doc["memory"]["raw"]["heapUsed"].IsUint64());
  CHECK(doc["memory"]["formatted"]["rss"].GetInt() == 100);
  CHECK(doc["memory"]["formatted"]["systemTotal"].GetInt() > 0);
  CHECK(doc["memory"]["limit"].GetUint64() == 512 * kMiB);
  CHECK(doc["memory"]["percentages"]["limitUsage"].GetInt() == 20);
  CHECK(doc["memoryOptimizationEnabled"].GetBool());
  CHECK(doc["databaseConnected"].GetBool());
  CHECK(Str(doc["session"]["transport"]) == "sandbox");
  CHECK(Str(doc["session"]["state"]) == "connected");
  CHECK(doc["queue"]["depth"].GetInt() == 0);
}

TEST_CASE("http api: GET /health is public even with an API key",
          "[http_api]") {
  Options options;
  options.api_key = "k3y";
  TestServer server(options);
  ExpectHealthy(server);
}

TEST_CASE("http api: databaseConnected is false once the queue is closed",
          "[http_api]") {
  TestServer server;
  REQUIRE(server.queue().Close().ok());
  auto client = server.Client();
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK_FALSE(Json(res->body)["databaseConnected"].GetBool());
}

TEST_CASE("http api: GET /session-status", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = client.Get("/session-status");
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document doc = Json(res->body);
  CHECK(Str(doc["transport"]) == "sandbox");
  CHECK(Str(doc["state"]) == "connected");
  CHECK(Str(doc["startedAt"]) == "2023-11-14T22:13:20.000Z");
  CHECK(doc["lastHeartbeat"].IsNull());
  CHECK(doc["lastBackup"].IsNull());
}

TEST_CASE(
    "http api: /session-status shows the last inbound message and the last "
    "send the sandbox accepted",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto status = [&] {
    auto res = client.Get("/session-status");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return Json(res->body);
  };
  rapidjson::Document before = status();
  CHECK(before["lastInbound"].IsNull());
  CHECK(before["lastOutbound"].IsNull());

  auto inbound = PostJson(client, "/api/sandbox/inbound",
                          R"({"from":"+4915112345678","text":"hi bot"})");
  REQUIRE(inbound);
  REQUIRE(inbound->status == 202);
  // The processor's thread handles it after the 202.
  REQUIRE(testing::WaitUntil([&] { return status()["lastInbound"].IsString(); },
                             std::chrono::seconds(10)));
  rapidjson::Document after_inbound = status();
  CHECK(Str(after_inbound["lastInbound"]) == "2023-11-14T22:13:20.000Z");
  CHECK(after_inbound["lastOutbound"].IsNull());

  server.Advance(std::chrono::milliseconds(1500));
  sandbox_test::SandboxDriver driver(server.sandbox());
  REQUIRE(
      driver.Send(sandbox_test::TextRequest("msg_1", "15551234567", "one")).ok);
  rapidjson::Document after_send = status();
  CHECK(Str(after_send["lastOutbound"]) == "2023-11-14T22:13:21.500Z");
  CHECK(Str(after_send["lastInbound"]) == "2023-11-14T22:13:20.000Z");

  // A send the sandbox refuses is not an outbound.
  server.Advance(std::chrono::milliseconds(1500));
  server.sandbox().FailNext(1, 131026, "Message undeliverable");
  REQUIRE_FALSE(
      driver.Send(sandbox_test::TextRequest("msg_2", "15551234567", "two")).ok);
  CHECK(Str(status()["lastOutbound"]) == "2023-11-14T22:13:21.500Z");
}

TEST_CASE("http api: GET /metrics is Prometheus text with HTTP counts",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  REQUIRE(client.Get("/health"));
  REQUIRE(client.Get("/nope"));
  // httplib logs (and counts) a request just after writing its answer.
  REQUIRE(testing::WaitUntil(
      [&] {
        return server.metrics().http_requests(200) == 1 &&
               server.metrics().http_requests(404) == 1;
      },
      std::chrono::seconds(5)));
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").starts_with("text/plain"));
  CHECK(res->body.find("# TYPE dynoguard_memory_rss_bytes gauge") !=
        std::string::npos);
  CHECK(res->body.find("dynoguard_memory_limit_bytes 536870912") !=
        std::string::npos);
  CHECK(res->body.find("dynoguard_http_requests_total{code=\"200\"} 1") !=
        std::string::npos);
  CHECK(res->body.find("dynoguard_http_requests_total{code=\"404\"} 1") !=
        std::string::npos);
}

// ---------------------------------------------------------------------------
// Errors produced by the server itself

TEST_CASE("http api: an unknown path is 404 not_found JSON", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  ExpectError(client.Get("/no/such/route"), 404, "not_found");
}

TEST_CASE("http api: a wrong method on a known path is 405 with Allow",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = client.Get("/api/messages");
  ExpectError(res, 405, "method_not_allowed");
  CHECK(res->get_header_value("Allow") == "POST");
  auto put = client.Put("/health", "{}", "application/json");
  ExpectError(put, 405, "method_not_allowed");
  CHECK(put->get_header_value("Allow") == "GET");
  ExpectError(client.Delete("/api/messages/msg_x"), 405, "method_not_allowed");
}

TEST_CASE("http api: a body over MAX_BODY_BYTES is 413 JSON", "[http_api]") {
  Options options;
  options.max_body = 1024;
  TestServer server(options);
  auto client = server.Client();
  std::string body =
      R"({"from":"15551234567","text":")" + std::string(2000, 'a') + "\"}";
  ExpectError(PostJson(client, "/api/sandbox/inbound", body), 413,
              "payload_too_large");
  // /api/messages takes up to 64 KiB (the largest valid message), not more.
  std::string message =
      R"({"to":"15551234567","text":")" + std::string(64 * 1024, 'a') + "\"}";
  ExpectError(PostJson(client, "/api/messages", message), 413,
              "payload_too_large");
  ExpectHealthy(server);
}

TEST_CASE(
    "http api: a 4,096-character text in \\u escapes is accepted "
    "under the default MAX_BODY_BYTES",
    "[http_api]") {
  TestServer server;  // MAX_BODY_BYTES 16384
  auto client = server.Client();
  std::string text;
  for (int i = 0; i < 4096; ++i) text += "\\u00e9";
  const std::string body = R"({"to":"15551234567","text":")" + text + "\"}";
  REQUIRE(body.size() > 16384);
  auto res = PostJson(client, "/api/messages", body);
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->status == 202);
  // One character more is refused on the decoded text.
  const std::string longer =
      R"({"to":"15551234567","text":")" + text + "\\u00e9\"}";
  CHECK(ExpectError(PostJson(client, "/api/messages", longer), 400,
                    "invalid_field") == "text");
}

TEST_CASE(
    "http api: a throwing handler answers 500 JSON and the server "
    "keeps serving",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  ExpectError(client.Get("/boom"), 500, "internal");
  ExpectHealthy(server);
}

TEST_CASE(
    "http api: a garbage request line gets 400 JSON, then /health "
    "works",
    "[http_api]") {
  TestServer server;
  std::string answer = RawExchange(server.port(), "GARBAGE\r\n\r\n");
  INFO(answer);
  CHECK(answer.starts_with("HTTP/1.1 400"));
  CHECK(answer.find("\"code\":\"invalid_field\"") != std::string::npos);
  ExpectHealthy(server);
}

TEST_CASE("http api: a truncated request is dropped, then /health works",
          "[http_api]") {
  TestServer server;
  CHECK(RawExchange(server.port(),
                    "GET /health HTTP/1.1\r\nHost: x\r\nContent-", true)
            .empty());
  CHECK(RawExchange(server.port(),
                    "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    "100\r\n\r\n{\"to\":",
                    true)
            .empty());
  ExpectHealthy(server);
}

TEST_CASE("http api: a huge header gets an error, then /health works",
          "[http_api]") {
  TestServer server;
  std::string answer =
      RawExchange(server.port(), "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                     std::string(200000, 'b') + "\r\n\r\n");
  INFO(answer.substr(0, 200));
  CHECK(answer.starts_with("HTTP/1.1 431"));
  CHECK(answer.find("\"code\":\"headers_too_large\"") != std::string::npos);
  std::string long_uri =
      RawExchange(server.port(), "GET /" + std::string(20000, 'u') +
                                     " HTTP/1.1\r\nHost: x\r\n\r\n");
  INFO(long_uri.substr(0, 200));
  CHECK(long_uri.starts_with("HTTP/1.1 414"));
  CHECK(long_uri.find("application/json") != std::string::npos);
  ExpectHealthy(server);
}

TEST_CASE(
    "http api: LOG_REQUESTS=all logs one line per request, path without "
    "query string",
    "[http_api]") {
  Options options;
  options.log_requests = common::LogRequests::kAll;
  TestServer server(options);
  auto client = server.Client();
  REQUIRE(client.Get("/cleanup?level=standard&api_key=topsecret"));
  // httplib logs a request just after writing its answer.
  REQUIRE(testing::WaitUntil(
      [&] { return server.metrics().http_requests(200) == 1; },
      std::chrono::seconds(5)));
  std::string log = server.LogText();
  CHECK(log.find("request method=GET path=/cleanup status=200 ms=") !=
        std::string::npos);
  CHECK(log.find("topsecret") == std::string::npos);
  CHECK(server.metrics().http_requests(200) == 1);
}

TEST_CASE(
    "http api: an accepted message is logged (queued id=...) only with "
    "LOG_REQUESTS=all, and its later answer gets its request line",
    "[http_api]") {
  for (auto policy :
       {common::LogRequests::kAll, common::LogRequests::kErrors}) {
    Options options;
    options.log_requests = policy;
    TestServer server(options);
    auto client = server.Client();
    auto res = PostJson(client, "/api/messages", kText);
    REQUIRE(res);
    REQUIRE(res->status == 202);
    REQUIRE(testing::WaitUntil(
        [&] { return server.metrics().http_requests(202) == 1; },
        std::chrono::seconds(5)));
    const std::string log = server.LogText();
    const bool all = policy == common::LogRequests::kAll;
    INFO(log);
    CHECK((log.find("queued id=msg_") != std::string::npos) == all);
    CHECK((log.find("request method=POST path=/api/messages status=202 ms=") !=
           std::string::npos) == all);
  }
}

// ---------------------------------------------------------------------------
// Authentication

TEST_CASE("http api: with API_KEY, a missing or wrong key is 401",
          "[http_api]") {
  Options options;
  options.api_key = "k3y";
  TestServer server(options);
  auto client = server.Client();
  auto missing = PostJson(client, "/api/messages", kText);
  ExpectError(missing, 401, "unauthorized");
  CHECK(missing->get_header_value("WWW-Authenticate") == "Bearer");
  ExpectError(PostJson(client, "/api/messages", kText,
                       {{"Authorization", "Bearer wrong"}}),
              401, "unauthorized");
  ExpectError(client.Get("/api/queue", {{"X-Api-Key", "k3y-not"}}), 401,
              "unauthorized");
  ExpectError(client.Post("/cleanup"), 401, "unauthorized");
  CHECK(server.queue().Stats()->depth == 0);
}

TEST_CASE("http api: with API_KEY, Bearer and X-Api-Key both work",
          "[http_api]") {
  Options options;
  options.api_key = "k3y";
  TestServer server(options);
  auto client = server.Client();
  auto bearer = PostJson(client, "/api/messages", kText,
                         {{"Authorization", "Bearer k3y"}});
  REQUIRE(bearer);
  CHECK(bearer->status == 202);
  auto header = client.Get("/api/queue", {{"X-Api-Key", "k3y"}});
  REQUIRE(header);
  CHECK(header->status == 200);
}

TEST_CASE("http api: without API_KEY, loopback clients are allowed",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = client.Get("/api/queue");
  REQUIRE(res);
  CHECK(res->status == 200);
  // A remote client would be refused (checked directly: tests only have
  // loopback).
  CHECK(CheckAuth(common::Redacted(), "", "", "192.0.2.10") ==
        AuthResult::kForbidden);
}

TEST_CASE(
    "http api: without API_KEY, a proxied, cross-origin or rebound "
    "request is 403 and says to set API_KEY",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  const std::string own = "127.0.0.1:" + std::to_string(server.port());
  for (const httplib::Headers& headers :
       {httplib::Headers{{"X-Forwarded-For", "203.0.113.7"}},
        httplib::Headers{{"X-Real-IP", "203.0.113.7"}},
        httplib::Headers{{"Forwarded", "for=203.0.113.7"}},
        httplib::Headers{{"Origin", "http://evil.example"}},
        httplib::Headers{{"Host", "evil.example"}}}) {
    INFO(headers.begin()->first);
    auto res = PostJson(client, "/api/messages", kText, headers);
    ExpectError(res, 403, "forbidden");
    CHECK(res->body.find("set API_KEY") != std::string::npos);
    ExpectError(client.Get("/api/queue", headers), 403, "forbidden");
  }
  CHECK(server.queue().Stats()->depth == 0);
  // The API's own origin, and a loopback name as Host, are local.
  auto same =
      PostJson(client, "/api/messages", kText, {{"Origin", "http://" + own}});
  REQUIRE(same);
  CHECK(same->status == 202);
  auto named = client.Get("/api/queue", {{"Host", "localhost"}});
  REQUIRE(named);
  CHECK(named->status == 200);
  // Public routes stay public.
  auto health = client.Get("/health", {{"X-Forwarded-For", "203.0.113.7"}});
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE(
    "http api: a JSON route without a Content-Type is 415 and queues "
    "nothing",
    "[http_api]") {
  TestServer server;
  const std::string body = R"({"to":"15551234567","text":"x"})";
  for (const char* path : {"/api/messages", "/api/sandbox/inbound"}) {
    INFO(path);
    std::string answer = RawExchange(
        server.port(), std::string("POST ") + path +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                           "close\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
    INFO(answer);
    CHECK(answer.starts_with("HTTP/1.1 415"));
    CHECK(answer.find("Content-Type") != std::string::npos);
  }
  auto client = server.Client();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded"}) {
    CHECK(ExpectError(client.Post("/api/messages", body, type), 415,
                      "invalid_field") == "Content-Type");
  }
  CHECK(server.queue().Stats()->depth == 0);
}

TEST_CASE(
    "http api: /cleanup?level=emergency takes the signal's path "
    "(pressure flag, figures logged)",
    "[http_api]") {
  // The fake memory reads 100 MiB of 512 MiB at 85 %: the emergency flag
  // follows the figure after the cleanup, as after SIGUSR2.
  TestServer server;
  auto client = server.Client();
  server.memory().SetPressure(true);
  auto res = client.Post("/cleanup?level=emergency");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK_FALSE(server.memory().under_pressure());
  CHECK(testing::WaitUntil(
      [&] {
        std::string log = server.LogText();
        return log.find("cleanup level=emergency") != std::string::npos &&
               log.find("rss=100MB") != std::string::npos &&
               log.find("trigger=http") != std::string::npos &&
               log.find("caches=") != std::string::npos;
      },
      std::chrono::seconds(5)));
  CHECK(server.metrics().cleanups(CleanupLevel::kEmergency) == 1);
}

// ---------------------------------------------------------------------------
// Messages

TEST_CASE(
    "http api: POST /api/messages queues durably and wakes the "
    "dispatcher",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = PostJson(client, "/api/messages", kText);
  REQUIRE(res);
  CHECK(res->status == 202);
  rapidjson::Document doc = Json(res->body);
  std::string id = Str(doc["id"]);
  CHECK(id.starts_with("msg_"));
  CHECK(Str(doc["status"]) == "queued");
  CHECK(server.wakes() == 1);
  auto stored = server.queue().Get(id);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->to == "15551234567");
  CHECK((*stored)->text == "hello");
}

TEST_CASE("http api: a template message is queued in Cloud API form",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = PostJson(
      client, "/api/messages",
      R"({"to":"15551234567","template":{"name":"hello_world","language":"en_US"}})");
  REQUIRE(res);
  CHECK(res->status == 202);
  auto stored = server.queue().Get(Str(Json(res->body)["id"]));
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->template_json ==
        R"({"name":"hello_world","language":{"code":"en_US"}})");
}

TEST_CASE("http api: malformed JSON is 400 invalid_json", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  ExpectError(PostJson(client, "/api/messages", "{\"to\":"), 400,
              "invalid_json");
  ExpectError(PostJson(client, "/api/messages", "[]"), 400, "invalid_json");
  ExpectError(PostJson(client, "/api/messages", ""), 400, "invalid_json");
  CHECK(server.queue().Stats()->depth == 0);
}

TEST_CASE("http api: each invalid field is 400 invalid_field naming it",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  struct Case {
    const char* body;
    const char* field;
  };
  for (Case c : {
           Case{R"({"text":"hi"})", "to"},
           Case{R"({"to":"12ab5678","text":"hi"})", "to"},
           Case{R"({"to":"15551234567"})", "text"},
           Case{R"({"to":"15551234567","text":""})", "text"},
           Case{R"({"to":"15551234567","template":{"language":"en"}})",
                "template.name"},
           Case{R"({"to":"15551234567","template":{"name":"t"}})",
                "template.language"},
           Case{R"({"to":"15551234567","text":"a","replyTo":""})", "replyTo"},
           Case{R"({"to":"15551234567","text":"a","idempotencyKey":7})",
                "idempotencyKey"},
       }) {
    INFO(c.body);
    CHECK(ExpectError(PostJson(client, "/api/messages", c.body), 400,
                      "invalid_field") == c.field);
  }
  CHECK(server.queue().Stats()->depth == 0);
}

TEST_CASE("http api: a non-JSON Content-Type is refused", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = client.Post("/api/messages", kText, "text/plain");
  CHECK(ExpectError(res, 415, "invalid_field") == "Content-Type");
  auto charset =
      client.Post("/api/messages", kText, "application/json; charset=utf-8");
  REQUIRE(charset);
  CHECK(charset->status == 202);
}

TEST_CASE("http api: the same idempotency key gives the same id and one row",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  const std::string body =
      R"({"to":"15551234567","text":"once","idempotencyKey":"order-42"})";
  auto first = PostJson(client, "/api/messages", body);
  auto second = PostJson(client, "/api/messages", body);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->status == 202);
  CHECK(second->status == 200);
  CHECK(Str(Json(first->body)["id"]) == Str(Json(second->body)["id"]));
  CHECK(Str(Json(second->body)["status"]) == "queued");
  CHECK(server.queue().Stats()->depth == 1);
  CHECK(server.wakes() == 1);
}

TEST_CASE(
    "http api: under memory pressure new sends get 503 with "
    "Retry-After",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  server.memory().SetPressure(true);
  auto refused = PostJson(client, "/api/messages", kText);
  ExpectError(refused, 503, "memory_pressure");
  CHECK(refused->get_header_value("Retry-After") == "5");
  CHECK(server.queue().Stats()->depth == 0);
  ExpectHealthy(server);
  server.memory().SetPressure(false);
  auto accepted = PostJson(client, "/api/messages", kText);
  REQUIRE(accepted);
  CHECK(accepted->status == 202);
}

TEST_CASE("http api: GET /api/messages/{id} shows status and error",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto posted = PostJson(client, "/api/messages", kText);
  REQUIRE(posted);
  std::string id = Str(Json(posted->body)["id"]);

  auto queued = client.Get(("/api/messages/" + id).c_str());
  REQUIRE(queued);
  CHECK(queued->status == 200);
  rapidjson::Document doc = Json(queued->body);
  CHECK(Str(doc["id"]) == id);
  CHECK(Str(doc["to"]) == "15551234567");
  CHECK(Str(doc["status"]) == "queued");
  CHECK(doc["attempts"].GetInt() == 0);
  CHECK_FALSE(doc.HasMember("providerId"));
  CHECK_FALSE(doc.HasMember("error"));

  REQUIRE(server.queue().MarkSending(id, 1700000001000).ok());
  REQUIRE(server.queue()
              .MarkFailed(id, {"131026", "undeliverable", false}, 1700000002000)
              .ok());
  auto failed = client.Get(("/api/messages/" + id).c_str());
  REQUIRE(failed);
  doc = Json(failed->body);
  CHECK(Str(doc["status"]) == "failed");
  CHECK(doc["attempts"].GetInt() == 1);
  CHECK(Str(doc["error"]["code"]) == "131026");
  CHECK(Str(doc["error"]["message"]) == "undeliverable");
  CHECK_FALSE(doc["error"]["retryable"].GetBool());
}

TEST_CASE("http api: a sent message shows its providerId", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto posted = PostJson(client, "/api/messages", kText);
  REQUIRE(posted);
  std::string id = Str(Json(posted->body)["id"]);
  REQUIRE(server.queue().MarkSending(id, 1700000001000).ok());
  REQUIRE(server.queue().MarkSent(id, "wamid.abc", 1700000002000).ok());
  auto res = client.Get(("/api/messages/" + id).c_str());
  REQUIRE(res);
  rapidjson::Document doc = Json(res->body);
  CHECK(Str(doc["status"]) == "sent");
  CHECK(Str(doc["providerId"]) == "wamid.abc");
}

TEST_CASE("http api: an unknown message id is 404 not_found", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  ExpectError(client.Get("/api/messages/msg_000000000000000000000000"), 404,
              "not_found");
}

TEST_CASE("http api: GET /api/queue shows depth, next send and dead letters",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto empty = client.Get("/api/queue");
  REQUIRE(empty);
  rapidjson::Document doc = Json(empty->body);
  CHECK(doc["depth"].GetInt() == 0);
  CHECK(doc["nextSendAt"].IsNull());
  CHECK(doc["deadLetters"]["count"].GetInt() == 0);
  CHECK(doc["deadLetters"]["recent"].GetArray().Size() == 0);

  std::string dead_id =
      Str(Json(PostJson(client, "/api/messages", kText)->body)["id"]);
  REQUIRE(PostJson(client, "/api/messages", kText));
  REQUIRE(server.queue().MarkSending(dead_id, 1700000000500).ok());
  REQUIRE(server.queue()
              .MarkFailed(dead_id, {"131047", "outside window", false},
                          1700000000600)
              .ok());
  auto res = client.Get("/api/queue");
  REQUIRE(res);
  doc = Json(res->body);
  CHECK(doc["depth"].GetInt() == 1);
  CHECK(doc["inFlight"].GetInt() == 0);
  CHECK(doc["nextSendAt"].GetInt64() == 1700000000000);
  CHECK(doc["deadLetters"]["count"].GetInt() == 1);
  REQUIRE(doc["deadLetters"]["recent"].GetArray().Size() == 1);
  const auto& dead = doc["deadLetters"]["recent"][0];
  CHECK(Str(dead["id"]) == dead_id);
  CHECK(Str(dead["error"]["code"]) == "131047");
}

TEST_CASE(
    "http api: a forwarding dead letter shows in /api/queue, with why, and in "
    "/metrics",
    "[http_api][forward]") {
  Options options;
  options.webhook_url = "http://127.0.0.1:9/events";
  TestServer server(options);
  REQUIRE(server.outbox() != nullptr);
  auto client = server.Client();
  const ForwardEvent event{"evt_dead1", "message", "15551234567", 1700000000000,
                           R"({"id":"evt_dead1"})"};
  REQUIRE(server.outbox()->Append(event, 1700000000000).ok());
  REQUIRE(
      server.outbox()->MarkDead("evt_dead1", "http_410", 1700000000900).ok());

  auto res = client.Get("/api/queue");
  REQUIRE(res);
  rapidjson::Document doc = Json(res->body);
  REQUIRE(doc["forwarding"].IsObject());
  CHECK(doc["forwarding"]["deadLetters"].GetInt() == 1);
  REQUIRE(doc["forwarding"]["recentDeadLetters"].GetArray().Size() == 1);
  const auto& dead = doc["forwarding"]["recentDeadLetters"][0];
  CHECK(Str(dead["id"]) == "evt_dead1");
  CHECK(Str(dead["type"]) == "message");
  CHECK(Str(dead["chat"]) == "15551234567");
  CHECK(Str(dead["error"]) == "http_410");
  CHECK(dead["failedAt"].GetInt64() == 1700000000900);

  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body,
             Catch::Contains("\ndynoguard_forward_dead_letters 1\n"));
}

// ---------------------------------------------------------------------------
// Cleanup

TEST_CASE("http api: /cleanup runs a standard cleanup by default",
          "[http_api]") {
  TestServer server;
  EventRouter& router = server.gateway().router();  // a Cleanable
  for (int i = 0; i < 10; ++i) {
    router.OnInbound({"in" + std::to_string(i), "15551234567",
                      "message " + std::to_string(i), 1700000000000});
  }
  const uint64_t router_bytes = router.bytes();
  auto client = server.Client();
  auto res = client.Post("/cleanup");
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document doc = Json(res->body);
  CHECK(Str(doc["level"]) == "standard");
  CHECK(doc["before"]["rss"].GetUint64() == 100 * kMiB);
  CHECK(doc["after"]["cacheBytes"].GetUint64() <
        doc["before"]["cacheBytes"].GetUint64());
  CHECK(doc["freed"].IsUint64());
  CHECK(doc["tookMs"].IsInt64());
  CHECK(router.bytes() < router_bytes);  // halved
  CHECK(server.metrics().cleanups(CleanupLevel::kStandard) == 1);
  CHECK(server.LogText().find("cleanup level=standard freed=") !=
        std::string::npos);
}

TEST_CASE("http api: GET /cleanup?level=emergency clears the caches",
          "[http_api]") {
  TestServer server;
  EventRouter& router = server.gateway().router();  // a Cleanable
  router.OnInbound({"in1", "15551234567", "hi", 1700000000000});
  const uint64_t router_bytes = router.bytes();
  server.ballast().Grow(2);
  auto client = server.Client();
  auto res = client.Get("/cleanup?level=emergency");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Str(Json(res->body)["level"]) == "emergency");
  CHECK(router.bytes() < router_bytes);
  CHECK(server.ballast().megabytes() == 0);
  CHECK(server.metrics().cleanups(CleanupLevel::kEmergency) == 1);
}

TEST_CASE(
    "http api: the same webhook delivery before and after an emergency "
    "cleanup reaches the sinks once",
    "[http_api]") {
  Options options;
  options.app_secret = "app-secret";
  options.webhook_url = "http://127.0.0.1:9/bot";  // recorded, not POSTed
  TestServer server(options);
  REQUIRE(server.gateway().outbox() != nullptr);
  auto client = server.Client();
  testing::MessageHeader header;
  header.from = "4915112345678";
  header.id = "wamid.EMERGENCY1";
  const std::string body =
      testing::MessagesWebhook({testing::TextMessage(header, "hello")},
                               {testing::Contact(header.from, "Ann")});
  const httplib::Headers signed_headers = {
      {"X-Hub-Signature-256", testing::SignatureHeader("app-secret", body)}};
  auto processed = [&](int64_t rows) {
    return testing::WaitUntil(
        [&] {
          auto counts = server.gateway().inbox().Counts();
          return counts.ok() && counts->pending == 0 &&
                 counts->processed == rows;
        },
        std::chrono::seconds(10));
  };

  auto first = PostJson(client, "/webhook", body, signed_headers);
  REQUIRE(first);
  REQUIRE(first->status == 200);
  REQUIRE(processed(1));
  CHECK(server.Chat(header.from).size() == 1);

  auto cleanup = client.Post("/cleanup?level=emergency");
  REQUIRE(cleanup);
  REQUIRE(cleanup->status == 200);
  CHECK(server.metrics().cleanups(CleanupLevel::kEmergency) == 1);
  // The chat is on disk: the cleanup that emptied every cache left it.
  CHECK(server.Chat(header.from).size() == 1);

  auto again = PostJson(client, "/webhook", body, signed_headers);
  REQUIRE(again);
  REQUIRE(again->status == 200);
  REQUIRE(processed(2));
  // The dedup keys are on disk, untouched by the cleanup: the repeat is a
  // duplicate, not a second event for the bot.
  InboundCounters counters = server.gateway().processor().counters();
  CHECK(counters.messages == 1);
  CHECK(counters.duplicates == 1);
  auto events = server.gateway().outbox()->Pending(10);
  REQUIRE(events.ok());
  CHECK(events->size() == 1);
  CHECK(server.Chat(header.from).size() == 1);  // the repeat added nothing
}

TEST_CASE(
    "http api: a webhook part of an unexpected shape is left out alone and "
    "counted in /metrics",
    "[http_api]") {
  Options options;
  options.app_secret = "app-secret";
  TestServer server(options);
  auto client = server.Client();
  testing::MessageHeader header;
  header.from = "4915112345678";
  header.id = "wamid.GOOD1";
  const std::string body = testing::MessagesWebhook(
      {R"({"from":"4915112345678","id":"wamid.BAD1","timestamp":"1",)"
       R"("type":"text","text":{}})",
       testing::TextMessage(header, "still here")});
  auto res = PostJson(
      client, "/webhook", body,
      {{"X-Hub-Signature-256", testing::SignatureHeader("app-secret", body)}});
  REQUIRE(res);
  REQUIRE(res->status == 200);
  // Counted once the row is processed.
  CHECK(testing::WaitUntil(
      [&] {
        auto metrics = client.Get("/metrics");
        return metrics && metrics->body.find(
                              "dynoguard_webhook_parts_skipped_total 1\n") !=
                              std::string::npos;
      },
      std::chrono::seconds(10)));
  auto chat = server.Chat(header.from);
  REQUIRE(chat.size() == 1);
  CHECK(chat[0].text == "still here");
  CHECK(server.LogText().find("webhook-part-skipped") != std::string::npos);
}

TEST_CASE("http api: /cleanup with a bad level is invalid_field",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  CHECK(ExpectError(client.Get("/cleanup?level=huge"), 400, "invalid_field") ==
        "level");
}

// ---------------------------------------------------------------------------
// Sandbox

TEST_CASE(
    "http api: POST /api/sandbox/inbound goes through the inbound "
    "path",
    "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = PostJson(client, "/api/sandbox/inbound",
                      R"({"from":"+4915112345678","text":"hi bot"})");
  REQUIRE(res);
  CHECK(res->status == 202);
  CHECK(!Str(Json(res->body)["id"]).empty());
  // The inbox commits it; the processor's thread takes it from there.
  REQUIRE(testing::WaitUntil(
      [&] { return server.Chat("4915112345678").size() == 1; },
      std::chrono::seconds(10)));
  auto recent = server.Chat("4915112345678");
  CHECK(recent[0].text == "hi bot");
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("dynoguard_inbound_messages_total 1\n") !=
        std::string::npos);
  CHECK(ExpectError(PostJson(client, "/api/sandbox/inbound",
                             R"({"from":"x","text":"hi"})"),
                    400, "invalid_field") == "from");
}

TEST_CASE("http api: GET /api/sandbox/outbox lists sends oldest first",
          "[http_api]") {
  TestServer server;
  sandbox_test::SandboxDriver driver(server.sandbox());
  REQUIRE(
      driver.Send(sandbox_test::TextRequest("msg_1", "15551234567", "one")).ok);
  REQUIRE(
      driver.Send(sandbox_test::TextRequest("msg_2", "15551234568", "two")).ok);
  auto client = server.Client();
  auto res = client.Get("/api/sandbox/outbox");
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document doc = Json(res->body);
  const auto& messages = doc["messages"];
  REQUIRE(messages.Size() == 2);
  CHECK(Str(messages[0]["to"]) == "15551234567");
  CHECK(Str(messages[0]["text"]) == "one");
  CHECK(Str(messages[0]["type"]) == "text");
  CHECK(Str(messages[0]["content"]["body"]) == "one");
  CHECK(messages[0]["sentAt"].GetInt64() == 1700000000000);
  CHECK(!Str(messages[0]["id"]).empty());
  CHECK(Str(messages[1]["text"]) == "two");
}

TEST_CASE("http api: /session-status shows a pause of every send and why",
          "[http_api]") {
  {
    TestServer server;
    auto res = server.Client().Get("/session-status");
    REQUIRE(res);
    rapidjson::Document doc = Json(res->body);
    CHECK_FALSE(doc["sendsPaused"].GetBool());
    CHECK(doc["pauseReason"].IsNull());
  }
  Options options;
  options.dispatcher.paused = true;
  options.dispatcher.pause_reason = "account_blocked";
  TestServer server(options);
  auto res = server.Client().Get("/session-status");
  REQUIRE(res);
  rapidjson::Document doc = Json(res->body);
  // On the sandbox too: the transport stays connected, the sends are held.
  CHECK(Str(doc["state"]) == "connected");
  CHECK(doc["sendsPaused"].GetBool());
  CHECK(Str(doc["pauseReason"]) == "account_blocked");
}

TEST_CASE("http api: POST /api/sandbox/fail makes the next sends fail",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto res = PostJson(client, "/api/sandbox/fail",
                      R"({"count":1,"code":131026,"message":"nope"})");
  REQUIRE(res);
  CHECK(res->status == 200);
  sandbox_test::SandboxDriver driver(server.sandbox());
  SendResult failed =
      driver.Send(sandbox_test::TextRequest("msg_1", "15551234567", "x"));
  CHECK_FALSE(failed.ok);
  CHECK(failed.error.code == "131026");
  CHECK(driver.Send(sandbox_test::TextRequest("msg_2", "15551234567", "y")).ok);
  CHECK(ExpectError(PostJson(client, "/api/sandbox/fail", R"({"count":0})"),
                    400, "invalid_field") == "count");
}

TEST_CASE("http api: sandbox routes are 404 with the cloud transport",
          "[http_api]") {
  Options options;
  options.sandbox = false;
  TestServer server(options);
  auto client = server.Client();
  ExpectError(PostJson(client, "/api/sandbox/inbound",
                       R"({"from":"4915112345678","text":"hi"})"),
              404, "not_found");
  ExpectError(client.Get("/api/sandbox/outbox"), 404, "not_found");
  ExpectError(PostJson(client, "/api/sandbox/fail", R"({"count":1,"code":1})"),
              404, "not_found");
}

// ---------------------------------------------------------------------------
// Debug ballast

TEST_CASE("http api: /debug/ballast grows and releases", "[http_api]") {
  TestServer server;
  auto client = server.Client();
  auto grown = client.Post("/debug/ballast?mb=2");
  REQUIRE(grown);
  CHECK(grown->status == 200);
  CHECK(Json(grown->body)["ballastMb"].GetUint64() == 2);
  CHECK(server.ballast().megabytes() == 2);
  auto shown = client.Get("/debug/ballast");
  REQUIRE(shown);
  CHECK(Json(shown->body)["ballastMb"].GetUint64() == 2);
  auto released = client.Delete("/debug/ballast");
  REQUIRE(released);
  CHECK(Json(released->body)["ballastMb"].GetUint64() == 0);
  REQUIRE(client.Get("/debug/ballast?mb=1"));
  auto by_param = client.Get("/debug/ballast?release=1");
  REQUIRE(by_param);
  CHECK(Json(by_param->body)["ballastMb"].GetUint64() == 0);
  CHECK(server.ballast().megabytes() == 0);
}

TEST_CASE("http api: a pinned ballast survives /cleanup?level=emergency",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  REQUIRE(client.Post("/debug/ballast?mb=1"));
  auto pinned = client.Post("/debug/ballast?mb=2&pinned=1");
  REQUIRE(pinned);
  CHECK(Json(pinned->body)["ballastMb"].GetUint64() == 3);
  auto cleanup = client.Post("/cleanup?level=emergency");
  REQUIRE(cleanup);
  CHECK(cleanup->status == 200);
  CHECK(server.ballast().megabytes() == 2);
  REQUIRE(client.Delete("/debug/ballast"));
  CHECK(server.ballast().megabytes() == 0);
}

TEST_CASE("http api: /debug/ballast refuses sizes outside 1-4096",
          "[http_api]") {
  TestServer server;
  auto client = server.Client();
  for (const char* path : {"/debug/ballast?mb=0", "/debug/ballast?mb=4097",
                           "/debug/ballast?mb=abc", "/debug/ballast?mb=-1"}) {
    INFO(path);
    CHECK(ExpectError(client.Post(path), 400, "invalid_field") == "mb");
  }
  CHECK(server.ballast().megabytes() == 0);
}

TEST_CASE("http api: /debug/ballast is 404 without DEBUG_ENDPOINTS",
          "[http_api]") {
  Options options;
  options.ballast = false;
  TestServer server(options);
  auto client = server.Client();
  ExpectError(client.Post("/debug/ballast?mb=1"), 404, "not_found");
}

// ---------------------------------------------------------------------------
// HttpServer lifecycle

TEST_CASE("http server: Stop before Serve makes Serve return at once",
          "[http_api]") {
  common::Config config;
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError);
  Metrics metrics;
  HttpServer server(config, log, metrics);
  REQUIRE(server.Bind("127.0.0.1", 0).ok());
  server.Stop();
  server.Serve();  // must not block
  CHECK(server.port() > 0);
}

TEST_CASE("http server: serves an adopted listening socket and stops",
          "[http_api]") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  // The supervisor keeps its own descriptor of the socket.
  int supervisor_fd = ::dup(fd);
  REQUIRE(supervisor_fd >= 0);

  common::Config config;
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError);
  Metrics metrics;
  HttpServer server(config, log, metrics);
  server.server().Get("/health",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content("{}", "application/json");
                      });
  REQUIRE(server.Adopt(fd).ok());
  REQUIRE(server.port() > 0);
  // Accepted connections inherit TCP_NODELAY from the listening socket.
  int nodelay = 0;
  socklen_t nodelay_len = sizeof nodelay;
  REQUIRE(::getsockopt(supervisor_fd, IPPROTO_TCP, TCP_NODELAY, &nodelay,
                       &nodelay_len) == 0);
  CHECK(nodelay == 1);
  std::thread serving([&] { server.Serve(); });
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  server.Stop();
  serving.join();

  // The shared socket was not shut down: a new connection still lands in
  // the backlog the supervisor holds.
  int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(server.port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(::connect(probe, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  ::close(probe);
  ::close(supervisor_fd);
}

TEST_CASE("http server: Adopt refuses a socket that is not listening",
          "[http_api]") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  common::Config config;
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError);
  Metrics metrics;
  HttpServer server(config, log, metrics);
  common::Status status = server.Adopt(fd);
  CHECK(status.code() == common::Status::Code::kInvalidArgument);
  ::close(fd);
}

}  // namespace
}  // namespace dynoguard::worker
