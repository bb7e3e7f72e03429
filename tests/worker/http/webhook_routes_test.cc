// POST/GET /webhook and POST /api/sandbox/inbound end to end: a real
// HttpServer on 127.0.0.1, the real inbound store in a temp dir and a running
// InboundProcessor whose sinks record what they get.
#include "worker/http/webhook_routes.h"

#include <fcntl.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "worker/http/body_limit.h"
#include "worker/http/http_server.h"
#include "worker/http/sandbox_routes.h"
#include "worker/inbound/inbound_processor.h"
#include "worker/inbound/inbound_store.h"
#include "worker/metrics/metrics.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;
using std::chrono::milliseconds;

constexpr char kSecret[] = "app-secret-for-tests";
constexpr char kVerifyToken[] = "verify-me-please";
constexpr int64_t kNow = 1'739'321'100'000;

struct Options {
  std::string app_secret = kSecret;
  std::string verify_token = kVerifyToken;
  std::string api_key;
};

class Server {
 public:
  explicit Server(Options options = {})
      : log_fd_(::open(dir_.File("worker.log").c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)),
        log_("worker", common::LogFormat::kText, common::LogLevel::kInfo,
             log_fd_),
        sandbox_(SandboxTransport::Options{}, [] { return kNow; }) {
    config_.whatsapp_app_secret = common::Redacted(options.app_secret);
    config_.whatsapp_verify_token = common::Redacted(options.verify_token);
    config_.api_key = common::Redacted(options.api_key);
    auto store = InboundStore::Open(dir_.File("inbound.db"), &log_);
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    InboundSinks sinks;
    sinks.on_message = [this](const WebhookMessage& m) {
      std::unique_lock lock(mu_);
      // Held (Hold): the processor's thread waits here, as behind a slow
      // outbox.
      ++in_sink_;
      held_cv_.wait(lock, [this] { return !held_; });
      --in_sink_;
      messages_.push_back(m);
      return common::Status::Ok();
    };
    sinks.on_status = [this](const WebhookStatus& s) {
      std::lock_guard lock(mu_);
      statuses_.push_back(s.update.provider_id);
      return common::Status::Ok();
    };
    processor_ = std::make_unique<InboundProcessor>(
        log_, *store_, std::move(sinks), [] { return kNow; });
    processor_->Start();

    server_ = std::make_unique<HttpServer>(config_, log_, metrics_);
    const RouteContext context{&config_, &log_};
    InboundProcessor* processor = processor_.get();
    InstallWebhookRoutes(server_->server(), context,
                         {store_.get(), [processor] { processor->Wake(); },
                          [] { return kNow; }});
    SandboxRouteDeps sandbox;
    sandbox.sandbox = &sandbox_;
    sandbox.inbox = store_.get();
    sandbox.wake_processor = [processor] { processor->Wake(); };
    sandbox.now_ms = [] { return kNow; };
    InstallSandboxRoutes(server_->server(), context, std::move(sandbox));
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~Server() {
    Release();
    server_->Stop();
    thread_.join();
    server_.reset();
    processor_->Stop();
    ::close(log_fd_);
  }

  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client;
  }
  httplib::Result PostWebhook(const std::string& body,
                              const std::string& signature) {
    httplib::Headers headers;
    if (!signature.empty()) headers.emplace("X-Hub-Signature-256", signature);
    return Client().Post("/webhook", headers, body, "application/json");
  }
  httplib::Result PostSigned(const std::string& body) {
    return PostWebhook(body, t::SignatureHeader(kSecret, body));
  }

  // From now on the message sink waits, on the processor's thread, until
  // Release.
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    held_cv_.notify_all();
  }
  // Messages waiting in the held sink.
  int in_sink() {
    std::lock_guard lock(mu_);
    return in_sink_;
  }
  int64_t pending_rows() {
    auto counts = store_->Counts();
    REQUIRE(counts.ok());
    return counts->pending;
  }

  size_t message_count() {
    std::lock_guard lock(mu_);
    return messages_.size();
  }
  std::vector<WebhookMessage> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  int64_t stored_rows() {
    auto counts = store_->Counts();
    REQUIRE(counts.ok());
    return counts->pending + counts->processed;
  }
  std::string LogText() const {
    return t::ReadFileText(dir_.File("worker.log")).value_or("");
  }

  t::TempDir dir_;
  int log_fd_;
  common::Logger log_;
  common::Config config_;
  Metrics metrics_;
  SandboxTransport sandbox_;
  std::unique_ptr<InboundStore> store_;
  std::unique_ptr<InboundProcessor> processor_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable held_cv_;
  bool held_ = false;                     // guarded by mu_
  int in_sink_ = 0;                       // guarded by mu_
  std::vector<WebhookMessage> messages_;  // guarded by mu_
  std::vector<std::string> statuses_;     // guarded by mu_
};

std::string ErrorCode(const httplib::Result& res) {
  REQUIRE(res);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember("error"));
  return doc["error"]["code"].GetString();
}

std::string TextBody(const std::string& id, const std::string& text) {
  t::MessageHeader header;
  header.id = id;
  return t::MessagesWebhook({t::TextMessage(header, text)},
                            {t::Contact(header.from, "Ann")});
}

TEST_CASE("webhook: GET verification echoes the challenge for the right token",
          "[webhook]") {
  Server server;
  auto res = server.Client().Get(
      "/webhook?hub.mode=subscribe&hub.verify_token=verify-me-please&"
      "hub.challenge=1158201444");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "1158201444");
  CHECK(res->get_header_value("Content-Type").find("text/plain") == 0);
}

TEST_CASE("webhook: GET verification refuses a wrong token or mode",
          "[webhook]") {
  Server server;
  auto client = server.Client();
  for (const char* path :
       {"/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "/webhook?hub.mode=subscribe&hub.verify_token=verify-me-pleasE&"
        "hub.challenge=1",
        "/webhook?hub.mode=unsubscribe&hub.verify_token=verify-me-please&"
        "hub.challenge=1",
        "/webhook?hub.challenge=1", "/webhook"}) {
    INFO(path);
    auto res = client.Get(path);
    CHECK(ErrorCode(res) == "forbidden");
    CHECK(res->status == 403);
    CHECK(res->body.find("1158") == std::string::npos);
  }
  CHECK(server.LogText().find("verify-me-please") == std::string::npos);
}

TEST_CASE("webhook: GET verification without a verify token says to set it",
          "[webhook]") {
  Options options;
  options.verify_token = "";
  Server server(options);
  auto res = server.Client().Get(
      "/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1");
  CHECK(ErrorCode(res) == "forbidden");
  CHECK(res->body.find("WHATSAPP_VERIFY_TOKEN") != std::string::npos);
}

TEST_CASE("webhook: a signed body is stored, answered 200 and processed",
          "[webhook]") {
  Server server;
  const std::string body = TextBody("wamid.good", "hello");
  auto res = server.PostSigned(body);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"received":true})");
  CHECK(t::WaitUntil([&] { return server.message_count() == 1; },
                     milliseconds(10000)));
  CHECK(server.messages()[0].message.text == "hello");
  CHECK(server.stored_rows() == 1);
  CHECK(server.store_->RecentMessages("16505551234", 10).value().size() == 1);
}

TEST_CASE("webhook: a missing, malformed or wrong signature stores nothing",
          "[webhook]") {
  Server server;
  const std::string body = TextBody("wamid.bad", "hello");
  std::string changed = body;
  changed[changed.find("hello")] = 'j';  // one byte

  auto missing = server.PostWebhook(body, "");
  CHECK(ErrorCode(missing) == "unauthorized");
  CHECK(missing->status == 401);
  auto malformed = server.PostWebhook(body, "sha1=abc");
  CHECK(ErrorCode(malformed) == "forbidden");
  CHECK(malformed->status == 403);
  auto wrong = server.PostWebhook(body, t::SignatureHeader("other", body));
  CHECK(wrong->status == 403);
  auto one_byte =
      server.PostWebhook(changed, t::SignatureHeader(kSecret, body));
  CHECK(ErrorCode(one_byte) == "forbidden");
  CHECK(one_byte->status == 403);

  CHECK(server.stored_rows() == 0);
  CHECK(server.message_count() == 0);
  const std::string log = server.LogText();
  CHECK(log.find(kSecret) == std::string::npos);
  // Four refusals within a minute: one warning (the route is public).
  const size_t first = log.find("webhook-signature-refused");
  REQUIRE(first != std::string::npos);
  CHECK(log.find("webhook-signature-refused", first + 1) == std::string::npos);
}

TEST_CASE("webhook: without an app secret POST is 503 naming it", "[webhook]") {
  Options options;
  options.app_secret = "";
  Server server(options);
  const std::string body = TextBody("wamid.x", "x");
  auto res = server.PostWebhook(body, t::SignatureHeader("anything", body));
  CHECK(ErrorCode(res) == "unavailable");
  CHECK(res->status == 503);
  CHECK(res->body.find("WHATSAPP_APP_SECRET") != std::string::npos);
  CHECK(server.stored_rows() == 0);
}

TEST_CASE("webhook: the route is public even with an API key", "[webhook]") {
  Options options;
  options.api_key = "an-api-key";
  Server server(options);
  auto res = server.PostSigned(TextBody("wamid.pub", "x"));
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("webhook: a batch over 16 KiB fits the route limit", "[webhook]") {
  Server server;
  std::vector<std::string> messages;
  for (int i = 0; i < 100; ++i) {
    t::MessageHeader header;
    header.id = "wamid.big." + std::to_string(i);
    messages.push_back(t::TextMessage(header, std::string(400, 'x')));
  }
  const std::string body = t::MessagesWebhook(messages);
  REQUIRE(body.size() > 16 * 1024);
  auto res = server.PostSigned(body);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(t::WaitUntil([&] { return server.message_count() == 100; },
                     milliseconds(10000)));
  CHECK(BodyLimitFor(16384, "POST", "/webhook") == kWebhookBodyBytes);
  CHECK(BodyLimitFor(16384, "GET", "/webhook") == 16384);
  CHECK(LargestBodyLimit(16384) == kWebhookBodyBytes);
}

TEST_CASE(
    "webhook: a signed body over 1 MiB is taken, up to 3 MiB (Meta's 3 MB); "
    "one byte more is 413",
    "[webhook]") {
  constexpr size_t kMiB = 1024 * 1024;
  CHECK(kWebhookBodyBytes == 3 * kMiB);
  Server server;
  // A batch just over 1 MiB, the old bound.
  std::vector<std::string> messages;
  for (int i = 0; i < 260; ++i) {
    t::MessageHeader header;
    header.id = "wamid.mib." + std::to_string(i);
    messages.push_back(t::TextMessage(header, std::string(4096, 'x')));
  }
  const std::string batch = t::MessagesWebhook(messages);
  REQUIRE(batch.size() > kMiB);
  REQUIRE(batch.size() < kMiB + kMiB / 8);
  auto res = server.PostSigned(batch);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(t::WaitUntil([&] { return server.message_count() == 260; },
                     milliseconds(20000)));

  // One message whose text brings the body to exactly the bound, then one
  // byte more.
  t::MessageHeader header;
  header.id = "wamid.edge";
  const size_t frame = t::MessagesWebhook({t::TextMessage(header, "")}).size();
  const std::string at_limit = t::MessagesWebhook(
      {t::TextMessage(header, std::string(kWebhookBodyBytes - frame, 'y'))});
  REQUIRE(at_limit.size() == kWebhookBodyBytes);
  res = server.PostSigned(at_limit);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(t::WaitUntil([&] { return server.message_count() == 261; },
                     milliseconds(20000)));

  header.id = "wamid.over";
  const std::string over = t::MessagesWebhook({t::TextMessage(
      header, std::string(kWebhookBodyBytes - frame + 1, 'y'))});
  REQUIRE(over.size() == kWebhookBodyBytes + 1);
  res = server.PostSigned(over);
  CHECK(ErrorCode(res) == "payload_too_large");
  CHECK(res->status == 413);
  CHECK(server.stored_rows() == 2);
}

TEST_CASE("webhook: the same delivery twice reaches the sinks once",
          "[webhook]") {
  Server server;
  const std::string body = TextBody("wamid.twice", "again");
  REQUIRE(server.PostSigned(body)->status == 200);
  REQUIRE(server.PostSigned(body)->status == 200);
  CHECK(t::WaitUntil(
      [&] {
        auto counts = server.store_->Counts();
        return counts.ok() && counts->pending == 0 && counts->processed == 2;
      },
      milliseconds(10000)));
  CHECK(server.message_count() == 1);
}

TEST_CASE(
    "webhook: POST is answered 200 while processing is held, the events "
    "are processed after",
    "[webhook]") {
  Server server;
  server.Hold();
  auto first = server.PostSigned(TextBody("wamid.held.1", "one"));
  REQUIRE(first);
  CHECK(first->status == 200);
  // The processor's thread took it and waits in the sink.
  REQUIRE(
      t::WaitUntil([&] { return server.in_sink() == 1; }, milliseconds(10000)));
  // While it waits, the next delivery is answered at once: stored, not
  // processed yet.
  auto second = server.PostSigned(TextBody("wamid.held.2", "two"));
  REQUIRE(second);
  CHECK(second->status == 200);
  CHECK(second->body == R"({"received":true})");
  CHECK(server.message_count() == 0);
  CHECK(server.pending_rows() == 2);

  server.Release();
  CHECK(t::WaitUntil([&] { return server.pending_rows() == 0; },
                     milliseconds(10000)));
  std::vector<WebhookMessage> messages = server.messages();
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].message.id == "wamid.held.1");
  CHECK(messages[1].message.id == "wamid.held.2");
}

TEST_CASE(
    "webhook: a signed body that does not parse is kept and answered "
    "200",
    "[webhook]") {
  Server server;
  const std::string body = R"({"object":"page","entry":[]})";
  auto res = server.PostSigned(body);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(t::WaitUntil(
      [&] {
        return server.LogText().find("webhook-unparsable") != std::string::npos;
      },
      milliseconds(10000)));
  auto counts = server.store_->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->unparsable == 1);
}

TEST_CASE("webhook: sandbox inbound takes the same path to the same sinks",
          "[webhook]") {
  Server server;
  auto client = server.Client();
  auto res = client.Post(
      "/api/sandbox/inbound",
      R"({"from":"+4915112345678","type":"image","image":{"id":"m.1"},)"
      R"("context":{"id":"wamid.ours"}})",
      "application/json");
  REQUIRE(res);
  CHECK(res->status == 202);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  REQUIRE(doc.IsObject());
  const std::string id = doc["id"].GetString();
  CHECK(id.rfind("wamid.sbx", 0) == 0);
  CHECK(t::WaitUntil([&] { return server.message_count() == 1; },
                     milliseconds(10000)));
  WebhookMessage m = server.messages()[0];
  CHECK(m.message.id == id);
  CHECK(m.message.from == "4915112345678");
  CHECK(m.type == "image");
  CHECK(m.context_id == "wamid.ours");
  CHECK(server.store_->WindowOpen("4915112345678", kNow));

  auto text = client.Post("/api/sandbox/inbound",
                          R"({"from":"4915112345678","text":"hi bot"})",
                          "application/json");
  REQUIRE(text);
  CHECK(text->status == 202);
  CHECK(t::WaitUntil([&] { return server.message_count() == 2; },
                     milliseconds(10000)));
  CHECK(
      server.store_->RecentMessages("4915112345678", 10).value().back().text ==
      "hi bot");

  CHECK(ErrorCode(client.Post("/api/sandbox/inbound",
                              R"({"from":"4915112345678","type":"image",)"
                              R"("image":{}})",
                              "application/json")) == "invalid_field");
}

}  // namespace
}  // namespace dynoguard::worker
