// The README's quick start, step by step, on the real worker: a simulated
// user writes on the sandbox, the bot (a local receiver) gets the forwarded
// `message` event, the answer quoting it reaches the sandbox's outbox, its
// delivered/read statuses are forwarded, the chat shows both directions, and
// a number that never wrote gets only templates.
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/json_fields.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::testing {
namespace {

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
  SpawnOptions options;
  options.env = {{"HOST", "127.0.0.1"},
                 {"PORT", "0"},
                 {"DATA_DIR", dir.path()},
                 {"WEBHOOK_URL", bot.url("/events")},
                 {"WEBHOOK_SECRET", "dev-secret"}};
  options.log_path = dir.File("worker.log");
  auto worker = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(worker.ok());
  REQUIRE(worker->WaitForLog("worker: ready", seconds(20)));
  httplib::Client client("127.0.0.1", ListenPort(*worker));

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

  REQUIRE(worker->Signal(SIGTERM).ok());
  CHECK(worker->WaitExit(seconds(20)) == std::optional<int>(0));
}

}  // namespace
}  // namespace dynoguard::testing
