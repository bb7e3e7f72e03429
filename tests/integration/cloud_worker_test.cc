// The real worker on TRANSPORT=cloud against the local Graph API server
// (tests/support/graph_api_server.h): every message kind reaches Graph as
// Meta documents it, each error class does what SPEC §5 says, the keep-alive
// drives the connection state, the webhook is verified and signed, and a
// SIGKILL mid-queue loses nothing.
#include "tests/support/cloud_worker.h"

#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/time_format.h"
#include "common/unique_fd.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("a cloud worker connects, sends a template and records the wamid",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  CHECK(graph.count(GraphRoute::kPhoneNumber) >= 1);

  std::string id = worker.Send(R"({"to":"15551234567",)" + kTemplate + "}");
  REQUIRE_FALSE(id.empty());
  REQUIRE(WaitStatus(worker, id, "sent"));
  auto sends = graph.requests(GraphRoute::kMessages);
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].authorization == "Bearer " + graph.options().access_token);
  CHECK(sends[0].type == "template");
  CHECK(sends[0].to == "15551234567");
  CHECK(sends[0].status == 200);
  auto message = worker.Message(id);
  CHECK(StringAt(message, "providerId") == sends[0].provider_id);
  CHECK(StringAt(message, "providerStatus") == "accepted");
  // No secret in the log.
  CHECK(worker.process().LogText().find(graph.options().access_token) ==
        std::string::npos);
  worker.Stop();
}

TEST_CASE("every message kind reaches the Graph API as Meta documents it",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  worker.Inbound("15551234567", "wamid.kinds-open");
  const std::string to = R"({"to":"15551234567",)";
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"text", to + R"("text":"hello there","previewUrl":true})"},
      {"text", to + R"("type":"text","text":{"body":"cloud form"}})"},
      {"template", to + kTemplate + "}"},
      {"image",
       to +
           R"("type":"image","image":{"link":"https://example.com/a.jpg","caption":"a cat"}})"},
      {"document",
       to +
           R"("type":"document","document":{"id":"1234567890","filename":"invoice.pdf"}})"},
      {"audio", to + R"("type":"audio","audio":{"id":"998877"}})"},
      {"video",
       to + R"("type":"video","video":{"link":"https://example.com/v.mp4"}})"},
      {"sticker", to + R"("type":"sticker","sticker":{"id":"5566"}})"},
      {"reaction",
       to +
           R"("type":"reaction","reaction":{"message_id":"wamid.kinds-open","emoji":"👍"}})"},
      {"location",
       to +
           R"("type":"location","location":{"latitude":52.52,"longitude":13.405,"name":"Berlin"}})"},
      {"contacts",
       to +
           R"("type":"contacts","contacts":[{"name":{"formatted_name":"Ada Lovelace","first_name":"Ada"},"phones":[{"phone":"+15550001111","type":"CELL"}]}]})"},
      {"interactive",
       to +
           R"("type":"interactive","interactive":{"type":"button","body":{"text":"Pick one"},"action":{"buttons":[{"type":"reply","reply":{"id":"yes","title":"Yes"}},{"type":"reply","reply":{"id":"no","title":"No"}}]}}})"},
      {"interactive",
       to +
           R"("type":"interactive","interactive":{"type":"list","body":{"text":"Menu"},"action":{"button":"Choose","sections":[{"title":"Main","rows":[{"id":"r1","title":"Pizza"},{"id":"r2","title":"Pasta","description":"fresh"}]}]}}})"},
      {"text", to + R"("text":"a reply","replyTo":"wamid.kinds-open"})"},
  };
  std::vector<std::string> ids;
  for (const auto& [type, body] : kinds) {
    int status = 0;
    std::string id = worker.Send(body, &status);
    INFO(body);
    REQUIRE(status == 202);
    ids.push_back(id);
  }
  for (const std::string& id : ids) REQUIRE(WaitStatus(worker, id, "sent"));
  auto sends = graph.requests(GraphRoute::kMessages);
  REQUIRE(sends.size() == kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    INFO(sends[i].body);
    CHECK(sends[i].type == kinds[i].first);
    CHECK(ValidateSendRequest(sends[i].body).empty());
    CHECK(sends[i].status == 200);
  }
  // The reply carries context.message_id.
  auto last = Json(sends.back().body);
  REQUIRE(last.HasMember("context"));
  CHECK(StringAt(last["context"], "message_id") == "wamid.kinds-open");
  worker.Stop();
}

TEST_CASE("outside the 24-hour window only templates are accepted",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  int status = 0;
  auto r = worker.client().Post("/api/messages",
                                R"({"to":"15559990000","text":"hi"})",
                                "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body.find("invalid_field") != std::string::npos);
  CHECK(r->body.find("24-hour") != std::string::npos);
  CHECK_FALSE(worker.Send(R"({"to":"15559990000",)" + kTemplate + "}", &status)
                  .empty());
  // The contact writes: the window opens.
  worker.Inbound("15559990000", "wamid.window-1");
  REQUIRE(WaitUntil(
      [&] {
        return !worker.Send(R"({"to":"15559990000","text":"now it works"})")
                    .empty();
      },
      seconds(10)));
  CHECK(graph.count(GraphRoute::kMessages) >= 1);
  worker.Stop();
}

TEST_CASE("webhook verification and signatures on the real worker",
          "[cloud][integration][webhook]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  auto good = worker.client().Get(
      std::string("/webhook?hub.mode=subscribe&hub.verify_token=") +
      kVerifyToken + "&hub.challenge=1158201444");
  REQUIRE(good);
  CHECK(good->status == 200);
  CHECK(good->body == "1158201444");
  auto bad = worker.client().Get(
      "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1");
  REQUIRE(bad);
  CHECK(bad->status == 403);

  MessageHeader header;
  header.id = "wamid.sig-1";
  header.timestamp_s = NowS();
  const std::string body = MessagesWebhook({TextMessage(header, "hi")});
  CHECK(worker.Webhook(body, "") == 401);
  CHECK(worker.Webhook(body, "sha256=" + std::string(64, '0')) == 403);
  std::string changed = body;
  changed[changed.size() / 2] ^= 1;
  CHECK(worker.Webhook(changed, SignatureHeader(kAppSecret, body)) == 403);
  CHECK(worker.Webhook(body) == 200);
  worker.Stop();
}

TEST_CASE("a token error pauses every send until a heartbeat works again",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  WebhookReceiver bot;
  CloudWorker worker(dir, graph, {{"WEBHOOK_URL", bot.url()}});
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  const std::string token = graph.options().access_token;
  graph.SetAccessToken("rotated-token");  // ours is now invalid: 190
  std::string a = worker.Send(R"({"to":"15551110001",)" + kTemplate + "}");
  std::string b = worker.Send(R"({"to":"15551110002",)" + kTemplate + "}");
  REQUIRE_FALSE(a.empty());
  REQUIRE(
      WaitUntil([&] { return worker.State() == "disconnected"; }, seconds(10)));
  auto session = worker.client().Get("/session-status");
  REQUIRE(session);
  CHECK(session->body.find("token_invalid") != std::string::npos);
  auto health = worker.client().Get("/health");
  REQUIRE(health);
  CHECK(health->body.find("token_invalid") != std::string::npos);
  // The dispatcher records its pause when the send's answer comes back,
  // just after the transport's state changed: wait for it.
  std::string metrics;
  CHECK(WaitUntil(
      [&] {
        auto r = worker.client().Get("/metrics");
        metrics = r ? r->body : "";
        return metrics.find(
                   "dynoguard_queue_paused{reason=\"token_invalid\"} 1") !=
               std::string::npos;
      },
      seconds(10)));
  CHECK(metrics.find("dynoguard_connection_state{state=\"disconnected\"} 1") !=
        std::string::npos);
  // Nothing failed: the messages wait.
  CHECK(worker.StatusOf(a) == "queued");
  CHECK(worker.StatusOf(b) == "queued");
  graph.SetAccessToken(token);  // the token works again
  REQUIRE(WaitStatus(worker, a, "sent"));
  REQUIRE(WaitStatus(worker, b, "sent"));
  CHECK(worker.State() == "connected");
  // The bot saw the connection go down with its reason, and come back.
  REQUIRE(WaitUntil(
      [&] {
        bool down = false, up = false;
        for (const ReceivedPost& post : bot.delivered()) {
          auto e = Json(post.body);
          if (StringAt(e, "type") != "connection") continue;
          const std::string state = StringAt(e["connection"], "state");
          if (state == "disconnected" &&
              StringAt(e["connection"], "reason") == "token_invalid")
            down = true;
          if (down && state == "connected") up = true;
        }
        return up;
      },
      seconds(20)));
  CHECK(worker.process().LogText().find(token) == std::string::npos);
  worker.Stop();
}

TEST_CASE(
    "a paused queue logs one send-paused line with its reason, and "
    "send-resumed once a heartbeat works again",
    "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  // Heartbeats 2 s apart.
  CloudWorker worker(dir, graph, {{"HEARTBEAT_S", "2"}});
  Process& process = worker.process();
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  // Just after a heartbeat, the send below is the first to meet the wrong
  // token (the next test has a heartbeat meet it first).
  const size_t beats = graph.count(GraphRoute::kPhoneNumber);
  REQUIRE(
      WaitUntil([&] { return graph.count(GraphRoute::kPhoneNumber) > beats; },
                seconds(10)));
  const std::string token = graph.options().access_token;
  graph.SetAccessToken("rotated-token");  // ours is now invalid: 190
  std::string a = worker.Send(R"({"to":"15551110011",)" + kTemplate + "}");
  std::string b = worker.Send(R"({"to":"15551110012",)" + kTemplate + "}");
  REQUIRE_FALSE(a.empty());
  REQUIRE_FALSE(b.empty());
  size_t paused_end = 0;
  REQUIRE(process.WaitForLogMatch("send-paused reason=token_invalid( |$)",
                                  seconds(10), 0, &paused_end));
  // Heartbeats keep meeting the wrong token: the queue stays paused.
  const size_t refused = graph.count(GraphRoute::kPhoneNumber);
  REQUIRE(WaitUntil(
      [&] { return graph.count(GraphRoute::kPhoneNumber) >= refused + 2; },
      seconds(20)));
  CHECK(process.LogMatches("send-resumed").empty());
  CHECK(worker.StatusOf(a) == "queued");

  graph.SetAccessToken(token);  // the token works again
  REQUIRE(WaitStatus(worker, a, "sent"));
  REQUIRE(WaitStatus(worker, b, "sent"));
  // The heartbeat that worked came first, then the resume.
  size_t connected_end = 0;
  REQUIRE(process.WaitForLogMatch("connection state=connected", seconds(10),
                                  paused_end, &connected_end));
  CHECK(process.WaitForLog("send-resumed", seconds(10), connected_end));
  const std::string log = process.LogText();
  INFO(log);
  // One line each, the reason named once, in the pause's line.
  CHECK(process.LogMatches("send-paused").size() == 1);
  CHECK(process.LogMatches("send-paused reason=token_invalid( |$)").size() ==
        1);
  CHECK(process.LogMatches("send-resumed").size() == 1);
  worker.Stop();
}

TEST_CASE(
    "a heartbeat that meets a bad token first logs the same one send-paused "
    "line",
    "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);  // heartbeats every second
  Process& process = worker.process();
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  const size_t start = process.LogSize();
  const std::string token = graph.options().access_token;
  graph.SetAccessToken("rotated-token");
  // No send is queued: the heartbeat is the first to meet the wrong token.
  REQUIRE(
      process.WaitForLog("connection state=disconnected", seconds(10), start));
  CHECK(process.WaitForLog("send-paused reason=token_invalid( |$)", seconds(10),
                           start));
  std::string id = worker.Send(R"({"to":"15551110021",)" + kTemplate + "}");
  REQUIRE_FALSE(id.empty());
  graph.SetAccessToken(token);
  REQUIRE(WaitStatus(worker, id, "sent"));
  CHECK(process.WaitForLog("send-resumed", seconds(10), start));
  CHECK(process.LogMatches("send-paused", start).size() == 1);
  CHECK(process.LogMatches("send-resumed", start).size() == 1);
  worker.Stop();
}

TEST_CASE(
    "STATUS= carries the connection state and reason, and is sent again "
    "on each change",
    "[cloud][integration][notify]") {
  TempDir dir;
  GraphApiServer graph;
  // Receives time out after 5 s, half the worker's 10 s STATUS= period: only
  // the update sent on a change arrives in time.
  common::UniqueFd notify = NotifySocket(dir.File("notify.sock"));
  CloudWorker worker(dir, graph, {{"NOTIFY_SOCKET", dir.File("notify.sock")}});
  std::vector<std::string> seen;
  // Receives until a datagram contains `wanted`; shows them all if none did.
  auto receive_until = [&](std::string_view wanted) {
    bool got = ReceiveDatagramUntil(notify.get(), wanted, seen);
    std::string all;
    for (const std::string& d : seen) all += d + "\n";
    INFO("wanted '" << wanted << "', datagrams:\n" << all);
    CHECK(got);
    return got;
  };
  REQUIRE(receive_until("READY=1"));
  REQUIRE(receive_until(", cloud connected"));
  const std::string token = graph.options().access_token;
  graph.SetAccessToken("rotated-token");  // the next heartbeat gets a 190
  REQUIRE(receive_until(", cloud disconnected token_invalid"));
  CHECK(seen.back().starts_with("STATUS=rss "));
  CHECK(seen.back().ends_with(", cloud disconnected token_invalid"));
  graph.SetAccessToken(token);
  REQUIRE(receive_until(", cloud connected"));
  CHECK(seen.back().starts_with("STATUS=rss "));
  CHECK(seen.back().ends_with(", cloud connected"));  // no reason
  worker.Stop();
}

TEST_CASE(
    "/session-status shows the last webhook message and the last send "
    "Meta accepted",
    "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  auto before = worker.Session();
  REQUIRE(before.IsObject());
  CHECK(before["lastInbound"].IsNull());
  CHECK(before["lastOutbound"].IsNull());

  // Meta's timestamp (seconds) is the message's time.
  MessageHeader header;
  header.from = "15551230001";
  header.id = "wamid.activity-1";
  header.timestamp_s = NowS() - 7;
  REQUIRE(worker.Webhook(MessagesWebhook({TextMessage(header, "hi")},
                                         {Contact(header.from, "Ada")})) ==
          200);
  // Answered before it is processed.
  REQUIRE(WaitUntil(
      [&] { return !StringAt(worker.Session(), "lastInbound").empty(); },
      seconds(10)));
  auto after_inbound = worker.Session();
  CHECK(StringAt(after_inbound, "lastInbound") ==
        common::FormatIsoUtc(header.timestamp_s * 1000));
  CHECK(after_inbound["lastOutbound"].IsNull());

  REQUIRE(worker.WaitWindowOpen(header.from));
  const std::string not_before = common::FormatIsoUtc(common::WallClockMs());
  std::string id = worker.Send(R"({"to":"15551230001","text":"hello"})");
  REQUIRE_FALSE(id.empty());
  REQUIRE(WaitStatus(worker, id, "sent"));
  const std::string not_after = common::FormatIsoUtc(common::WallClockMs());
  // ISO 8601 UTC with milliseconds: text order is time order.
  const std::string outbound = StringAt(worker.Session(), "lastOutbound");
  CHECK(not_before <= outbound);
  CHECK(outbound <= not_after);
  worker.Stop();
}

TEST_CASE("retry codes are retried, fail codes fail without a retry",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph, {{"SEND_RETRY_BASE_MS", "50"}});
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  graph.ScriptRecipient("15552220001", {GraphErrorFor(131000)}, 1);
  graph.ScriptRecipient("15552220002", {GraphErrorFor(131026)}, -1);
  std::string retried =
      worker.Send(R"({"to":"15552220001",)" + kTemplate + "}");
  std::string failed = worker.Send(R"({"to":"15552220002",)" + kTemplate + "}");
  REQUIRE(WaitStatus(worker, retried, "sent"));
  CHECK(worker.Message(retried)["attempts"].GetInt() == 2);
  REQUIRE(WaitStatus(worker, failed, "failed"));
  auto message = worker.Message(failed);
  CHECK(message["attempts"].GetInt() == 1);
  REQUIRE(message.HasMember("error"));
  CHECK(StringAt(message["error"], "code") == "131026");
  worker.Stop();
}

TEST_CASE("131056 slows that one recipient, others and the order stay",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph, {{"SEND_CONCURRENCY", "4"}});
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  graph.ScriptRecipient("15553330001", {GraphErrorFor(131056)}, 1);
  std::string a1 = worker.Send(R"({"to":"15553330001",)" + kTemplate + "}");
  std::string a2 = worker.Send(R"({"to":"15553330001",)" + kTemplate + "}");
  std::string b1 = worker.Send(R"({"to":"15553330002",)" + kTemplate + "}");
  REQUIRE(WaitStatus(worker, b1, "sent"));
  // a1 waits its 4 s; a2 stays behind it.
  CHECK(worker.StatusOf(a2) == "queued");
  REQUIRE(WaitStatus(worker, a2, "sent", seconds(30)));
  CHECK(worker.StatusOf(a1) == "sent");
  std::vector<std::string> order;
  for (const auto& r : graph.requests(GraphRoute::kMessages)) {
    if (r.to == "15553330001" && r.status == 200)
      order.push_back(r.provider_id);
  }
  REQUIRE(order.size() == 2);
  CHECK(StringAt(worker.Message(a1), "providerId") == order[0]);
  CHECK(StringAt(worker.Message(a2), "providerId") == order[1]);
  worker.Stop();
}

TEST_CASE("the Graph API going away and coming back: reconnecting, then sent",
          "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  graph.Stop();
  REQUIRE(
      WaitUntil([&] { return worker.State() == "reconnecting"; }, seconds(20)));
  std::string id = worker.Send(R"({"to":"15554440001",)" + kTemplate + "}");
  REQUIRE_FALSE(id.empty());
  REQUIRE(graph.Start().ok());
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(30)));
  REQUIRE(WaitStatus(worker, id, "sent"));
  worker.Stop();
}

TEST_CASE(
    "SIGKILL mid-queue: every accepted message is sent after the "
    "restart, at most the one in flight twice",
    "[cloud][integration][kill]") {
  TempDir dir;
  GraphApiServer graph;
  graph.SetDelay(milliseconds(20));
  std::map<std::string, std::string> env = {{"SEND_CONCURRENCY", "1"}};
  std::mt19937 random(std::random_device{}());
  std::vector<std::string> bodies;
  {
    CloudWorker worker(dir, graph, env, "first.log");
    // Ten contacts write first (one batch), so free-form texts are allowed.
    std::vector<std::string> messages;
    for (int c = 0; c < 10; ++c) {
      MessageHeader header;
      header.from = "1555600000" + std::to_string(c);
      header.id = "wamid.kill-open-" + std::to_string(c);
      header.timestamp_s = NowS();
      messages.push_back(TextMessage(header, "hi"));
    }
    REQUIRE(worker.Webhook(MessagesWebhook(messages)) == 200);
    for (int c = 0; c < 10; ++c)
      REQUIRE(worker.WaitWindowOpen("1555600000" + std::to_string(c)));
    for (int i = 0; i < 60; ++i) {
      std::string text = "kill-test " + std::to_string(i);
      std::string body = R"({"to":"1555600000)" + std::to_string(i % 10) +
                         R"(","text":")" + text + R"("})";
      REQUIRE(
          WaitUntil([&] { return !worker.Send(body).empty(); }, seconds(10)));
      bodies.push_back(text);
    }
    std::this_thread::sleep_for(
        milliseconds(std::uniform_int_distribution<int>(50, 600)(random)));
    REQUIRE(worker.process().Signal(SIGKILL).ok());
    // Sends take 20 ms each, one at a time: the kill came mid-queue (the
    // test would prove nothing if everything had gone out before it).
    const size_t sent_before_kill = graph.count(GraphRoute::kMessages);
    INFO("sends before the kill: " << sent_before_kill);
    REQUIRE(sent_before_kill < bodies.size());
    worker.process().WaitExit(seconds(5));
  }
  CloudWorker worker(dir, graph, env, "second.log");
  REQUIRE(WaitUntil(
      [&] {
        auto r = worker.client().Get("/api/queue");
        return r && r->status == 200 &&
               r->body.find("\"depth\":0") != std::string::npos;
      },
      seconds(60)));
  std::map<std::string, int> sent;
  for (const auto& r : graph.requests(GraphRoute::kMessages)) {
    if (r.status != 200) continue;
    auto doc = Json(r.body);
    if (doc.HasMember("text")) ++sent[StringAt(doc["text"], "body")];
  }
  int twice = 0;
  for (const std::string& text : bodies) {
    INFO(text);
    CHECK(sent[text] >= 1);
    if (sent[text] > 1) ++twice;
  }
  CHECK(twice <= 1);
  worker.Stop();
}

constexpr char kWebhookSecret[] = "test-webhook-secret";

// The events a receiver holds, parsed, in arrival order.
std::vector<rapidjson::Document> Events(const WebhookReceiver& receiver) {
  std::vector<rapidjson::Document> events;
  for (const ReceivedPost& post : receiver.delivered())
    events.push_back(Json(post.body));
  return events;
}

// The "status" names of the status events naming our message `id`, in
// arrival order.
std::vector<std::string> StatusNamesFor(const WebhookReceiver& receiver,
                                        const std::string& id) {
  std::vector<std::string> names;
  for (auto& e : Events(receiver)) {
    if (StringAt(e, "type") == "status" &&
        StringAt(e["status"], "messageId") == id)
      names.push_back(StringAt(e["status"], "status"));
  }
  return names;
}

std::vector<std::string> MessageIdsOf(const WebhookReceiver& receiver) {
  std::vector<std::string> ids;
  for (auto& e : Events(receiver)) {
    if (StringAt(e, "type") == "message")
      ids.push_back(StringAt(e["message"], "id"));
  }
  return ids;
}

TEST_CASE("inbound messages and statuses are forwarded signed, once, in order",
          "[cloud][integration][forward]") {
  TempDir dir;
  GraphApiServer graph;
  WebhookReceiver receiver;
  CloudWorker worker(
      dir, graph,
      {{"WEBHOOK_URL", receiver.url()}, {"WEBHOOK_SECRET", kWebhookSecret}});
  // A batch of three messages from one chat, delivered twice by Meta.
  std::vector<std::string> messages;
  for (int i = 0; i < 3; ++i) {
    MessageHeader header;
    header.from = "15557770001";
    header.id = "wamid.fwd-" + std::to_string(i);
    header.timestamp_s = NowS();
    messages.push_back(TextMessage(header, "m" + std::to_string(i)));
  }
  const std::string body = MessagesWebhook(messages);
  REQUIRE(worker.Webhook(body) == 200);
  REQUIRE(worker.Webhook(body) == 200);
  REQUIRE(
      WaitUntil([&] { return receiver.delivered().size() >= 3; }, seconds(20)));
  std::this_thread::sleep_for(milliseconds(300));  // a repeat would be here
  CHECK(MessageIdsOf(receiver) ==
        std::vector<std::string>{"wamid.fwd-0", "wamid.fwd-1", "wamid.fwd-2"});
  for (const ReceivedPost& post : receiver.delivered()) {
    CHECK(post.Header("X-Dynoguard-Signature-256") ==
          SignatureHeader(kWebhookSecret, post.body));
    auto doc = Json(post.body);
    CHECK(post.event_id() == StringAt(doc, "id"));
    CHECK(StringAt(doc, "session") == "default");
  }

  // Our reply, then Meta's statuses out of order: read before delivered.
  std::string id = worker.Send(R"({"to":"15557770001","text":"thanks"})");
  REQUIRE_FALSE(id.empty());
  REQUIRE(WaitStatus(worker, id, "sent"));
  const std::string wamid = StringAt(worker.Message(id), "providerId");
  REQUIRE(worker.Webhook(StatusesWebhook(
              {StatusObject(wamid, "read", "15557770001", NowS())})) == 200);
  REQUIRE(WaitStatus(worker, id, "read"));
  REQUIRE(worker.Webhook(StatusesWebhook({StatusObject(
              wamid, "delivered", "15557770001", NowS())})) == 200);
  // Meta's own `sent` after ours: the message is already there.
  REQUIRE(worker.Webhook(StatusesWebhook(
              {StatusObject(wamid, "sent", "15557770001", NowS())})) == 200);
  REQUIRE(WaitUntil(
      [&] {
        return StatusNamesFor(receiver, id) ==
               std::vector<std::string>{"sent", "read"};
      },
      seconds(20)));
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(worker.StatusOf(id) == "read");  // never backwards
  // Our own `sent` (the dispatcher's), then Meta's read: nothing more.
  CHECK(StatusNamesFor(receiver, id) ==
        std::vector<std::string>{"sent", "read"});
  for (auto& e : Events(receiver)) {
    if (StringAt(e, "type") != "status") continue;
    CHECK(StringAt(e["status"], "messageId") == id);
    CHECK(StringAt(e["status"], "providerId") == wamid);
  }
  worker.Stop();

  // After a restart, Meta's redelivery of the same batch is still a repeat.
  size_t before = receiver.delivered().size();
  CloudWorker again(
      dir, graph,
      {{"WEBHOOK_URL", receiver.url()}, {"WEBHOOK_SECRET", kWebhookSecret}},
      "again.log");
  REQUIRE(again.Webhook(body) == 200);
  std::this_thread::sleep_for(milliseconds(800));
  for (auto& e : Events(receiver)) {
    CHECK(StringAt(e, "type") != "");
  }
  CHECK(MessageIdsOf(receiver).size() == 3);
  CHECK(receiver.delivered().size() >= before);
  again.Stop();
}

TEST_CASE(
    "a failed status with errors[] fails our message and reaches the bot "
    "with the provider's error",
    "[cloud][integration][forward]") {
  TempDir dir;
  GraphApiServer graph;
  WebhookReceiver receiver;
  CloudWorker worker(dir, graph, {{"WEBHOOK_URL", receiver.url()}});
  worker.Inbound("15557770002", "wamid.failed-open");
  std::string id = worker.Send(R"({"to":"15557770002","text":"hello"})");
  REQUIRE_FALSE(id.empty());
  REQUIRE(WaitStatus(worker, id, "sent"));
  const std::string wamid = StringAt(worker.Message(id), "providerId");
  WebhookErrorSpec error;
  error.code = 131049;
  error.title =
      "This message was not delivered to maintain healthy ecosystem "
      "engagement.";
  error.message = error.title;
  const std::string body = StatusesWebhook({StatusObject(
      wamid, "failed", "15557770002", NowS(), {WebhookError(error)})});
  REQUIRE(worker.Webhook(body) == 200);
  REQUIRE(worker.Webhook(body) == 200);  // Meta's redelivery
  REQUIRE(WaitStatus(worker, id, "failed"));
  auto message = worker.Message(id);
  REQUIRE(message.HasMember("error"));
  CHECK(StringAt(message["error"], "code") == "131049");
  REQUIRE(WaitUntil(
      [&] {
        return StatusNamesFor(receiver, id) ==
               std::vector<std::string>{"sent", "failed"};
      },
      seconds(20)));
  std::this_thread::sleep_for(milliseconds(300));  // a repeat would be here
  CHECK(StatusNamesFor(receiver, id) ==
        std::vector<std::string>{"sent", "failed"});
  for (auto& e : Events(receiver)) {
    if (StringAt(e, "type") != "status" ||
        StringAt(e["status"], "status") != "failed")
      continue;
    const rapidjson::Value& s = e["status"];
    CHECK(StringAt(s, "providerId") == wamid);
    REQUIRE(s.HasMember("error"));
    CHECK(StringAt(s["error"], "code") == "131049");
    CHECK(StringAt(s["error"], "message") ==
          StringAt(message["error"], "message"));
    CHECK(s["error"]["retryable"].IsFalse());
  }
  worker.Stop();
}

TEST_CASE(
    "a status for a wamid this worker does not know reaches the bot with "
    "messageId null",
    "[cloud][integration][forward]") {
  TempDir dir;
  GraphApiServer graph;
  WebhookReceiver receiver;
  CloudWorker worker(dir, graph, {{"WEBHOOK_URL", receiver.url()}});
  // Sent by another app on the same number.
  const std::string body = StatusesWebhook(
      {StatusObject("wamid.another-app", "delivered", "15557770003", NowS())});
  REQUIRE(worker.Webhook(body) == 200);
  REQUIRE(worker.Webhook(body) == 200);  // Meta's redelivery
  auto statuses = [&] {
    std::vector<rapidjson::Document> out;
    for (auto& e : Events(receiver)) {
      if (StringAt(e, "type") == "status") out.push_back(std::move(e));
    }
    return out;
  };
  REQUIRE(WaitUntil([&] { return !statuses().empty(); }, seconds(20)));
  std::this_thread::sleep_for(milliseconds(300));  // a repeat would be here
  auto events = statuses();
  REQUIRE(events.size() == 1);
  const rapidjson::Value& s = events[0]["status"];
  CHECK(s["messageId"].IsNull());
  CHECK(StringAt(s, "providerId") == "wamid.another-app");
  CHECK(StringAt(s, "status") == "delivered");
  worker.Stop();
}

TEST_CASE(
    "a receiver that is down gets every event once it is back, and a "
    "SIGKILL mid-forwarding loses none",
    "[cloud][integration][forward][kill]") {
  TempDir dir;
  GraphApiServer graph;
  WebhookReceiver receiver;
  receiver.SetDefault(ReceiverAnswer::Status(503));  // down
  std::set<std::string> expected;
  {
    CloudWorker worker(
        dir, graph,
        {{"WEBHOOK_URL", receiver.url()}, {"WEBHOOK_SECRET", kWebhookSecret}},
        "first.log");
    for (int i = 0; i < 20; ++i) {
      MessageHeader header;
      header.from = "1555888000" + std::to_string(i % 4);
      header.id = "wamid.down-" + std::to_string(i);
      header.timestamp_s = NowS();
      expected.insert(header.id);
      REQUIRE(worker.Webhook(MessagesWebhook({TextMessage(header, "x")})) ==
              200);
    }
    REQUIRE(WaitUntil([&] { return receiver.count() >= 2; }, seconds(20)));
    REQUIRE(worker.process().Signal(SIGKILL).ok());
    worker.process().WaitExit(seconds(5));
  }
  receiver.SetDefault(ReceiverAnswer::Status(200));  // back up
  CloudWorker worker(
      dir, graph,
      {{"WEBHOOK_URL", receiver.url()}, {"WEBHOOK_SECRET", kWebhookSecret}},
      "second.log");
  REQUIRE(WaitUntil(
      [&] {
        auto ids = MessageIdsOf(receiver);
        return std::set<std::string>(ids.begin(), ids.end()) == expected;
      },
      seconds(60)));
  // In order per chat.
  std::map<std::string, std::vector<int>> per_chat;
  for (auto& e : Events(receiver)) {
    if (StringAt(e, "type") != "message") continue;
    std::string id = StringAt(e["message"], "id");
    per_chat[StringAt(e["message"], "from")].push_back(
        std::stoi(id.substr(id.rfind('-') + 1)));
  }
  for (auto& [chat, order] : per_chat) {
    INFO(chat);
    CHECK(std::is_sorted(order.begin(), order.end()));
  }
  auto queue = worker.client().Get("/api/queue");
  REQUIRE(queue);
  CHECK(queue->body.find("\"forwarding\":{") != std::string::npos);
  worker.Stop();
}

TEST_CASE(
    "media: an upload reaches Graph, an inbound media streams back, "
    "and /api/read marks a message read",
    "[cloud][integration][media]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph);
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  std::string content(200 * 1024, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char(i * 131 % 251);
  httplib::MultipartFormDataItems items = {
      {"file", content, "photo.jpg", "image/jpeg"}};
  auto upload = worker.client().Post("/api/media", items);
  REQUIRE(upload);
  INFO(upload->body);
  REQUIRE(upload->status == 200);
  std::string media_id = StringAt(Json(upload->body), "id");
  REQUIRE_FALSE(media_id.empty());
  CHECK(graph.MediaContent(media_id) == std::optional<std::string>(content));

  std::string inbound_id = graph.AddMedia(content, "image/png");
  auto download = worker.client().Get(("/api/media/" + inbound_id).c_str());
  REQUIRE(download);
  CHECK(download->status == 200);
  CHECK(download->body == content);
  CHECK(download->get_header_value("Content-Type") == "image/png");
  auto unknown = worker.client().Get("/api/media/424242");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);

  auto read = worker.client().Post(
      "/api/read", R"({"messageId":"wamid.read-1","typing":true})",
      "application/json");
  REQUIRE(read);
  CHECK(read->status == 200);
  auto marks = graph.requests(GraphRoute::kMarkRead);
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].body.find("wamid.read-1") != std::string::npos);
  CHECK(marks[0].body.find("typing_indicator") != std::string::npos);
  worker.Stop();
}

}  // namespace
}  // namespace dynoguard::testing
