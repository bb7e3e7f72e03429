#include "tests/support/graph_api_server.h"

#include <httplib.h>
#include <rapidjson/document.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/wait.h"

namespace dynoguard::testing {
namespace {

const httplib::Headers kAuth = {{"Authorization", "Bearer test-access-token"}};

std::string Messages(const GraphApiServer& server) {
  return "/" + server.options().version + "/" +
         server.options().phone_number_id + "/messages";
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(document.HasParseError());
  return document;
}

httplib::Client ClientFor(const GraphApiServer& server) {
  httplib::Client client(server.origin());
  client.set_read_timeout(10, 0);
  client.set_connection_timeout(5, 0);
  return client;
}

constexpr const char* kText =
    R"({"messaging_product":"whatsapp","recipient_type":"individual",)"
    R"("to":"16505551234","type":"text","text":{"preview_url":false,)"
    R"("body":"hello"}})";

TEST_CASE("GraphApiServer answers a send with the documented JSON",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  auto res =
      client.Post(Messages(server).c_str(), kAuth, kText, "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document body = Json(res->body);
  CHECK(std::string(body["messaging_product"].GetString()) == "whatsapp");
  CHECK(std::string(body["contacts"][0]["input"].GetString()) == "16505551234");
  CHECK(std::string(body["contacts"][0]["wa_id"].GetString()) == "16505551234");
  std::string wamid = body["messages"][0]["id"].GetString();
  CHECK(wamid.rfind("wamid.", 0) == 0);
  CHECK(std::string(body["messages"][0]["message_status"].GetString()) ==
        "accepted");

  std::vector<GraphRequest> sends = server.requests(GraphRoute::kMessages);
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].to == "16505551234");
  CHECK(sends[0].type == "text");
  CHECK(sends[0].status == 200);
  CHECK(sends[0].provider_id == wamid);
  CHECK(sends[0].authorization == "Bearer test-access-token");
  CHECK(sends[0].body == kText);
  CHECK(server.base_url() ==
        "http://127.0.0.1:" + std::to_string(server.port()) + "/v25.0");
}

TEST_CASE("GraphApiServer refuses a missing or wrong token with 401/190",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  for (const httplib::Headers& headers :
       {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer nope"}},
        httplib::Headers{{"Authorization", "test-access-token"}}}) {
    auto res = client.Post(Messages(server).c_str(), headers, kText,
                           "application/json");
    REQUIRE(res);
    CHECK(res->status == 401);
    rapidjson::Document body = Json(res->body);
    CHECK(body["error"]["code"].GetInt() == 190);
    CHECK(std::string(body["error"]["type"].GetString()) == "OAuthException");
    CHECK(body["error"].HasMember("fbtrace_id"));
  }
  server.SetAccessToken("fixed-token");
  auto old = client.Get("/v25.0/106540352242922", kAuth);
  REQUIRE(old);
  CHECK(old->status == 401);
  auto fixed = client.Get("/v25.0/106540352242922",
                          {{"Authorization", "Bearer fixed-token"}});
  REQUIRE(fixed);
  CHECK(fixed->status == 200);
  CHECK(server.count(GraphRoute::kMessages) == 3);
}

TEST_CASE("ValidateSendRequest accepts every documented message kind",
          "[graph_api_server]") {
  const std::string head =
      R"({"messaging_product":"whatsapp","to":"16505551234",)";
  for (std::string kind : {
           R"("type":"text","text":{"body":"hi","preview_url":true})",
           R"("text":{"body":"type defaults to text"})",
           R"("type":"template","template":{"name":"hello_world",)"
           R"("language":{"code":"en_US"},"components":[]})",
           R"("type":"image","image":{"link":"https://x.test/a.png",)"
           R"("caption":"c"})",
           R"("type":"image","image":{"id":"1003383421387256"})",
           R"("type":"document","document":{"id":"1","filename":"a.pdf",)"
           R"("caption":"c"})",
           R"("type":"audio","audio":{"id":"1"})",
           R"("type":"video","video":{"link":"http://x.test/v.mp4"})",
           R"("type":"sticker","sticker":{"id":"1"})",
           R"("type":"reaction","reaction":{"message_id":"wamid.1",)"
           R"("emoji":"\ud83d\ude00"})",
           R"("type":"reaction","reaction":{"message_id":"wamid.1",)"
           R"("emoji":""})",
           R"("type":"location","location":{"latitude":37.48,)"
           R"("longitude":-122.14,"name":"HQ","address":"1 Way"})",
           R"("type":"contacts","contacts":[{"name":{"formatted_name":"A B"},)"
           R"("phones":[{"phone":"+1 555"}]}])",
           R"("type":"interactive","interactive":{"type":"button",)"
           R"("body":{"text":"Pick"},"action":{"buttons":[)"
           R"({"type":"reply","reply":{"id":"a","title":"A"}},)"
           R"({"type":"reply","reply":{"id":"b","title":"B"}},)"
           R"({"type":"reply","reply":{"id":"c","title":"C"}}]}})",
           R"("type":"interactive","interactive":{"type":"list",)"
           R"("body":{"text":"Pick"},"action":{"button":"Menu","sections":[)"
           R"({"title":"S1","rows":[{"id":"1","title":"One",)"
           R"("description":"d"}]},{"title":"S2","rows":[{"id":"2",)"
           R"("title":"Two"}]}]}})",
           R"("type":"interactive","interactive":{"type":"cta_url",)"
           R"("body":{"text":"Go"},"action":{"name":"cta_url",)"
           R"("parameters":{"display_text":"Open","url":"https://x.test"}}})",
           R"("type":"text","text":{"body":"re"},)"
           R"("context":{"message_id":"wamid.prev"})",
       }) {
    INFO(kind);
    CHECK(ValidateSendRequest(head + kind + "}") == "");
  }
}

TEST_CASE("ValidateSendRequest names the offending field",
          "[graph_api_server]") {
  struct Case {
    std::string body;
    std::string problem;
  };
  const std::string head = R"({"messaging_product":"whatsapp","to":"1",)";
  const std::string buttons4 =
      R"({"type":"reply","reply":{"id":"a","title":"A"}},)"
      R"({"type":"reply","reply":{"id":"b","title":"B"}},)"
      R"({"type":"reply","reply":{"id":"c","title":"C"}},)"
      R"({"type":"reply","reply":{"id":"d","title":"D"}})";
  std::string rows11;
  for (int i = 0; i < 11; ++i) {
    rows11 += (i ? "," : "") + std::string(R"({"id":")") + std::to_string(i) +
              R"(","title":"t"})";
  }
  const Case cases[] = {
      {"not json", "body: not a JSON object"},
      {R"({"to":"1","text":{"body":"x"}})", "messaging_product: missing"},
      {R"({"messaging_product":"sms","to":"1","text":{"body":"x"}})",
       "messaging_product: must be \"whatsapp\""},
      {R"({"messaging_product":"whatsapp","text":{"body":"x"}})",
       "to: missing"},
      {head + R"("recipient_type":"crowd","text":{"body":"x"}})",
       "recipient_type: must be \"individual\""},
      {head + R"("type":"fax","fax":{}})", "type: unknown \"fax\""},
      {head + R"("type":"text"})", "text: missing"},
      {head + R"("text":{"body":""}})", "text.body: empty"},
      {head + R"("text":{"body":")" + std::string(4097, 'x') + R"("}})",
       "text.body: longer than 4096 characters"},
      {head + R"("text":{"body":"x","preview_url":"yes"}})",
       "text.preview_url: not a boolean"},
      {head + R"("text":{"body":"x"},"context":{}})",
       "context.message_id: missing"},
      {head + R"("type":"template","template":{"name":"n"}})",
       "template.language: missing"},
      {head + R"("type":"template","template":{"name":"n","language":{}}})",
       "template.language.code: missing"},
      {head + R"("type":"image","image":{}})",
       "image: exactly one of link or id is required"},
      {head + R"("type":"image","image":{"id":"1","link":"https://x"}})",
       "image: exactly one of link or id is required"},
      {head + R"("type":"image","image":{"link":"ftp://x"}})",
       "image.link: not an http(s) URL"},
      {head + R"("type":"image","image":{"id":"1","caption":")" +
           std::string(1025, 'c') + R"("}})",
       "image.caption: longer than 1024 characters"},
      {head + R"("type":"audio","audio":{"id":"1","caption":"c"}})",
       "audio.caption: not allowed for audio"},
      {head + R"("type":"image","image":{"id":"1","filename":"f"}})",
       "image.filename: only for documents"},
      {head + R"("type":"reaction","reaction":{"emoji":"x"}})",
       "reaction.message_id: missing"},
      {head + R"("type":"location","location":{"latitude":91,)"
              R"("longitude":0}})",
       "location.latitude: out of range"},
      {head + R"("type":"location","location":{"latitude":1}})",
       "location.longitude: missing"},
      {head + R"("type":"contacts","contacts":[]})", "contacts: empty"},
      {head + R"("type":"contacts","contacts":[{"name":{}}]})",
       "contacts[0].name.formatted_name: missing"},
      {head + R"("type":"interactive","interactive":{"type":"carousel",)"
              R"("action":{}}})",
       "interactive.type: unknown \"carousel\""},
      {head + R"("type":"interactive","interactive":{"type":"button",)"
              R"("action":{"buttons":[]}}})",
       "interactive.body: missing"},
      {head +
           R"("type":"interactive","interactive":{"type":"button",)"
           R"("body":{"text":"b"},"action":{"buttons":[)" +
           buttons4 + "]}}}",
       "interactive.action.buttons: 1 to 3 buttons"},
      {head + R"("type":"interactive","interactive":{"type":"button",)"
              R"("body":{"text":"b"},"action":{"buttons":[{"type":"reply",)"
              R"("reply":{"id":"a","title":"twenty-one characters"}}]}}})",
       "interactive.action.buttons[0].reply.title: longer than 20 "
       "characters"},
      {head +
           R"("type":"interactive","interactive":{"type":"list",)"
           R"("body":{"text":"b"},"action":{"button":"M","sections":[)"
           R"({"rows":[)" +
           rows11 + "]}]}}}",
       "interactive.action.sections: more than 10 rows in all"},
      {head + R"("type":"interactive","interactive":{"type":"list",)"
              R"("body":{"text":"b"},"action":{"button":"M","sections":[)"
              R"({"rows":[{"id":"1","title":"t"}]},{"rows":[{"id":"2",)"
              R"("title":"t"}]}]}}})",
       "interactive.action.sections[0].title: missing"},
      {"[" + std::string(100, '[') + std::string(100, ']') + "]",
       "body: not a JSON object"},
  };
  for (const Case& c : cases) {
    INFO(c.body.substr(0, 300));
    CHECK(ValidateSendRequest(c.body) == c.problem);
  }
}

TEST_CASE("GraphApiServer answers an invalid send with 400, code 100",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  auto res = client.Post(
      Messages(server).c_str(), kAuth,
      R"({"messaging_product":"whatsapp","to":"1","type":"image","image":{}})",
      "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);
  rapidjson::Document body = Json(res->body);
  CHECK(body["error"]["code"].GetInt() == 100);
  CHECK(std::string(body["error"]["error_data"]["details"].GetString()) ==
        "image: exactly one of link or id is required");
}

TEST_CASE("GraphApiServer scripts errors per request and per recipient",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  auto send_to = [&](const std::string& to) {
    std::string body = R"({"messaging_product":"whatsapp","to":")" + to +
                       R"(","text":{"body":"x"}})";
    auto res =
        client.Post(Messages(server).c_str(), kAuth, body, "application/json");
    REQUIRE(res);
    return std::make_pair(res->status, res->body);
  };

  GraphError throttled = GraphErrorFor(130429);
  throttled.error_subcode = 2494055;
  throttled.fbtrace_id = "Trace42";
  server.ScriptNext(GraphRoute::kMessages, GraphAnswer{throttled});
  auto [status, body] = send_to("111");
  CHECK(status == 400);
  rapidjson::Document error = Json(body);
  const auto& e = error["error"];
  CHECK(std::string(e["message"].GetString()) == "(#130429) Rate limit hit");
  CHECK(std::string(e["type"].GetString()) == "OAuthException");
  CHECK(e["code"].GetInt() == 130429);
  CHECK(e["error_subcode"].GetInt() == 2494055);
  CHECK(std::string(e["error_data"]["details"].GetString()) ==
        "Cloud API message throughput has been reached.");
  CHECK(std::string(e["fbtrace_id"].GetString()) == "Trace42");
  CHECK(send_to("111").first == 200);  // one-shot

  server.ScriptRecipient("222", GraphAnswer{GraphErrorFor(131056)}, 2);
  CHECK(send_to("222").first == 400);
  CHECK(send_to("333").first == 200);  // others unaffected
  CHECK(send_to("222").first == 400);
  CHECK(send_to("222").first == 200);  // twice only

  server.ScriptRecipient("444", GraphAnswer{GraphErrorFor(131000)});
  for (int i = 0; i < 3; ++i) CHECK(send_to("444").first == 500);
  server.ClearScripts();
  CHECK(send_to("444").first == 200);

  GraphAnswer held;
  held.message_status = "held_for_quality_assessment";
  server.ScriptNext(GraphRoute::kMessages, held);
  CHECK(Json(send_to("555").second)["messages"][0]["message_status"]
            .GetString() == std::string("held_for_quality_assessment"));
}

TEST_CASE("GraphErrorFor uses the HTTP statuses Meta documents",
          "[graph_api_server]") {
  struct Row {
    int code;
    int status;
  };
  for (Row row :
       {Row{0, 401}, Row{190, 401}, Row{368, 403}, Row{131031, 403},
        Row{10, 403}, Row{2, 503}, Row{131000, 500}, Row{131016, 500},
        Row{132001, 404}, Row{4, 400}, Row{130429, 400}, Row{131056, 400},
        Row{131048, 400}, Row{131047, 400}, Row{131026, 400}, Row{100, 400},
        Row{131042, 400}, Row{999999, 400}}) {
    INFO("code " << row.code);
    GraphError error = GraphErrorFor(row.code);
    CHECK(error.http_status == row.status);
    CHECK(error.code == row.code);
    CHECK_FALSE(error.message.empty());
  }
}

TEST_CASE("GraphApiServer answers slowly and drops connections on request",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  GraphAnswer slow;
  slow.delay = std::chrono::milliseconds(200);
  server.ScriptNext(GraphRoute::kMessages, slow);
  auto res =
      client.Post(Messages(server).c_str(), kAuth, kText, "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);

  GraphAnswer drop;
  drop.drop_connection = true;
  server.ScriptNext(GraphRoute::kMessages, drop);
  auto dropped =
      client.Post(Messages(server).c_str(), kAuth, kText, "application/json");
  CHECK_FALSE(dropped);
  CHECK(server.requests(GraphRoute::kMessages).back().status == 0);
  // The next request gets a new connection and a normal answer.
  auto after =
      client.Post(Messages(server).c_str(), kAuth, kText, "application/json");
  REQUIRE(after);
  CHECK(after->status == 200);
}

TEST_CASE("GraphApiServer serves concurrent senders and records them all",
          "[graph_api_server]") {
  GraphApiServer server;
  server.SetDelay(std::chrono::milliseconds(20));
  constexpr int kSenders = 24;
  std::vector<std::thread> senders;
  std::atomic<int> ok{0};
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      httplib::Client client = ClientFor(server);
      std::string body = R"({"messaging_product":"whatsapp","to":")" +
                         std::to_string(1000 + i) + R"(","text":{"body":"x"}})";
      auto res = client.Post(Messages(server).c_str(), kAuth, body,
                             "application/json");
      if (res && res->status == 200) ++ok;
    });
  }
  for (std::thread& t : senders) t.join();
  CHECK(ok == kSenders);
  std::vector<GraphRequest> sends = server.requests(GraphRoute::kMessages);
  REQUIRE(sends.size() == kSenders);
  std::set<std::string> wamids;
  for (const GraphRequest& r : sends) wamids.insert(r.provider_id);
  CHECK(wamids.size() == kSenders);
}

TEST_CASE("GraphApiServer stops and starts again on the same port",
          "[graph_api_server]") {
  GraphApiServer server;
  int port = server.port();
  httplib::Client client = ClientFor(server);
  REQUIRE(client.Get("/v25.0/106540352242922", kAuth));
  // A delayed answer in flight when the server goes away is cut short.
  GraphAnswer slow;
  slow.delay = std::chrono::minutes(5);
  server.ScriptNext(GraphRoute::kPhoneNumber, slow);
  std::atomic<bool> pending_answered{true};
  std::thread pending([&] {
    // Catch2 assertions belong on the test's thread.
    httplib::Client other = ClientFor(server);
    pending_answered =
        static_cast<bool>(other.Get("/v25.0/106540352242922", kAuth));
  });
  REQUIRE(WaitUntil([&] { return server.count(GraphRoute::kPhoneNumber) == 2; },
                    std::chrono::seconds(10)));
  server.Stop();
  pending.join();
  CHECK_FALSE(pending_answered);
  CHECK_FALSE(server.running());
  CHECK_FALSE(client.Get("/v25.0/106540352242922", kAuth));

  REQUIRE(server.Start().ok());
  CHECK(server.port() == port);
  CHECK(server.running());
  auto res = client.Get("/v25.0/106540352242922", kAuth);
  REQUIRE(res);
  CHECK(res->status == 200);
  rapidjson::Document body = Json(res->body);
  CHECK(std::string(body["id"].GetString()) == "106540352242922");
  CHECK(std::string(body["verified_name"].GetString()) == "Dynoguard Test");
  CHECK(std::string(body["quality_rating"].GetString()) == "GREEN");
  server.Stop();
  server.Stop();  // idempotent
}

TEST_CASE("GraphApiServer uploads, describes and serves media with expiry",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  const std::string content = std::string("\x89PNG\r\n", 6) + "picture";
  httplib::MultipartFormDataItems items = {
      {"messaging_product", "whatsapp", "", ""},
      {"type", "image/png", "", ""},
      {"file", content, "photo.png", "image/png"},
  };
  auto upload = client.Post("/v25.0/106540352242922/media", kAuth, items);
  REQUIRE(upload);
  REQUIRE(upload->status == 200);
  std::string id = Json(upload->body)["id"].GetString();
  CHECK(server.MediaContent(id) == content);
  CHECK(server.requests(GraphRoute::kMediaUpload).back().type == "image/png");

  auto info = client.Get(("/v25.0/" + id).c_str(), kAuth);
  REQUIRE(info);
  REQUIRE(info->status == 200);
  rapidjson::Document meta = Json(info->body);
  CHECK(std::string(meta["mime_type"].GetString()) == "image/png");
  CHECK(meta["file_size"].GetUint64() == content.size());
  CHECK(std::string(meta["id"].GetString()) == id);
  CHECK(std::string(meta["messaging_product"].GetString()) == "whatsapp");
  CHECK(std::string(meta["sha256"].GetString()).size() == 64);
  std::string url = meta["url"].GetString();
  REQUIRE(url.rfind(server.origin(), 0) == 0);
  std::string path = url.substr(server.origin().size());

  auto no_token = client.Get(path.c_str());
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  auto download = client.Get(path.c_str(), kAuth);
  REQUIRE(download);
  CHECK(download->status == 200);
  CHECK(download->body == content);
  CHECK(download->get_header_value("Content-Type") == "image/png");

  // A short-lived url expires.
  server.SetMediaUrlTtl(std::chrono::milliseconds(50));
  auto short_info = client.Get(("/v25.0/" + id).c_str(), kAuth);
  REQUIRE(short_info);
  std::string short_path =
      std::string(Json(short_info->body)["url"].GetString())
          .substr(server.origin().size());
  CHECK(WaitUntil(
      [&] {
        auto res = client.Get(short_path.c_str(), kAuth);
        return res && res->status == 404;
      },
      std::chrono::seconds(10)));

  auto unknown = client.Get("/v25.0/999", kAuth);
  REQUIRE(unknown);
  CHECK(unknown->status == 400);
  CHECK(Json(unknown->body)["error"]["error_subcode"].GetInt() == 33);

  auto bad_upload =
      client.Post("/v25.0/106540352242922/media", kAuth,
                  httplib::MultipartFormDataItems{
                      {"file", content, "photo.png", "image/png"}});
  REQUIRE(bad_upload);
  CHECK(bad_upload->status == 400);
  CHECK(server.AddMedia("abc", "text/plain") != id);
}

TEST_CASE("GraphApiServer marks messages read, with a typing indicator",
          "[graph_api_server]") {
  GraphApiServer server;
  httplib::Client client = ClientFor(server);
  auto read = client.Post(
      Messages(server).c_str(), kAuth,
      R"({"messaging_product":"whatsapp","status":"read","message_id":"wamid.1",)"
      R"("typing_indicator":{"type":"text"}})",
      "application/json");
  REQUIRE(read);
  CHECK(read->status == 200);
  CHECK(read->body == R"({"success":true})");
  auto bad = client.Post(Messages(server).c_str(), kAuth,
                         R"({"messaging_product":"whatsapp","status":"read"})",
                         "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(server.count(GraphRoute::kMarkRead) == 2);
  CHECK(server.count(GraphRoute::kMessages) == 0);

  // Another version or phone number id is not a route.
  auto other = client.Post("/v1.0/106540352242922/messages", kAuth, kText,
                           "application/json");
  REQUIRE(other);
  CHECK(other->status == 400);
  CHECK(server.count(GraphRoute::kOther) == 1);
}

}  // namespace
}  // namespace dynoguard::testing
