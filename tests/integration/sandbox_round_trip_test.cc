// The README's quick start, step by step, on the real worker: a simulated
// user writes on the sandbox, the bot (a local receiver) gets the forwarded
// `message` event, the answer quoting it reaches the sandbox's outbox, its
// delivered/read statuses are forwarded, the chat shows both directions, and
// a number that never wrote gets only templates. Our own sends' outcomes
// (sent, a send that failed) reach the bot as status events too.
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/json_fields.h"
#include "tests/support/process.h"
#include "tests/support/sandbox_contact.h"
#include "tests/support/sandbox_worker.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The receiver's events of `type`, parsed.
std::vector<rapidjson::Document> EventsOf(const WebhookReceiver& receiver,
                                          const std::string& type) {
  std::vector<rapidjson::Document> out;
  for (const ReceivedPost& post : receiver.delivered()) {
    rapidjson::Document doc = Json(post.body);
    if (StringAt(doc, "type") == type) out.push_back(std::move(doc));
  }
  return out;
}

TEST_CASE("the README's round trip on the sandbox: receive, forward, answer",
          "[sandbox][integration][forward]") {
  TempDir dir;
  WebhookReceiver bot;
  Process worker = SpawnSandboxWorker(dir, {{"WEBHOOK_URL", bot.url("/events")},
                                            {"WEBHOOK_SECRET", "dev-secret"}});
  httplib::Client client("127.0.0.1", ListenPort(worker));

  // 3. The user writes; the bot gets a signed `message` event.
  auto inbound =
      client.Post("/api/sandbox/inbound",
                  R"({"from":"15551234567","text":"hi, are you open today?"})",
                  "application/json");
  REQUIRE(inbound);
  REQUIRE(inbound->status == 202);
  const std::string in_id = StringAt(Json(inbound->body), "id");
  REQUIRE(in_id.rfind("wamid.sbx", 0) == 0);
  REQUIRE(WaitUntil([&] { return !EventsOf(bot, "message").empty(); },
                    seconds(20)));
  {
    auto events = EventsOf(bot, "message");
    const rapidjson::Value& m = events[0]["message"];
    CHECK(StringAt(m, "id") == in_id);
    CHECK(StringAt(m, "from") == "15551234567");
    CHECK(StringAt(m, "text") == "hi, are you open today?");
    const ReceivedPost post = bot.delivered()[0];
    CHECK(post.Header("X-Dynoguard-Signature-256") ==
          SignatureHeader("dev-secret", post.body));
  }

  // The answer, quoting the user's message.
  auto answer = client.Post(
      "/api/messages",
      R"({"to":"15551234567","text":"yes, until 8 pm","replyTo":")" + in_id +
          R"("})",
      "application/json");
  REQUIRE(answer);
  REQUIRE(answer->status == 202);
  const std::string out_id = StringAt(Json(answer->body), "id");
  REQUIRE(WaitUntil(
      [&] {
        auto r = client.Get(("/api/messages/" + out_id).c_str());
        return r && StringAt(Json(r->body), "status") == "read";
      },
      seconds(30)));
  auto outbox = client.Get("/api/sandbox/outbox");
  REQUIRE(outbox);
  CHECK(outbox->body.find("yes, until 8 pm") != std::string::npos);

  // Its delivered and read statuses reach the bot, naming our id.
  REQUIRE(WaitUntil([&] { return EventsOf(bot, "status").size() >= 2; },
                    seconds(20)));
  for (auto& e : EventsOf(bot, "status")) {
    CHECK(StringAt(e["status"], "messageId") == out_id);
  }

  // The chat, both directions, newest last.
  auto chat = client.Get("/api/chats/15551234567/messages");
  REQUIRE(chat);
  auto doc = Json(chat->body);
  REQUIRE(doc.HasMember("messages"));
  const auto& messages = doc["messages"];
  REQUIRE(messages.Size() >= 2);
  CHECK(StringAt(messages[0], "direction") == "in");
  CHECK(StringAt(messages[messages.Size() - 1], "direction") == "out");
  CHECK(doc["windowOpenUntil"].IsNumber());

  // A number that never wrote: only templates.
  auto refused =
      client.Post("/api/messages", R"({"to":"15557654321","text":"hello?"})",
                  "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 400);
  auto templ = client.Post(
      "/api/messages",
      R"({"to":"15557654321","template":{"name":"hello_world","language":{"code":"en_US"}}})",
      "application/json");
  REQUIRE(templ);
  CHECK(templ->status == 202);

  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
}

// The status events of `receiver` for our message `id`: their "status"
// names, in arrival order.
std::vector<std::string> StatusesFor(const WebhookReceiver& receiver,
                                     const std::string& id) {
  std::vector<std::string> names;
  for (auto& e : EventsOf(receiver, "status")) {
    if (StringAt(e["status"], "messageId") == id)
      names.push_back(StringAt(e["status"], "status"));
  }
  return names;
}

TEST_CASE(
    "sandbox: a send that fails and one that is sent each reach the bot as "
    "status events, once",
    "[sandbox][integration][forward]") {
  TempDir dir;
  WebhookReceiver bot;
  Process worker = SpawnSandboxWorker(
      dir, {{"WEBHOOK_URL", bot.url("/events")}, {"SEND_DELAY_MS", "0"}});
  httplib::Client client("127.0.0.1", ListenPort(worker));
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  auto status_of = [&](const std::string& id) {
    auto r = client.Get(("/api/messages/" + id).c_str());
    return r ? Json(r->body) : Json("{}");
  };

  // 131026 (undeliverable) is not retried: the message fails at send time.
  auto fail = client.Post("/api/sandbox/fail", R"({"count":1,"code":131026})",
                          "application/json");
  REQUIRE(fail);
  REQUIRE(fail->status == 200);
  auto first =
      client.Post("/api/messages", R"({"to":"15551234567","text":"will fail"})",
                  "application/json");
  REQUIRE(first);
  REQUIRE(first->status == 202);
  const std::string failed_id = StringAt(Json(first->body), "id");
  REQUIRE(WaitUntil(
      [&] { return StringAt(status_of(failed_id), "status") == "failed"; },
      seconds(20)));
  REQUIRE(WaitUntil([&] { return !StatusesFor(bot, failed_id).empty(); },
                    seconds(20)));

  // Then one that goes through: sent (ours), delivered and read (the
  // sandbox's receipts).
  auto second = client.Post("/api/messages",
                            R"({"to":"15551234567","text":"will arrive"})",
                            "application/json");
  REQUIRE(second);
  REQUIRE(second->status == 202);
  const std::string sent_id = StringAt(Json(second->body), "id");
  REQUIRE(WaitUntil(
      [&] { return StringAt(status_of(sent_id), "status") == "read"; },
      seconds(30)));
  REQUIRE(WaitUntil([&] { return StatusesFor(bot, sent_id).size() >= 3; },
                    seconds(20)));
  std::this_thread::sleep_for(milliseconds(500));  // a repeat would be here

  CHECK(StatusesFor(bot, failed_id) == std::vector<std::string>{"failed"});
  CHECK(StatusesFor(bot, sent_id) ==
        std::vector<std::string>{"sent", "delivered", "read"});
  const std::string wamid = StringAt(status_of(sent_id), "providerId");
  for (auto& e : EventsOf(bot, "status")) {
    const rapidjson::Value& s = e["status"];
    if (StringAt(s, "messageId") == failed_id) {
      CHECK(s["providerId"].IsNull());
      REQUIRE(s.HasMember("error"));
      CHECK(StringAt(s["error"], "code") == "131026");
      CHECK(s["error"]["retryable"].IsFalse());
      // As GET /api/messages/{id} shows it.
      auto message = status_of(failed_id);
      CHECK(StringAt(s["error"], "message") ==
            StringAt(message["error"], "message"));
    } else {
      CHECK(StringAt(s, "providerId") == wamid);
      CHECK_FALSE(s.HasMember("error"));
    }
  }

  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
}

}  // namespace
}  // namespace dynoguard::testing
