#include "worker/transport/cloud/cloud_request_builder.h"

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/graph_api_server.h"

namespace dynoguard::worker {
namespace {

SendRequest Request(std::string type, std::string content_json) {
  SendRequest request;
  request.message_id = "msg_1";
  request.to = "15551234567";
  request.type = std::move(type);
  request.content_json = std::move(content_json);
  return request;
}

std::string Head(std::string_view type) {
  return R"({"messaging_product":"whatsapp","recipient_type":"individual",)"
         R"("to":"15551234567","type":")" +
         std::string(type) + "\",";
}

TEST_CASE("BuildSendBody builds every message kind as the Cloud API takes it",
          "[cloud-request-builder]") {
  struct Case {
    std::string type;
    std::string content;
  };
  const Case cases[] = {
      {"text", R"({"body":"hi https://example.com","preview_url":true})"},
      {"template",
       R"({"name":"hello_world","language":{"code":"en_US"},"components":[)"
       R"({"type":"body","parameters":[{"type":"text","text":"Ann"}]}]})"},
      {"image", R"({"link":"https://example.com/a.jpg","caption":"look"})"},
      {"image", R"({"id":"1003383421387256"})"},
      {"document",
       R"({"link":"https://example.com/a.pdf","caption":"c","filename":"a.pdf"})"},
      {"document", R"({"id":"42","filename":"report.pdf"})"},
      {"audio", R"({"id":"43"})"},
      {"audio", R"({"link":"https://example.com/a.ogg"})"},
      {"video", R"({"link":"https://example.com/a.mp4","caption":"v"})"},
      {"video", R"({"id":"44"})"},
      {"sticker", R"({"id":"45"})"},
      {"sticker", R"({"link":"https://example.com/s.webp"})"},
      {"reaction", R"({"message_id":"wamid.ABC","emoji":"👍"})"},
      {"reaction", R"({"message_id":"wamid.ABC","emoji":""})"},
      {"location",
       R"({"latitude":52.52,"longitude":13.405,"name":"Berlin","address":"Mitte"})"},
      {"contacts",
       R"([{"name":{"formatted_name":"Ann Lee","first_name":"Ann"},)"
       R"("phones":[{"phone":"+1 555 0100","type":"CELL"}]}])"},
      {"interactive",
       R"({"type":"button","body":{"text":"Pick"},"action":{"buttons":[)"
       R"({"type":"reply","reply":{"id":"y","title":"Yes"}},)"
       R"({"type":"reply","reply":{"id":"n","title":"No"}}]}})"},
      {"interactive",
       R"({"type":"list","header":{"type":"text","text":"Menu"},)"
       R"("body":{"text":"Choose"},"footer":{"text":"f"},"action":{)"
       R"("button":"Options","sections":[{"title":"S1","rows":[)"
       R"({"id":"r1","title":"Row 1","description":"d"}]},)"
       R"({"title":"S2","rows":[{"id":"r2","title":"Row 2"}]}]}})"},
  };
  for (const Case& c : cases) {
    INFO(c.type << " " << c.content);
    auto body = BuildSendBody(Request(c.type, c.content));
    REQUIRE(body.ok());
    // The content goes through as given (already compact here).
    CHECK(*body == Head(c.type) + "\"" + c.type + "\":" + c.content + "}");
    CHECK(testing::ValidateSendRequest(*body) == "");
  }
}

TEST_CASE("BuildSendBody adds the reply context and compacts the content",
          "[cloud-request-builder]") {
  SendRequest request = Request("text", "{ \"body\" : \"yes\" }");
  request.reply_to = "wamid.HBgL123";
  auto body = BuildSendBody(request);
  REQUIRE(body.ok());
  CHECK(*body == Head("text") +
                     R"("text":{"body":"yes"},"context":{"message_id":)"
                     R"("wamid.HBgL123"}})");
  CHECK(testing::ValidateSendRequest(*body) == "");
}

TEST_CASE("BuildSendBody builds older records without content_json",
          "[cloud-request-builder]") {
  SendRequest text = Request("text", "");
  text.text = "hello \"you\"";
  auto body = BuildSendBody(text);
  REQUIRE(body.ok());
  CHECK(*body == Head("text") + R"("text":{"body":"hello \"you\""}})");

  // type empty (before message kinds) or left at "text", template set.
  for (std::string type : {"", "text", "template"}) {
    SendRequest tmpl = Request(type, "");
    tmpl.template_json = R"({"name":"hello_world","language":{"code":"en"}})";
    auto built = BuildSendBody(tmpl);
    INFO("type '" << type << "'");
    REQUIRE(built.ok());
    CHECK(*built ==
          Head("template") + R"("template":)" + tmpl.template_json + "}");
    CHECK(testing::ValidateSendRequest(*built) == "");
  }

  SendRequest empty_type = Request("", "");
  empty_type.text = "plain";
  REQUIRE(BuildSendBody(empty_type).ok());
  CHECK(*BuildSendBody(empty_type) ==
        Head("text") + R"("text":{"body":"plain"}})");
}

TEST_CASE("BuildSendBody refuses what cannot be sent, naming the field",
          "[cloud-request-builder]") {
  struct Case {
    SendRequest request;
    std::string message;
  };
  SendRequest no_to = Request("text", R"({"body":"x"})");
  no_to.to.clear();
  SendRequest old_template = Request("template", "");
  old_template.template_json = "[1]";
  const Case cases[] = {
      {no_to, "to: missing"},
      {Request("fax", "{}"), "type: unknown \"fax\""},
      {Request("text", "{\"body\":"), "content_json: not valid JSON"},
      {Request("image", "[]"), "content_json: not an object"},
      {Request("contacts", R"({"name":{}})"), "content_json: not an array"},
      {Request("image", ""), "content_json: missing for type image"},
      {Request("text", ""), "text: empty"},
      {Request("template", ""), "template_json: missing"},
      {old_template, "template_json: not an object"},
      {Request("text", std::string(100000, '[')),
       "content_json: not valid JSON"},
  };
  for (const Case& c : cases) {
    INFO(c.message);
    auto body = BuildSendBody(c.request);
    REQUIRE_FALSE(body.ok());
    CHECK(body.status().code() == common::Status::Code::kInvalidArgument);
    CHECK(body.status().message() == c.message);
  }
}

TEST_CASE("BuildMarkReadBody marks read, with the typing indicator on request",
          "[cloud-request-builder]") {
  CHECK(BuildMarkReadBody("wamid.X", false) ==
        R"({"messaging_product":"whatsapp","status":"read",)"
        R"("message_id":"wamid.X"})");
  CHECK(BuildMarkReadBody("wamid.X", true) ==
        R"({"messaging_product":"whatsapp","status":"read",)"
        R"("message_id":"wamid.X","typing_indicator":{"type":"text"}})");
}

}  // namespace
}  // namespace dynoguard::worker
