#include "worker/inbound/cloud/webhook_parser.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/webhook_payloads.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(DYNOGUARD_FIXTURES_DIR) + "/cloud/" + name);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

WebhookBatch Parse(const std::string& body) {
  common::Result<WebhookBatch> batch = ParseWebhook(body);
  INFO(body);
  INFO((batch.ok() ? "ok" : batch.status().message()));
  REQUIRE(batch.ok());
  return std::move(batch).value();
}

t::MessageHeader Header(std::string id, std::string context_id = "") {
  t::MessageHeader header;
  header.id = std::move(id);
  header.context_id = std::move(context_id);
  return header;
}

std::string ErrorOf(const std::string& body) {
  common::Result<WebhookBatch> batch = ParseWebhook(body);
  REQUIRE_FALSE(batch.ok());
  CHECK(batch.status().code() == common::Status::Code::kInvalidArgument);
  return batch.status().message();
}

TEST_CASE("ParseWebhook: Meta's text message fixture", "[webhook_parser]") {
  WebhookBatch batch = Parse(Fixture("text_message.json"));
  REQUIRE(batch.messages.size() == 1);
  const WebhookMessage& w = batch.messages[0];
  const InboundMessage& m = w.message;
  CHECK(m.id ==
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=");
  CHECK(m.from == "16505551234");
  CHECK(w.type == "text");
  CHECK(m.text == "Does it come in another color?");
  CHECK(m.timestamp_ms == 1749416383000);
  CHECK_FALSE(w.media);
  CHECK(w.context_id.empty());
  CHECK(
      w.raw_json.find(R"("text":{"body":"Does it come in another color?"})") !=
      std::string::npos);
  CHECK(w.phone_number_id == "106540352242922");
  CHECK(batch.statuses.empty());
  CHECK(batch.errors.empty());
}

TEST_CASE("ParseWebhook: Meta's image reply fixture", "[webhook_parser]") {
  WebhookBatch batch = Parse(Fixture("image_reply_message.json"));
  REQUIRE(batch.messages.size() == 1);
  const WebhookMessage& w = batch.messages[0];
  const InboundMessage& m = w.message;
  CHECK(w.type == "image");
  REQUIRE(w.media);
  CHECK(w.media->id == "1003383421387256");
  CHECK(w.media->mime_type == "image/jpeg");
  CHECK(w.media->caption == "This is the one I meant");
  CHECK_FALSE(w.media->filename);
  CHECK(m.text == "This is the one I meant");
  CHECK(w.context_id ==
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA");
}

TEST_CASE("ParseWebhook: Meta's failed status fixture", "[webhook_parser]") {
  WebhookBatch batch = Parse(Fixture("status_failed.json"));
  REQUIRE(batch.statuses.size() == 1);
  const StatusUpdate& s = batch.statuses[0].update;
  CHECK(s.provider_id ==
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA");
  CHECK(s.status == MessageStatus::kFailed);
  CHECK(s.timestamp_ms == 1744344496000);
  CHECK(batch.statuses[0].recipient_id == "16505551234");
  CHECK(batch.statuses[0].phone_number_id == "106540352242922");
  REQUIRE(s.error);
  CHECK(s.error->code == "131049");
  CHECK_FALSE(s.error->retryable);
  CHECK(s.error->message.find("healthy ecosystem") != std::string::npos);
}

TEST_CASE("ParseWebhook: a batch of two entries, a foreign field skipped",
          "[webhook_parser]") {
  WebhookBatch batch = Parse(Fixture("batch_two_entries.json"));
  REQUIRE(batch.statuses.size() == 2);
  CHECK(batch.statuses[0].update.status == MessageStatus::kSent);
  CHECK(batch.statuses[1].update.status == MessageStatus::kRead);
  CHECK_FALSE(batch.statuses[0].update.error);
  REQUIRE(batch.messages.size() == 1);
  CHECK(batch.messages[0].type == "interactive");
  CHECK(batch.messages[0].message.text == "Change");
  CHECK(batch.messages[0].context_id ==
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA");
  CHECK(batch.skipped == 1);
}

TEST_CASE("ParseWebhook: Meta's errors fixture", "[webhook_parser]") {
  WebhookBatch batch = Parse(Fixture("errors.json"));
  REQUIRE(batch.errors.size() == 1);
  CHECK(batch.errors[0].code == 130429);
  CHECK(batch.errors[0].title == "Rate limit hit");
  CHECK(batch.errors[0].details ==
        "Cloud API message throughput has been reached.");
}

TEST_CASE("ParseWebhook: every message type from the builders",
          "[webhook_parser]") {
  std::string body = t::MessagesWebhook({
      t::TextMessage(Header("wamid.1", "wamid.ctx"), "hi \"there\"\n"),
      t::MediaMessage(Header("wamid.2"), "image", "m2", "image/png", "cap"),
      t::MediaMessage(Header("wamid.3"), "document", "m3", "application/pdf",
                      "doc caption", "report.pdf"),
      t::MediaMessage(Header("wamid.4"), "audio", "m4", "audio/ogg", "", "",
                      true),
      t::MediaMessage(Header("wamid.5"), "video", "m5", "video/mp4"),
      t::MediaMessage(Header("wamid.6"), "sticker", "m6", "image/webp"),
      t::LocationMessage(Header("wamid.7"), 37.483307, 122.148981, "HQ",
                         "1 Hacker Way"),
      t::ContactsMessage(Header("wamid.8"), "Barbara J. Johnson",
                         "16505551234"),
      t::ReactionMessage(Header("wamid.9"), "wamid.reacted",
                         "\xF0\x9F\x98\x80"),
      t::ButtonReplyMessage(Header("wamid.10", "wamid.q"), "yes", "Yes"),
      t::ListReplyMessage(Header("wamid.11", "wamid.l"), "row1", "Row 1",
                          "first"),
      t::QuickReplyButtonMessage(Header("wamid.12", "wamid.t"), "STOP",
                                 "Stop promotions"),
      t::OrderMessage(Header("wamid.13"), "cat1", "sku1", 2, 9.99, "USD"),
      t::UnsupportedMessage(Header("wamid.14")),
  });
  WebhookBatch batch = Parse(body);
  REQUIRE(batch.messages.size() == 14);
  const auto& m = batch.messages;  // WebhookMessage
  CHECK(m[0].message.text == "hi \"there\"\n");
  CHECK(m[0].context_id == "wamid.ctx");
  CHECK(m[0].message.timestamp_ms == t::kTestTimestampS * 1000);
  for (int i = 1; i <= 5; ++i) {
    INFO("media " << i);
    REQUIRE(m[i].media);
    CHECK(m[i].media->id == "m" + std::to_string(i + 1));
  }
  CHECK(m[1].type == "image");
  CHECK(m[1].message.text == "cap");
  CHECK(m[2].media->filename == "report.pdf");
  CHECK(m[2].media->mime_type == "application/pdf");
  CHECK(m[3].type == "audio");
  CHECK_FALSE(m[3].media->caption);
  CHECK(m[3].message.text.empty());
  CHECK(m[5].type == "sticker");
  CHECK(m[6].type == "location");
  CHECK(m[6].message.text == "HQ");
  CHECK_FALSE(m[6].media);
  CHECK(m[6].raw_json.find("\"latitude\":37.483307") != std::string::npos);
  CHECK(m[7].type == "contacts");
  CHECK(m[7].raw_json.find("Barbara J. Johnson") != std::string::npos);
  CHECK(m[8].type == "reaction");
  CHECK(m[8].message.text == "\xF0\x9F\x98\x80");
  CHECK(m[8].context_id == "wamid.reacted");
  CHECK(m[9].message.text == "Yes");
  CHECK(m[9].context_id == "wamid.q");
  CHECK(m[10].message.text == "Row 1");
  CHECK(m[11].type == "button");
  CHECK(m[11].message.text == "Stop promotions");
  CHECK(m[12].type == "order");
  CHECK(m[12].raw_json.find("\"product_retailer_id\":\"sku1\"") !=
        std::string::npos);
  CHECK(m[13].type == "unsupported");
  CHECK(m[13].raw_json.find("131051") != std::string::npos);
}

TEST_CASE("ParseWebhook: a forwarded message has no context id",
          "[webhook_parser]") {
  t::MessageHeader header = Header("wamid.f");
  header.forwarded = true;
  header.frequently_forwarded = true;
  WebhookBatch batch =
      Parse(t::MessagesWebhook({t::TextMessage(header, "fw")}));
  REQUIRE(batch.messages.size() == 1);
  CHECK(batch.messages[0].context_id.empty());
  CHECK(batch.messages[0].raw_json.find(R"("context":{"forwarded":true,)"
                                        R"("frequently_forwarded":true})") !=
        std::string::npos);
}

TEST_CASE("ParseWebhook: statuses of each kind, unknown ones skipped",
          "[webhook_parser]") {
  std::string body = t::StatusesWebhook({
      t::StatusObject("wamid.a", "sent"),
      t::StatusObject("wamid.a", "delivered"),
      t::StatusObject("wamid.a", "read"),
      t::StatusObject("wamid.b", "failed", "16505550000", 1700000000,
                      {t::WebhookError({131047, "Re-engagement message",
                                        "Re-engagement message",
                                        "More than 24 hours have passed."})}),
      t::StatusObject("wamid.c", "deleted"),
  });
  WebhookBatch batch = Parse(body);
  REQUIRE(batch.statuses.size() == 4);
  CHECK(batch.statuses[0].update.status == MessageStatus::kSent);
  CHECK(batch.statuses[1].update.status == MessageStatus::kDelivered);
  CHECK(batch.statuses[2].update.status == MessageStatus::kRead);
  const StatusUpdate& failed = batch.statuses[3].update;
  CHECK(failed.status == MessageStatus::kFailed);
  CHECK(failed.provider_id == "wamid.b");
  CHECK(batch.statuses[3].recipient_id == "16505550000");
  CHECK(failed.timestamp_ms == 1700000000000);
  REQUIRE(failed.error);
  CHECK(failed.error->code == "131047");
  CHECK(failed.error->message ==
        "Re-engagement message (More than 24 hours have passed.)");
  CHECK(batch.skipped == 1);
}

TEST_CASE("ParseWebhook: several entries and changes keep body order",
          "[webhook_parser]") {
  t::ChangeValue first;
  first.messages = {t::TextMessage(Header("wamid.1"), "one")};
  first.statuses = {t::StatusObject("wamid.s1", "delivered")};
  t::ChangeValue second;
  second.messages = {t::TextMessage(Header("wamid.2"), "two"),
                     t::TextMessage(Header("wamid.3"), "three")};
  second.errors = {t::WebhookError({})};
  std::string body =
      t::Webhook({t::Entry({t::Change(first), t::Change(second)}),
                  t::Entry({t::Change(second, "message_template_status_update"),
                            t::Change(first)})});
  WebhookBatch batch = Parse(body);
  REQUIRE(batch.messages.size() == 4);
  CHECK(batch.messages[0].message.id == "wamid.1");
  CHECK(batch.messages[1].message.id == "wamid.2");
  CHECK(batch.messages[2].message.id == "wamid.3");
  CHECK(batch.messages[3].message.id == "wamid.1");
  CHECK(batch.statuses.size() == 2);
  CHECK(batch.errors.size() == 1);
  CHECK(batch.skipped == 1);
}

TEST_CASE("ParseWebhook: unknown members are ignored", "[webhook_parser]") {
  std::string body = R"({"object":"whatsapp_business_account","extra":[1],
    "entry":[{"id":"1","future":{"a":1},"changes":[{"field":"messages",
    "value":{"messaging_product":"whatsapp","new_thing":true,
    "messages":[{"from":"1","id":"wamid.x","timestamp":1700000000,
    "type":"text","text":{"body":"b","extra":null},"identity":{"x":1}}]}}]}]})";
  WebhookBatch batch = Parse(body);
  REQUIRE(batch.messages.size() == 1);
  CHECK(batch.messages[0].message.timestamp_ms == 1700000000000);
  CHECK(batch.messages[0].raw_json.find("\"identity\"") != std::string::npos);
  // An entry without changes, an empty batch.
  CHECK(Parse(R"({"object":"whatsapp_business_account","entry":[{"id":"1"}]})")
            .messages.empty());
  CHECK(Parse(R"({"object":"whatsapp_business_account","entry":[]})")
            .messages.empty());
}

TEST_CASE(
    "ParseWebhook: a body that is not a WhatsApp Business Account object "
    "fails whole",
    "[webhook_parser]") {
  CHECK(ErrorOf("").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf("{\"object\":").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf("[]").find("not a JSON object") != std::string::npos);
  CHECK(ErrorOf(R"({"object":"page","entry":[]})").find("whatsapp_business") !=
        std::string::npos);
  CHECK(ErrorOf(R"({"entry":[]})").find("whatsapp_business") !=
        std::string::npos);
  CHECK(ErrorOf(R"({"object":"whatsapp_business_account"})").find("entry") !=
        std::string::npos);
  CHECK(ErrorOf(R"({"object":"whatsapp_business_account","entry":{}})")
            .find("entry") != std::string::npos);
}

// The one part `body` left out, as "part | error"; nothing else in it.
std::string MalformedOf(const std::string& body) {
  WebhookBatch batch = Parse(body);
  CHECK(batch.messages.empty());
  CHECK(batch.statuses.empty());
  CHECK(batch.errors.empty());
  REQUIRE(batch.malformed.size() == 1);
  return batch.malformed[0].part + " | " + batch.malformed[0].error;
}

TEST_CASE("ParseWebhook: each malformed part is named with what was wrong",
          "[webhook_parser]") {
  CHECK(MalformedOf(R"({"object":"whatsapp_business_account","entry":[1]})") ==
        "entry[0] | not an object");
  CHECK(MalformedOf(R"({"object":"whatsapp_business_account","entry":[
          {"changes":{}}]})") == "entry[0].changes | not an array");
  CHECK(MalformedOf(R"({"object":"whatsapp_business_account","entry":[
          {"changes":[{"field":"messages"}]}]})") ==
        "entry[0].changes[0] | value: missing");
  CHECK(MalformedOf(R"({"object":"whatsapp_business_account","entry":[
          {"changes":[{"value":{}}]}]})") ==
        "entry[0].changes[0] | field: missing or not a string");

  auto with_message = [](const std::string& message) {
    return R"({"object":"whatsapp_business_account","entry":[{"changes":[)"
           R"({"field":"messages","value":{"messages":[)" +
           message + "]}}]}]}";
  };
  const std::string m = "entry[0].changes[0].value.messages[0] | ";
  CHECK(MalformedOf(with_message(R"({"from":"1","timestamp":"1","type":"text",)"
                                 R"("text":{"body":"x"}})")) ==
        m + "id: missing");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":1,"timestamp":"1",)"
                                 R"("type":"text","text":{"body":"x"}})")) ==
        m + "from: not a string");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"soon",)"
                                 R"("type":"text","text":{"body":"x"}})")) ==
        m + "timestamp: not Unix seconds");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"-1",)"
                                 R"("type":"text","text":{"body":"x"}})")) ==
        m + "timestamp: out of range");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":)"
                                 R"("99999999999999999999","type":"text"})")) ==
        m + "timestamp: not Unix seconds");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                                 R"("type":"text"})")) == m + "text: missing");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                                 R"("type":"text","text":{}})")) ==
        m + "text.body: missing");
  CHECK(MalformedOf(
            with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                         R"("type":"image","image":{"mime_type":"x"}})")) ==
        m + "image.id: missing");
  CHECK(
      MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                               R"("type":"interactive","interactive":{}})")) ==
      m + "interactive.type: missing");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                                 R"("type":"interactive","interactive":)"
                                 R"({"type":"button_reply"}})")) ==
        m + "interactive.button_reply: missing");
  CHECK(MalformedOf(with_message(R"({"id":"w","from":"1","timestamp":"1",)"
                                 R"("type":"text","text":{"body":"x"},)"
                                 R"("context":"wamid"})")) ==
        m + "context: not an object");
  CHECK(MalformedOf(with_message("7")) == m + "not an object");

  std::string bad_status =
      R"({"object":"whatsapp_business_account","entry":[{"changes":[)"
      R"({"field":"messages","value":{"statuses":[{"id":"w","status":"failed",)"
      R"("timestamp":"1","errors":[{"code":"131026"}]}]}}]}]})";
  CHECK(MalformedOf(bad_status) ==
        "entry[0].changes[0].value.statuses[0] | "
        "errors[0].code: missing or not an integer");
  std::string bad_error =
      R"({"object":"whatsapp_business_account","entry":[{"changes":[)"
      R"({"field":"messages","value":{"errors":[{"title":"x"}]}}]}]})";
  CHECK(MalformedOf(bad_error) ==
        "entry[0].changes[0].value.errors[0] | "
        "code: missing or not an integer");
  std::string bad_metadata =
      R"({"object":"whatsapp_business_account","entry":[{"changes":[)"
      R"({"field":"messages","value":{"metadata":[]}}]}]})";
  CHECK(MalformedOf(bad_metadata) ==
        "entry[0].changes[0] | value.metadata: not an object");
  std::string bad_array =
      R"({"object":"whatsapp_business_account","entry":[{"changes":[)"
      R"({"field":"messages","value":{"statuses":{"id":"w"}}}]}]})";
  CHECK(MalformedOf(bad_array) ==
        "entry[0].changes[0].value.statuses | not an array");
}

TEST_CASE(
    "ParseWebhook: a malformed part is left out alone, the rest of the "
    "batch kept",
    "[webhook_parser]") {
  t::ChangeValue first;
  first.messages = {
      t::TextMessage(Header("wamid.1"), "one"),
      R"({"from":"1","id":"wamid.nobody","timestamp":"1","type":"text",)"
      R"("text":{}})",
      t::MediaMessage(Header("wamid.2"), "image", "m2", "image/png"),
      R"({"from":"1","id":"wamid.noid","timestamp":"1","type":"image",)"
      R"("image":{"mime_type":"image/png"}})",
      R"({"from":"1","id":"wamid.notype","timestamp":"1",)"
      R"("type":"interactive","interactive":{}})",
      t::TextMessage(Header("wamid.3"), "three"),
  };
  first.statuses = {
      t::StatusObject("wamid.s1", "delivered"),
      R"({"id":"wamid.s2","status":"failed","timestamp":"1",)"
      R"("errors":[{"code":"131026"}]})",
      t::StatusObject("wamid.s3", "read"),
  };
  first.errors = {R"({"title":"no code"})",
                  t::WebhookError({130429, "Rate limit hit", "x", ""})};
  t::ChangeValue second;
  second.messages = {t::TextMessage(Header("wamid.4"), "four")};
  const std::string no_value = R"({"field":"messages"})";
  std::string body = t::Webhook({t::Entry({t::Change(first), no_value}), "[]",
                                 t::Entry({t::Change(second)})});
  WebhookBatch batch = Parse(body);

  REQUIRE(batch.messages.size() == 4);
  CHECK(batch.messages[0].message.id == "wamid.1");
  CHECK(batch.messages[1].message.id == "wamid.2");
  CHECK(batch.messages[2].message.id == "wamid.3");
  CHECK(batch.messages[3].message.id == "wamid.4");
  REQUIRE(batch.statuses.size() == 2);
  CHECK(batch.statuses[0].update.provider_id == "wamid.s1");
  CHECK(batch.statuses[1].update.provider_id == "wamid.s3");
  REQUIRE(batch.errors.size() == 1);
  CHECK(batch.errors[0].code == 130429);

  std::vector<std::string> malformed;
  for (const MalformedWebhookPart& part : batch.malformed) {
    malformed.push_back(part.part + " | " + part.error);
  }
  CHECK(malformed ==
        std::vector<std::string>{
            "entry[0].changes[0].value.messages[1] | text.body: missing",
            "entry[0].changes[0].value.messages[3] | image.id: missing",
            "entry[0].changes[0].value.messages[4] | "
            "interactive.type: missing",
            "entry[0].changes[0].value.statuses[1] | "
            "errors[0].code: missing or not an integer",
            "entry[0].changes[0].value.errors[0] | "
            "code: missing or not an integer",
            "entry[0].changes[1] | value: missing",
            "entry[1] | not an object",
        });
}

TEST_CASE("ParseWebhook: a location's text is its name, else its address",
          "[webhook_parser]") {
  WebhookBatch batch = Parse(t::MessagesWebhook({
      t::LocationMessage(Header("wamid.L1"), 52.52, 13.405, "Office",
                         "Unter den Linden 1"),
      t::LocationMessage(Header("wamid.L2"), 52.52, 13.405, "",
                         "Unter den Linden 1"),
      t::LocationMessage(Header("wamid.L3"), 52.52, 13.405),
  }));
  REQUIRE(batch.messages.size() == 3);
  CHECK(batch.messages[0].type == "location");
  CHECK(batch.messages[0].message.text == "Office");
  CHECK(batch.messages[1].message.text == "Unter den Linden 1");
  CHECK(batch.messages[2].message.text.empty());
  CHECK(batch.messages[2].raw_json.find("\"latitude\":52.52") !=
        std::string::npos);
}

TEST_CASE("ParseWebhook: deep nesting and bad UTF-8 are refused",
          "[webhook_parser]") {
  CHECK(ErrorOf(std::string(4'000'000, '[')).find("nested deeper") !=
        std::string::npos);
  std::string deep = "{\"object\":\"whatsapp_business_account\",\"entry\":[" +
                     std::string(40, '[') + std::string(40, ']') + "]}";
  CHECK(ErrorOf(deep).find("nested deeper") != std::string::npos);
  // Exactly 32 levels are fine (and then fail on shape, not depth).
  std::string limit = "{\"object\":\"whatsapp_business_account\",\"entry\":[" +
                      std::string(30, '[') + std::string(30, ']') + "]}";
  CHECK(MalformedOf(limit) == "entry[0] | not an object");
  CHECK(ErrorOf(t::MessagesWebhook({t::TextMessage(Header("w"), "\xff\xfe")}))
            .find("not valid JSON") != std::string::npos);
}

TEST_CASE("SignatureHeader signs like the worker checks", "[webhook_parser]") {
  CHECK(t::SignatureHeader("Jefe", "what do ya want for nothing?") ==
        "sha256="
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace dynoguard::worker
