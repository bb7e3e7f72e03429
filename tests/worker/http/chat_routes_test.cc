// GET /api/chats/{waId}/messages on a real HttpServer on 127.0.0.1, over the
// real inbound store (the window, the inbound half) and queue (the outbound
// half) in a temp dir.
#include "worker/http/chat_routes.h"

#include <httplib.h>
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/log.h"
#include "tests/support/temp_dir.h"
#include "worker/http/http_server.h"
#include "worker/inbound/inbound_policy.h"
#include "worker/metrics/metrics.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;

constexpr int64_t kNow = 1'700'000'000'000;

class Server {
 public:
  explicit Server(std::string api_key = "")
      : log_("worker", common::LogFormat::kText, common::LogLevel::kError) {
    config_.api_key = common::Redacted(std::move(api_key));
    Open();
  }
  ~Server() { Close(); }

  // Closes everything and opens it again on the same files: a restart.
  void Reopen() {
    Close();
    Open();
  }

  void Open() {
    auto store = InboundStore::Open(dir_.File("inbound.db"));
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    auto queue = MessageQueue::Open(dir_.File("queue.db"));
    REQUIRE(queue.ok());
    queue_ = std::move(queue).value();
    history_ = std::make_unique<ChatHistory>(*store_, *queue_);
    server_ = std::make_unique<HttpServer>(config_, log_, metrics_);
    InstallChatRoutes(server_->server(), RouteContext{&config_, &log_},
                      {history_.get(), store_.get(), [this] { return now_; }});
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }
  void Close() {
    server_->Stop();
    thread_.join();
    server_.reset();
    history_.reset();
    queue_.reset();
    store_.reset();
  }

  httplib::Result Get(const std::string& path,
                      const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client.Get(path.c_str(), headers);
  }

  t::TempDir dir_;
  common::Logger log_;
  common::Config config_;
  Metrics metrics_;
  std::unique_ptr<InboundStore> store_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<ChatHistory> history_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int64_t now_ = kNow;  // set before requests only
};

rapidjson::Document Json(const httplib::Result& res, int status) {
  REQUIRE(res);
  CHECK(res->status == status);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  REQUIRE(doc.IsObject());
  return doc;
}

// An inbound message as the inbound processor records it.
void AddIn(Server& server, std::string id, std::string text, int64_t at,
           std::string from = "15551234567") {
  ChatEntry entry;
  entry.id = std::move(id);
  entry.wa_id = std::move(from);
  entry.type = "text";
  entry.text = std::move(text);
  entry.timestamp_ms = at;
  REQUIRE(server.store_->RecordInbounds({}, {entry}).ok());
}

// One of our messages to 15551234567, accepted at `at`: its id.
std::string AddOut(Server& server, std::string type, std::string text,
                   int64_t at) {
  NewMessage message;
  message.to = "15551234567";
  message.type = std::move(type);
  message.content_json = R"({"body":"x"})";
  message.text = std::move(text);
  auto queued = server.queue_->Enqueue(message, at);
  REQUIRE(queued.ok());
  return queued->id;
}

TEST_CASE("chats: a conversation in and out, newest last, with the window",
          "[chats]") {
  Server server;
  AddIn(server, "wamid.in.1", "hi bot", kNow - 3000);
  const std::string first = AddOut(server, "text", "hello", kNow - 2000);
  REQUIRE(server.queue_->MarkSending(first, kNow - 1900).ok());
  REQUIRE(server.queue_->MarkSent(first, "wamid.out.1", kNow - 1800).ok());
  REQUIRE(server.queue_
              ->RecordProviderStatus("wamid.out.1", MessageStatus::kDelivered,
                                     std::nullopt, kNow - 1500)
              .ok());
  const std::string second = AddOut(server, "image", "", kNow - 1000);
  AddIn(server, "wamid.in.other", "not this chat", kNow - 500, "15550009999");
  REQUIRE(server.store_->RecordInbound("15551234567", kNow - 3000).ok());

  rapidjson::Document doc =
      Json(server.Get("/api/chats/15551234567/messages"), 200);
  CHECK(std::string(doc["waId"].GetString()) == "15551234567");
  CHECK(doc["windowOpenUntil"].GetInt64() == kNow - 3000 + 24 * kHourMs);
  const auto& messages = doc["messages"];
  REQUIRE(messages.Size() == 3);
  CHECK(std::string(messages[0]["id"].GetString()) == "wamid.in.1");
  CHECK(std::string(messages[0]["direction"].GetString()) == "in");
  CHECK(std::string(messages[0]["type"].GetString()) == "text");
  CHECK(std::string(messages[0]["text"].GetString()) == "hi bot");
  CHECK_FALSE(messages[0].HasMember("status"));
  CHECK(messages[0]["timestamp"].GetInt64() == kNow - 3000);
  CHECK(std::string(messages[1]["id"].GetString()) == first);
  CHECK(std::string(messages[1]["direction"].GetString()) == "out");
  CHECK(std::string(messages[1]["text"].GetString()) == "hello");
  CHECK(std::string(messages[1]["status"].GetString()) == "delivered");
  CHECK(messages[1]["timestamp"].GetInt64() == kNow - 2000);  // accepted
  CHECK(std::string(messages[2]["id"].GetString()) == second);
  CHECK(std::string(messages[2]["type"].GetString()) == "image");
  CHECK(std::string(messages[2]["status"].GetString()) == "queued");
  CHECK_FALSE(messages[2].HasMember("text"));
}

TEST_CASE("chats: the history is on disk, read again after a restart",
          "[chats]") {
  Server server;
  AddIn(server, "wamid.in.1", "hi bot", kNow - 3000);
  const std::string id = AddOut(server, "text", "hello", kNow - 2000);
  server.Reopen();
  rapidjson::Document doc =
      Json(server.Get("/api/chats/15551234567/messages"), 200);
  const auto& messages = doc["messages"];
  REQUIRE(messages.Size() == 2);
  CHECK(std::string(messages[0]["text"].GetString()) == "hi bot");
  CHECK(std::string(messages[1]["id"].GetString()) == id);
}

TEST_CASE(
    "chats: windowOpenUntil is null once the window closed or never "
    "opened",
    "[chats]") {
  Server server;
  REQUIRE(
      server.store_->RecordInbound("15551234567", kNow - 24 * kHourMs).ok());
  rapidjson::Document closed =
      Json(server.Get("/api/chats/15551234567/messages"), 200);
  CHECK(closed["windowOpenUntil"].IsNull());
  CHECK(closed["messages"].Size() == 0);
  rapidjson::Document unknown =
      Json(server.Get("/api/chats/+4915112345678/messages"), 200);
  CHECK(std::string(unknown["waId"].GetString()) == "4915112345678");
  CHECK(unknown["windowOpenUntil"].IsNull());
}

TEST_CASE("chats: limit picks the newest, within 1 to 200", "[chats]") {
  Server server;
  for (int i = 0; i < 60; ++i) {
    AddIn(server, "wamid." + std::to_string(i), "m" + std::to_string(i),
          kNow + i);
  }
  rapidjson::Document all =
      Json(server.Get("/api/chats/15551234567/messages"), 200);
  CHECK(all["messages"].Size() == 50);  // the default
  rapidjson::Document two =
      Json(server.Get("/api/chats/15551234567/messages?limit=2"), 200);
  REQUIRE(two["messages"].Size() == 2);
  CHECK(std::string(two["messages"][1]["text"].GetString()) == "m59");
  CHECK(std::string(two["messages"][0]["text"].GetString()) == "m58");
  CHECK(Json(server.Get("/api/chats/15551234567/messages?limit=200"),
             200)["messages"]
            .Size() == 60);

  for (const char* bad : {"0", "201", "x", "-1", ""}) {
    INFO(bad);
    rapidjson::Document error = Json(
        server.Get(std::string("/api/chats/15551234567/messages?limit=") + bad),
        400);
    CHECK(std::string(error["error"]["field"].GetString()) == "limit");
  }
  rapidjson::Document bad_id = Json(server.Get("/api/chats/abc/messages"), 400);
  CHECK(std::string(bad_id["error"]["code"].GetString()) == "invalid_field");
  CHECK(std::string(bad_id["error"]["field"].GetString()) == "waId");
}

TEST_CASE("chats: the route is protected by API_KEY", "[chats]") {
  Server server("secret-key");
  Json(server.Get("/api/chats/15551234567/messages"), 401);
  Json(server.Get("/api/chats/15551234567/messages",
                  {{"Authorization", "Bearer secret-key"}}),
       200);
}

}  // namespace
}  // namespace dynoguard::worker
