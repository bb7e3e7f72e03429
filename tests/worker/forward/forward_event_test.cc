#include "worker/forward/forward_event.h"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

namespace dynoguard::worker {
namespace {

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  INFO(json);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

std::string Str(const rapidjson::Value& value) {
  REQUIRE(value.IsString());
  return std::string(value.GetString(), value.GetStringLength());
}

WebhookMessage TextMessage() {
  WebhookMessage m;
  m.message = {"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
               "16505551234", "Hello there", 1700000000000};
  m.type = "text";
  m.raw_json =
      R"({"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1700000000","text":{"body":"Hello there"},"type":"text"})";
  m.phone_number_id = "106540352242922";
  return m;
}

bool IsEventId(const std::string& id) {
  if (id.size() != 28 || id.rfind("evt_", 0) != 0) return false;
  for (size_t i = 4; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST_CASE("a text message event has the SPEC shape with raw embedded",
          "[forward]") {
  const WebhookMessage m = TextMessage();
  const ForwardEvent event = BuildMessageEvent(m, "shop");
  CHECK(event.type == "message");
  CHECK(event.chat == "16505551234");
  CHECK(event.timestamp_ms == 1700000000000);
  CHECK(IsEventId(event.id));

  rapidjson::Document doc = Parse(event.json);
  CHECK(Str(doc["id"]) == event.id);
  CHECK(Str(doc["type"]) == "message");
  CHECK(doc["timestamp"].GetInt64() == 1700000000000);
  CHECK(Str(doc["session"]) == "shop");
  const rapidjson::Value& message = doc["message"];
  CHECK(Str(message["id"]) == m.message.id);
  CHECK(Str(message["from"]) == "16505551234");
  CHECK(Str(message["type"]) == "text");
  CHECK(Str(message["text"]) == "Hello there");
  CHECK_FALSE(message.HasMember("media"));
  CHECK_FALSE(message.HasMember("context"));
  // raw is the provider's object itself, not a string holding it.
  REQUIRE(message["raw"].IsObject());
  CHECK(Str(message["raw"]["text"]["body"]) == "Hello there");
  CHECK(Str(message["raw"]["timestamp"]) == "1700000000");
}

TEST_CASE("a media reply carries media and context, no empty text",
          "[forward]") {
  WebhookMessage m = TextMessage();
  m.type = "document";
  m.message.text = "";
  m.media = WebhookMessage::Media{"1003383421387256", "application/pdf",
                                  std::string("the invoice"),
                                  std::string("invoice.pdf")};
  m.context_id = "wamid.previous";
  rapidjson::Document doc = Parse(BuildMessageEvent(m).json);
  CHECK(Str(doc["session"]) == "default");
  const rapidjson::Value& message = doc["message"];
  CHECK(Str(message["type"]) == "document");
  CHECK_FALSE(message.HasMember("text"));
  CHECK(Str(message["media"]["id"]) == "1003383421387256");
  CHECK(Str(message["media"]["mimeType"]) == "application/pdf");
  CHECK(Str(message["media"]["caption"]) == "the invoice");
  CHECK(Str(message["media"]["filename"]) == "invoice.pdf");
  CHECK(Str(message["context"]["id"]) == "wamid.previous");

  // Without caption and filename those keys are left out.
  m.media =
      WebhookMessage::Media{"42", "image/jpeg", std::nullopt, std::nullopt};
  rapidjson::Document image = Parse(BuildMessageEvent(m).json);
  CHECK_FALSE(image["message"]["media"].HasMember("caption"));
  CHECK_FALSE(image["message"]["media"].HasMember("filename"));
}

TEST_CASE("a missing or broken raw object becomes null, never bad JSON",
          "[forward]") {
  WebhookMessage m = TextMessage();
  m.raw_json = "";
  CHECK(Parse(BuildMessageEvent(m).json)["message"]["raw"].IsNull());
  m.raw_json = R"({"truncated":)";
  CHECK(Parse(BuildMessageEvent(m).json)["message"]["raw"].IsNull());
  m.raw_json = "  {\n \"a\" : [1, 2]\n}  ";
  rapidjson::Document doc = Parse(BuildMessageEvent(m).json);
  CHECK(doc["message"]["raw"]["a"].Size() == 2);
}

TEST_CASE("message and status ids are deterministic", "[forward]") {
  const WebhookMessage m = TextMessage();
  CHECK(BuildMessageEvent(m).id == BuildMessageEvent(m, "other").id);
  CHECK(BuildMessageEvent(m).id == MessageEventId(m.message.id));
  WebhookMessage other = m;
  other.message.id = "wamid.other";
  CHECK(BuildMessageEvent(other).id != BuildMessageEvent(m).id);

  CHECK(StatusEventId("wamid.x", "sent") == StatusEventId("wamid.x", "sent"));
  CHECK(StatusEventId("wamid.x", "sent") !=
        StatusEventId("wamid.x", "delivered"));
  // A message and a status of the same wamid never share an id.
  CHECK(MessageEventId("wamid.x") != StatusEventId("wamid.x", "sent"));
  CHECK(IsEventId(StatusEventId("wamid.x", "read")));
}

TEST_CASE("a status event names our message id, or null when unknown",
          "[forward]") {
  WebhookStatus s;
  s.update.provider_id = "wamid.sent1";
  s.update.status = MessageStatus::kDelivered;
  s.update.timestamp_ms = 1700000100000;
  s.recipient_id = "16505551234";

  const ForwardEvent known = BuildStatusEvent(s, std::string("msg_abc"));
  CHECK(known.type == "status");
  CHECK(known.chat == "16505551234");
  CHECK(known.timestamp_ms == 1700000100000);
  CHECK(known.id == StatusEventId("wamid.sent1", "delivered"));
  rapidjson::Document doc = Parse(known.json);
  CHECK(Str(doc["type"]) == "status");
  CHECK(Str(doc["status"]["messageId"]) == "msg_abc");
  CHECK(Str(doc["status"]["providerId"]) == "wamid.sent1");
  CHECK(Str(doc["status"]["status"]) == "delivered");
  CHECK_FALSE(doc["status"].HasMember("error"));

  rapidjson::Document unknown = Parse(BuildStatusEvent(s, std::nullopt).json);
  CHECK(unknown["status"]["messageId"].IsNull());
}

TEST_CASE("a failed status carries the provider's error", "[forward]") {
  WebhookStatus s;
  s.update.provider_id = "wamid.f";
  s.update.status = MessageStatus::kFailed;
  s.update.error =
      ProviderError{"131026", "Message undeliverable", /*retryable=*/false};
  rapidjson::Document doc = Parse(BuildStatusEvent(s, std::nullopt).json);
  CHECK(Str(doc["status"]["status"]) == "failed");
  CHECK(Str(doc["status"]["error"]["code"]) == "131026");
  CHECK(Str(doc["status"]["error"]["message"]) == "Message undeliverable");
  CHECK(doc["status"]["error"]["retryable"].IsFalse());
}

TEST_CASE("the dispatcher's sent and failed are status events naming our id",
          "[forward]") {
  SendReport sent;
  sent.message_id = "msg_988a5c90e711d877a12534dc";
  sent.to = "16505551234";
  sent.status = MessageStatus::kSent;
  sent.provider_id = "wamid.accepted";
  sent.at_ms = 1700000300000;
  const ForwardEvent event = BuildSendStatusEvent(sent, "shop");
  CHECK(event.type == "status");
  CHECK(event.chat == "16505551234");  // the same line as Meta's statuses
  CHECK(event.timestamp_ms == 1700000300000);
  CHECK(event.id == SendStatusEventId(sent.message_id, "sent"));
  rapidjson::Document doc = Parse(event.json);
  CHECK(Str(doc["id"]) == event.id);
  CHECK(Str(doc["type"]) == "status");
  CHECK(doc["timestamp"].GetInt64() == 1700000300000);
  CHECK(Str(doc["session"]) == "shop");
  CHECK(Str(doc["status"]["messageId"]) == sent.message_id);
  CHECK(Str(doc["status"]["providerId"]) == "wamid.accepted");
  CHECK(Str(doc["status"]["status"]) == "sent");
  CHECK_FALSE(doc["status"].HasMember("error"));

  // A send that failed never got a wamid; its error is the queue's.
  SendReport failed = sent;
  failed.status = MessageStatus::kFailed;
  failed.provider_id.clear();
  failed.error = ProviderError{"131000", "Something went wrong", true};
  rapidjson::Document f = Parse(BuildSendStatusEvent(failed).json);
  CHECK(Str(f["status"]["messageId"]) == sent.message_id);
  CHECK(f["status"]["providerId"].IsNull());
  CHECK(Str(f["status"]["status"]) == "failed");
  CHECK(Str(f["status"]["error"]["code"]) == "131000");
  CHECK(Str(f["status"]["error"]["message"]) == "Something went wrong");
  CHECK(f["status"]["error"]["retryable"].IsTrue());  // the retries ran out
}

TEST_CASE("a send status id derives from our id and the status only",
          "[forward]") {
  SendReport a;
  a.message_id = "msg_a";
  a.provider_id = "wamid.first";
  a.at_ms = 1;
  SendReport again = a;  // the same answer after a restart's resend
  again.provider_id = "wamid.second";
  again.at_ms = 2;
  CHECK(BuildSendStatusEvent(a).id == BuildSendStatusEvent(again).id);
  CHECK(SendStatusEventId("msg_a", "sent") !=
        SendStatusEventId("msg_a", "failed"));
  CHECK(SendStatusEventId("msg_a", "sent") !=
        SendStatusEventId("msg_b", "sent"));
  // Never one of the provider's status ids, even for the same text.
  CHECK(SendStatusEventId("wamid.x", "sent") !=
        StatusEventId("wamid.x", "sent"));
  CHECK(IsEventId(SendStatusEventId("msg_a", "sent")));
}

TEST_CASE("connection events: state, optional reason, random ids",
          "[forward]") {
  const ForwardEvent event = BuildConnectionEvent(
      ConnectionState::kDisconnected, "token expired (190)", 1700000200000);
  CHECK(event.type == "connection");
  CHECK(event.chat.empty());
  CHECK(IsEventId(event.id));
  rapidjson::Document doc = Parse(event.json);
  CHECK(Str(doc["type"]) == "connection");
  CHECK(doc["timestamp"].GetInt64() == 1700000200000);
  CHECK(Str(doc["connection"]["state"]) == "disconnected");
  CHECK(Str(doc["connection"]["reason"]) == "token expired (190)");

  rapidjson::Document connected =
      Parse(BuildConnectionEvent(ConnectionState::kConnected, "", 1).json);
  CHECK(Str(connected["connection"]["state"]) == "connected");
  CHECK_FALSE(connected["connection"].HasMember("reason"));

  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(RandomEventId());
  CHECK(ids.size() == 100);
  CHECK(BuildConnectionEvent(ConnectionState::kConnected, "", 1, "default",
                             std::string("evt_given"))
            .id == "evt_given");
}

TEST_CASE("texts with quotes and non-ASCII are escaped", "[forward]") {
  WebhookMessage m = TextMessage();
  m.message.text = "say \"hi\"\n— ünïcödé 👋";
  rapidjson::Document doc = Parse(BuildMessageEvent(m).json);
  CHECK(Str(doc["message"]["text"]) == m.message.text);
}

}  // namespace
}  // namespace dynoguard::worker
