#include "worker/outbound/message_request.h"

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::worker {
namespace {

// The error of a refused body; fails the test when the body was accepted.
template <typename T>
RequestError ErrorOf(const Parsed<T>& parsed) {
  REQUIRE(std::holds_alternative<RequestError>(parsed));
  return std::get<RequestError>(parsed);
}

template <typename T>
T ValueOf(const Parsed<T>& parsed) {
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    FAIL("refused: " << error->field << ": " << error->message);
  }
  return std::get<T>(parsed);
}

std::string Repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

TEST_CASE("message request: a text message is accepted and '+' stripped",
          "[message_request]") {
  NewMessage m = ValueOf(ParseMessageRequest(
      R"({"to":"+15551234567","text":"hello","replyTo":"wamid.1",)"
      R"("idempotencyKey":"k-1","extra":{"ignored":true}})"));
  CHECK(m.to == "15551234567");
  CHECK(m.text == "hello");
  CHECK(m.template_json.empty());
  CHECK(m.reply_to == "wamid.1");
  CHECK(m.idempotency_key == "k-1");
}

TEST_CASE("message request: a body that is not a JSON object is invalid_json",
          "[message_request]") {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"text\"", "42",
                           R"({"to":"15551234567","text":"a"} trailing)"}) {
    INFO(body);
    RequestError error = ErrorOf(ParseMessageRequest(body));
    CHECK(error.code == "invalid_json");
    CHECK(error.field.empty());
  }
}

TEST_CASE("message request: invalid UTF-8 is invalid_json",
          "[message_request]") {
  RequestError error = ErrorOf(
      ParseMessageRequest("{\"to\":\"15551234567\",\"text\":\"\xff\"}"));
  CHECK(error.code == "invalid_json");
}

TEST_CASE("message request: a lone surrogate escape is invalid_field",
          "[message_request]") {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"to":"15551234567","text":"\udc00"})", "text"},
           Case{R"({"to":"15551234567","text":"ok","replyTo":"\udfff"})",
                "replyTo"},
           Case{R"({"to":"15551234567","text":"ok","idempotencyKey":"\udc00"})",
                "idempotencyKey"},
           Case{R"({"to":"15551234567","template":{"name":"t","language":"en",)"
                R"("components":[{"type":"body","text":"\udc00"}]}})",
                "template.components.0.text"},
           Case{R"({"to":"15551234567","text":"ok","extra":"\udc00"})",
                "extra"},
       }) {
    INFO(c.body);
    RequestError error = ErrorOf(ParseMessageRequest(c.body));
    CHECK(error.code == "invalid_field");
    CHECK(error.field == c.field);
    CHECK(error.message.find("UTF-8") != std::string::npos);
  }
  // A high surrogate without its low half RapidJSON itself refuses while
  // parsing: invalid_json, also a 400 that stores nothing.
  for (const char* body : {R"({"to":"15551234567","text":"a\ud800b"})",
                           R"({"to":"15551234567","text":"\ud83d"})",
                           R"({"to":"15551234567","text":"\ud83d\u0041"})"}) {
    INFO(body);
    RequestError error = ErrorOf(ParseMessageRequest(body));
    CHECK(error.code == "invalid_json");
    CHECK(error.message.find("surrogate") != std::string::npos);
  }
  RequestError inbound =
      ErrorOf(ParseInboundRequest(R"({"from":"15551234567","text":"\udc00"})"));
  CHECK(inbound.code == "invalid_field");
  CHECK(inbound.field == "text");
}

TEST_CASE("message request: a surrogate pair escape is one character",
          "[message_request]") {
  NewMessage m = ValueOf(
      ParseMessageRequest(R"({"to":"15551234567","text":"\ud83d\ude00"})"));
  CHECK(m.text == "\xF0\x9F\x98\x80");
}

TEST_CASE("message request: raw surrogate or overlong bytes are refused",
          "[message_request]") {
  for (const char* bytes : {"\xED\xB0\x80", "\xC0\xAF", "\xF4\x90\x80\x80"}) {
    Parsed<NewMessage> parsed = ParseMessageRequest(
        std::string("{\"to\":\"15551234567\",\"text\":\"") + bytes + "\"}");
    RequestError error = ErrorOf(parsed);
    CHECK((error.code == "invalid_json" || error.code == "invalid_field"));
  }
}

TEST_CASE("message request: 'to' must be 8-15 digits", "[message_request]") {
  for (const char* body :
       {R"({"text":"a"})", R"({"to":15551234567,"text":"a"})",
        R"({"to":"1234567","text":"a"})",
        R"({"to":"1234567890123456","text":"a"})",
        R"({"to":"+1 555 123 4567","text":"a"})",
        R"({"to":"++15551234567","text":"a"})",
        R"({"to":"1555abc4567","text":"a"})", R"({"to":null,"text":"a"})"}) {
    INFO(body);
    RequestError error = ErrorOf(ParseMessageRequest(body));
    CHECK(error.code == "invalid_field");
    CHECK(error.field == "to");
  }
  CHECK(ValueOf(ParseMessageRequest(R"({"to":"12345678","text":"a"})")).to ==
        "12345678");
  CHECK(ValueOf(ParseMessageRequest(R"({"to":"123456789012345","text":"a"})"))
            .to == "123456789012345");
}

TEST_CASE("message request: text must be a non-blank string",
          "[message_request]") {
  for (const char* body :
       {R"({"to":"15551234567","text":""})",
        R"({"to":"15551234567","text":"  \n"})",
        R"({"to":"15551234567","text":5})", R"({"to":"15551234567"})"}) {
    INFO(body);
    RequestError error = ErrorOf(ParseMessageRequest(body));
    CHECK(error.code == "invalid_field");
    CHECK(error.field == "text");
  }
}

TEST_CASE("message request: the text limit counts code points, not bytes",
          "[message_request]") {
  // "é" is two bytes: 4096 of them (8192 bytes) are allowed, 4097 are not.
  std::string ok =
      R"({"to":"15551234567","text":")" + Repeat("é", 4096) + "\"}";
  CHECK(Utf8Length(ValueOf(ParseMessageRequest(ok)).text) == 4096);
  std::string too_long =
      R"({"to":"15551234567","text":")" + Repeat("é", 4097) + "\"}";
  RequestError error = ErrorOf(ParseMessageRequest(too_long));
  CHECK(error.field == "text");
}

TEST_CASE("message request: exactly one of text and template",
          "[message_request]") {
  RequestError both = ErrorOf(ParseMessageRequest(
      R"({"to":"15551234567","text":"a","template":{"name":"t","language":"en"}})"));
  CHECK(both.code == "invalid_field");
  CHECK(both.field == "template");
}

TEST_CASE("message request: a template becomes Cloud API JSON",
          "[message_request]") {
  NewMessage with_string = ValueOf(ParseMessageRequest(
      R"({"to":"15551234567","template":{"name":"welcome","language":"en_US",)"
      R"("unknown":1}})"));
  CHECK(with_string.text.empty());
  CHECK(with_string.template_json ==
        R"({"name":"welcome","language":{"code":"en_US"}})");

  NewMessage with_object = ValueOf(ParseMessageRequest(
      R"({"to":"15551234567","template":{"name":"order",)"
      R"("language":{"code":"de","policy":"deterministic"},)"
      R"("components":[{"type":"body","parameters":[{"type":"text","text":"42"}]}]}})"));
  CHECK(
      with_object.template_json ==
      R"({"name":"order","language":{"code":"de","policy":"deterministic"},)"
      R"("components":[{"type":"body","parameters":[{"type":"text","text":"42"}]}]})");
}

TEST_CASE("message request: template fields are checked one by one",
          "[message_request]") {
  struct Case {
    const char* tmpl;
    const char* field;
  };
  for (Case c :
       {Case{R"("x")", "template"},
        Case{R"({"language":"en"})", "template.name"},
        Case{R"({"name":"","language":"en"})", "template.name"},
        Case{R"({"name":"t"})", "template.language"},
        Case{R"({"name":"t","language":""})", "template.language"},
        Case{R"({"name":"t","language":{"policy":"x"}})", "template.language"},
        Case{R"({"name":"t","language":"en","components":{}})",
             "template.components"}}) {
    INFO(c.tmpl);
    RequestError error = ErrorOf(ParseMessageRequest(
        std::string(R"({"to":"15551234567","template":)") + c.tmpl + "}"));
    CHECK(error.code == "invalid_field");
    CHECK(error.field == c.field);
  }
}

TEST_CASE("message request: replyTo and idempotencyKey limits",
          "[message_request]") {
  auto body = [](std::string_view field, std::string_view value) {
    return std::string(R"({"to":"15551234567","text":"a",")") +
           std::string(field) + "\":" + std::string(value) + "}";
  };
  CHECK(ErrorOf(ParseMessageRequest(body("replyTo", R"("")"))).field ==
        "replyTo");
  CHECK(ErrorOf(ParseMessageRequest(body("replyTo", "7"))).field == "replyTo");
  CHECK(ErrorOf(ParseMessageRequest(
                    body("replyTo", "\"" + Repeat("w", 257) + "\"")))
            .field == "replyTo");
  CHECK(ValueOf(ParseMessageRequest(
                    body("replyTo", "\"" + Repeat("w", 256) + "\"")))
            .reply_to.size() == 256);
  CHECK(ErrorOf(ParseMessageRequest(body("idempotencyKey", R"("")"))).field ==
        "idempotencyKey");
  CHECK(ErrorOf(ParseMessageRequest(
                    body("idempotencyKey", "\"" + Repeat("k", 129) + "\"")))
            .field == "idempotencyKey");
  CHECK(ValueOf(ParseMessageRequest(
                    body("idempotencyKey", "\"" + Repeat("k", 128) + "\"")))
            .idempotency_key.size() == 128);
  CHECK(ValueOf(ParseMessageRequest(body("idempotencyKey", "null")))
            .idempotency_key.empty());
}

TEST_CASE("inbound request: from and text are validated", "[message_request]") {
  InboundRequest in =
      ValueOf(ParseInboundRequest(R"({"from":"+4915112345678","text":"hi"})"));
  CHECK(in.from == "4915112345678");
  CHECK(in.text == "hi");
  CHECK(ErrorOf(ParseInboundRequest(R"({"text":"hi"})")).field == "from");
  CHECK(ErrorOf(ParseInboundRequest(R"({"from":"4915112345678"})")).field ==
        "text");
  CHECK(ErrorOf(ParseInboundRequest("[]")).code == "invalid_json");
}

TEST_CASE("fail request: count, code and an optional message",
          "[message_request]") {
  FailRequest fail = ValueOf(
      ParseFailRequest(R"({"count":2,"code":131000,"message":"boom"})"));
  CHECK(fail.count == 2);
  CHECK(fail.code == 131000);
  CHECK(fail.message == "boom");
  CHECK(ErrorOf(ParseFailRequest(R"({"code":1})")).field == "count");
  CHECK(ErrorOf(ParseFailRequest(R"({"count":0,"code":1})")).field == "count");
  CHECK(ErrorOf(ParseFailRequest(R"({"count":1,"code":"x"})")).field == "code");
}

TEST_CASE("JsonNestingDepth counts brackets outside strings",
          "[message_request]") {
  CHECK(JsonNestingDepth("") == 0);
  CHECK(JsonNestingDepth("42") == 0);
  CHECK(JsonNestingDepth(R"({"a":[1,{"b":[]}]})") == 4);
  CHECK(JsonNestingDepth(R"({"text":"[[[[{{{{"})") == 1);
  CHECK(JsonNestingDepth(R"({"text":"say \"[[[\" twice"})") == 1);
  CHECK(JsonNestingDepth("]]]][[") == 2);
}

TEST_CASE("a body nested too deep is invalid_json, not a crash",
          "[message_request]") {
  // Millions of levels would exhaust the stack of a recursive parser.
  std::string deep(4'000'000, '[');
  auto parsed = ParseMessageRequest(deep);
  auto* error = std::get_if<RequestError>(&parsed);
  REQUIRE(error != nullptr);
  CHECK(error->code == "invalid_json");
  CHECK(error->message == "body is nested deeper than 32 levels");

  std::string nested_template =
      R"({"to":"15551234567","template":{"name":"t","language":"en","components":)" +
      std::string(40, '[') + std::string(40, ']') + "}}";
  auto refused = ParseMessageRequest(nested_template);
  REQUIRE(std::get_if<RequestError>(&refused) != nullptr);
  CHECK(std::get<RequestError>(refused).code == "invalid_json");
}

}  // namespace
}  // namespace dynoguard::worker
