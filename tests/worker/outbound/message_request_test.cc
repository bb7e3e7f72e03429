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
          "[message-request]") {
  NewMessage m = ValueOf(ParseMessageRequest(
      R"({"to":"+15551234567","text":"hello","replyTo":"wamid.1",)"
      R"("idempotencyKey":"k-1","extra":{"ignored":true}})"));
  CHECK(m.to == "15551234567");
  CHECK(m.type == "text");
  CHECK(m.text == "hello");
  CHECK(m.content_json == R"({"body":"hello"})");
  CHECK(m.template_json.empty());
  CHECK(m.reply_to == "wamid.1");
  CHECK(m.idempotency_key == "k-1");
}

TEST_CASE("message request: a body that is not a JSON object is invalid_json",
          "[message-request]") {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"text\"", "42",
                           R"({"to":"15551234567","text":"a"} trailing)"}) {
    INFO(body);
    RequestError error = ErrorOf(ParseMessageRequest(body));
    CHECK(error.code == "invalid_json");
    CHECK(error.field.empty());
  }
}

TEST_CASE("message request: invalid UTF-8 is invalid_json",
          "[message-request]") {
  RequestError error = ErrorOf(
      ParseMessageRequest("{\"to\":\"15551234567\",\"text\":\"\xff\"}"));
  CHECK(error.code == "invalid_json");
}

TEST_CASE("message request: a lone surrogate escape is invalid_field",
          "[message-request]") {
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
                "template.components[0].text"},
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
          "[message-request]") {
  NewMessage m = ValueOf(
      ParseMessageRequest(R"({"to":"15551234567","text":"\ud83d\ude00"})"));
  CHECK(m.text == "\xF0\x9F\x98\x80");
}

TEST_CASE("message request: raw surrogate or overlong bytes are refused",
          "[message-request]") {
  for (const char* bytes : {"\xED\xB0\x80", "\xC0\xAF", "\xF4\x90\x80\x80"}) {
    Parsed<NewMessage> parsed = ParseMessageRequest(
        std::string("{\"to\":\"15551234567\",\"text\":\"") + bytes + "\"}");
    RequestError error = ErrorOf(parsed);
    CHECK((error.code == "invalid_json" || error.code == "invalid_field"));
  }
}

TEST_CASE("message request: 'to' must be 8-15 digits", "[message-request]") {
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
          "[message-request]") {
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
          "[message-request]") {
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
          "[message-request]") {
  RequestError both = ErrorOf(ParseMessageRequest(
      R"({"to":"15551234567","text":"a","template":{"name":"t","language":"en"}})"));
  CHECK(both.code == "invalid_field");
  CHECK(both.field == "template");
}

TEST_CASE("message request: a template becomes Cloud API JSON",
          "[message-request]") {
  NewMessage with_string = ValueOf(ParseMessageRequest(
      R"({"to":"15551234567","template":{"name":"welcome","language":"en_US",)"
      R"("unknown":1}})"));
  CHECK(with_string.text.empty());
  CHECK(with_string.type == "template");
  CHECK(with_string.template_json ==
        R"({"name":"welcome","language":{"code":"en_US"}})");
  CHECK(with_string.content_json == with_string.template_json);

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
          "[message-request]") {
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
          "[message-request]") {
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

TEST_CASE("inbound request: from and text are validated", "[message-request]") {
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
          "[message-request]") {
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
          "[message-request]") {
  CHECK(JsonNestingDepth("") == 0);
  CHECK(JsonNestingDepth("42") == 0);
  CHECK(JsonNestingDepth(R"({"a":[1,{"b":[]}]})") == 4);
  CHECK(JsonNestingDepth(R"({"text":"[[[[{{{{"})") == 1);
  CHECK(JsonNestingDepth(R"({"text":"say \"[[[\" twice"})") == 1);
  CHECK(JsonNestingDepth("]]]][[") == 2);
}

TEST_CASE("a body nested too deep is invalid_json, not a crash",
          "[message-request]") {
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

// ---------------------------------------------------------------------------
// Message kinds

// A body to 15551234567 with `members` (JSON members, without braces).
std::string Body(std::string_view members) {
  return R"({"to":"15551234567",)" + std::string(members) + "}";
}

NewMessage Accepted(std::string_view members) {
  return ValueOf(ParseMessageRequest(Body(members)));
}

// The field the body with `members` is refused for (invalid_field).
std::string RefusedField(std::string_view members) {
  RequestError error = ErrorOf(ParseMessageRequest(Body(members)));
  CHECK(error.code == "invalid_field");
  CHECK(!error.message.empty());
  return error.field;
}

// A JSON string literal of `count` copies of `piece`.
std::string Quoted(std::string_view piece, int count) {
  return "\"" + Repeat(piece, count) + "\"";
}

TEST_CASE("message request: the text shorthand and previewUrl",
          "[message-request]") {
  NewMessage plain = Accepted(R"("text":"see https://example.com")");
  CHECK(plain.type == "text");
  CHECK(plain.content_json == R"({"body":"see https://example.com"})");
  CHECK(plain.text == "see https://example.com");

  NewMessage preview =
      Accepted(R"("text":"see https://example.com","previewUrl":true)");
  CHECK(preview.content_json ==
        R"({"body":"see https://example.com","preview_url":true})");
  CHECK(Accepted(R"("text":"a","previewUrl":false)").content_json ==
        R"({"body":"a","preview_url":false})");
  CHECK(RefusedField(R"("text":"a","previewUrl":"yes")") == "previewUrl");
  CHECK(RefusedField(R"("text":{"body":"a"},"previewUrl":true)") ==
        "previewUrl");
}

TEST_CASE("message request: the Cloud text form", "[message-request]") {
  NewMessage m = Accepted(
      R"("type":"text","text":{ "body" : "hi there", "preview_url" : true })");
  CHECK(m.type == "text");
  CHECK(m.content_json == R"({"body":"hi there","preview_url":true})");
  CHECK(m.text == "hi there");
  CHECK(Accepted(R"("text":{"body":"no type"})").content_json ==
        R"({"body":"no type"})");
  CHECK(Accepted(R"("type":"text","text":"shorthand too")").content_json ==
        R"({"body":"shorthand too"})");

  CHECK(Accepted(R"("type":"text","text":{"body":)" + Quoted("é", 4096) + "}")
            .text.size() == 8192);
  CHECK(RefusedField(R"("type":"text","text":{"body":)" + Quoted("é", 4097) +
                     "}") == "text.body");
  CHECK(RefusedField(R"("type":"text","text":{})") == "text.body");
  CHECK(RefusedField(R"("type":"text","text":{"body":" "})") == "text.body");
  CHECK(RefusedField(R"("type":"text","text":{"body":7})") == "text.body");
  CHECK(RefusedField(R"("type":"text","text":{"body":"a","preview_url":1})") ==
        "text.preview_url");
  CHECK(RefusedField(R"("type":"text","text":[1])") == "text");
}

TEST_CASE("message request: type picks the kind, unknown types are listed",
          "[message-request]") {
  RequestError unknown =
      ErrorOf(ParseMessageRequest(Body(R"("type":"carousel","text":"a")")));
  CHECK(unknown.field == "type");
  CHECK(unknown.message ==
        "type must be one of: text, template, image, document, audio, video, "
        "sticker, reaction, location, contacts, interactive");
  CHECK(RefusedField(R"("type":7,"text":"a")") == "type");
  CHECK(RefusedField(R"("type":"IMAGE","image":{"id":"1"})") == "type");
  // The object of the declared type is required, and no other kind may ride
  // along.
  CHECK(RefusedField(R"("type":"image")") == "image");
  CHECK(RefusedField(R"("type":"image","text":"a")") == "text");
  CHECK(RefusedField(R"("type":"image","image":{"id":"1"},"text":"a")") ==
        "text");
  // Without a type: exactly one kind member.
  CHECK(RefusedField(R"("image":{"id":"1"},"video":{"id":"2"})") == "video");
  CHECK(RefusedField(R"("replyTo":"wamid.1")") == "text");
  CHECK(Accepted(R"("type":null,"image":{"id":"1"})").type == "image");
  NewMessage tmpl =
      Accepted(R"("type":"template","template":{"name":"t","language":"en"})");
  CHECK(tmpl.type == "template");
  CHECK(tmpl.content_json == R"({"name":"t","language":{"code":"en"}})");
  CHECK(tmpl.template_json == tmpl.content_json);
}

TEST_CASE("message request: media by link or id, content as given",
          "[message-request]") {
  NewMessage image =
      Accepted(R"("type":"image","image":{ "link":"https://example.com/a.jpg",)"
               R"( "caption":"look" })");
  CHECK(image.type == "image");
  CHECK(image.content_json ==
        R"({"link":"https://example.com/a.jpg","caption":"look"})");
  CHECK(image.text == "look");
  CHECK(image.template_json.empty());

  NewMessage document = Accepted(
      R"("document":{"id":"1013859600285441","filename":"invoice.pdf"})");
  CHECK(document.type == "document");
  CHECK(document.content_json ==
        R"({"id":"1013859600285441","filename":"invoice.pdf"})");
  CHECK(document.text == "invoice.pdf");  // no caption: the file name
  CHECK(Accepted(R"("document":{"id":"1","filename":"a.pdf","caption":"c"})")
            .text == "c");

  NewMessage audio = Accepted(R"("audio":{"link":"http://example.com/a.ogg"})");
  CHECK(audio.type == "audio");
  CHECK(audio.content_json == R"({"link":"http://example.com/a.ogg"})");
  CHECK(audio.text.empty());
  NewMessage video = Accepted(R"("video":{"id":"77","caption":"clip"})");
  CHECK(video.content_json == R"({"id":"77","caption":"clip"})");
  CHECK(video.text == "clip");
  NewMessage sticker = Accepted(R"("sticker":{"id":"42"})");
  CHECK(sticker.type == "sticker");
  CHECK(sticker.content_json == R"({"id":"42"})");
}

TEST_CASE("message request: media fields are checked one by one",
          "[message-request]") {
  struct Case {
    std::string members;
    const char* field;
  };
  for (const Case& c : {
           Case{R"("image":"https://example.com/a.jpg")", "image"},
           Case{R"("image":{})", "image"},
           Case{R"("image":{"caption":"only"})", "image"},
           Case{R"("image":{"link":"https://e.com/a","id":"1"})", "image"},
           Case{R"("image":{"link":5})", "image.link"},
           Case{R"("image":{"link":""})", "image.link"},
           Case{R"("image":{"link":"ftp://example.com/a.jpg"})", "image.link"},
           Case{R"("image":{"link":"example.com/a.jpg"})", "image.link"},
           Case{R"("image":{"link":"https://"})", "image.link"},
           Case{R"("image":{"link":"https://e.com/a b.jpg"})", "image.link"},
           Case{
               R"("image":{"link":"https://e.com/)" + Repeat("a", 2035) + "\"}",
               "image.link"},
           Case{R"("image":{"id":7})", "image.id"},
           Case{R"("image":{"id":)" + Quoted("1", 257) + "}", "image.id"},
           Case{R"("image":{"id":"1","caption":7})", "image.caption"},
           Case{R"("image":{"id":"1","caption":)" + Quoted("é", 1025) + "}",
                "image.caption"},
           Case{R"("video":{"id":"1","caption":)" + Quoted("c", 1025) + "}",
                "video.caption"},
           Case{R"("document":{"id":"1","caption":)" + Quoted("c", 1025) + "}",
                "document.caption"},
           Case{R"("audio":{"id":"1","caption":"no"})", "audio.caption"},
           Case{R"("sticker":{"id":"1","caption":"no"})", "sticker.caption"},
           Case{R"("image":{"id":"1","filename":"a.jpg"})", "image.filename"},
           Case{R"("document":{"id":"1","filename":3})", "document.filename"},
       }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
  // The limits themselves are fine.
  CHECK(Accepted(R"("image":{"id":"1","caption":)" + Quoted("é", 1024) + "}")
            .text.size() == 2048);
  CHECK(Accepted(R"("image":{"id":)" + Quoted("1", 256) + "}").type == "image");
  CHECK(
      Accepted(R"("image":{"link":"HTTPS://e.com/)" + Repeat("a", 2034) + "\"}")
          .type == "image");
}

TEST_CASE("message request: a reaction is one emoji or empty",
          "[message-request]") {
  NewMessage like = Accepted(
      R"("type":"reaction","reaction":{"message_id":"wamid.HBg1","emoji":"\ud83d\udc4d"})");
  CHECK(like.type == "reaction");
  CHECK(like.content_json ==
        "{\"message_id\":\"wamid.HBg1\",\"emoji\":\"\xF0\x9F\x91\x8D\"}");
  CHECK(like.text == "\xF0\x9F\x91\x8D");
  NewMessage removed =
      Accepted(R"("reaction":{"message_id":"wamid.HBg1","emoji":""})");
  CHECK(removed.content_json == R"({"message_id":"wamid.HBg1","emoji":""})");
  CHECK(removed.text.empty());

  struct Case {
    std::string members;
    const char* field;
  };
  for (
      const Case& c : {
          Case{R"("reaction":"x")", "reaction"},
          Case{R"("reaction":{"emoji":"x"})", "reaction.message_id"},
          Case{R"("reaction":{"message_id":"","emoji":""})",
               "reaction.message_id"},
          Case{R"("reaction":{"message_id":)" + Quoted("w", 257) +
                   R"(,"emoji":""})",
               "reaction.message_id"},
          Case{R"("reaction":{"message_id":"w"})", "reaction.emoji"},
          Case{R"("reaction":{"message_id":"w","emoji":1})", "reaction.emoji"},
          Case{R"("reaction":{"message_id":"w","emoji":"a"})",
               "reaction.emoji"},
          Case{
              R"("reaction":{"message_id":"w","emoji":"\ud83d\udc4d\ud83d\udc4d"})",
              "reaction.emoji"},
      }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
  CHECK(Accepted(R"("reaction":{"message_id":)" + Quoted("w", 256) +
                 R"(,"emoji":""})")
            .type == "reaction");
}

TEST_CASE("IsSingleEmoji: one emoji of any shape, nothing else",
          "[message-request]") {
  for (const char* emoji : {
           "\xF0\x9F\x91\x8D",                  // 👍
           "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // 👍🏽
           "\xE2\x9D\xA4\xEF\xB8\x8F",          // ❤️
           "\xE2\x9D\xA4",                      // ❤ (text style)
           "\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA",  // 🇩🇪
           "1\xEF\xB8\x8F\xE2\x83\xA3",         // 1️⃣
           "#\xE2\x83\xA3",                     // #⃣
           // 👨‍👩‍👧 (ZWJ family)
           "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F"
           "\x91\xA7",
           // 🏴󠁧󠁢󠁳󠁣󠁴󠁿 (a tag sequence: Scotland)
           "\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xB3"
           "\xF3\xA0\x81\xA3\xF3\xA0\x81\xB4\xF3\xA0\x81\xBF",
           "\xF0\x9F\xA5\xB3",  // 🥳
       }) {
    INFO(emoji);
    CHECK(IsSingleEmoji(emoji));
  }
  for (const char* not_one : {
           "", "a", "1", "ok", "\xC3\xA9",      // é
           "\xF0\x9F\x91\x8D\xF0\x9F\x91\x8D",  // 👍👍
           "\xF0\x9F\x91\x8D ",                 // trailing space
           "\xF0\x9F\x87\xA9",                  // a lone regional letter
           "\xF0\x9F\x87\xA9\xF0\x9F\x87\xAA\xF0\x9F\x87\xAA",  // 3 of them
           "\xF0\x9F\x91\xA8\xE2\x80\x8D",  // ZWJ with nothing after
           "\xE2\x80\x8D",                  // ZWJ alone
           "1\xEF\xB8\x8F",                 // 1 + VS16, no keycap
       }) {
    INFO(not_one);
    CHECK_FALSE(IsSingleEmoji(not_one));
  }
}

TEST_CASE("IsHttpUrl: absolute http(s) URLs only", "[message-request]") {
  CHECK(IsHttpUrl("https://example.com/a.jpg"));
  CHECK(IsHttpUrl("http://127.0.0.1:8080/x?y=1"));
  CHECK(IsHttpUrl("HTTPS://EXAMPLE.COM"));
  CHECK_FALSE(IsHttpUrl(""));
  CHECK_FALSE(IsHttpUrl("https://"));
  CHECK_FALSE(IsHttpUrl("https:///path"));
  CHECK_FALSE(IsHttpUrl("ftp://example.com"));
  CHECK_FALSE(IsHttpUrl("javascript:alert(1)"));
  CHECK_FALSE(IsHttpUrl("https://e.com/a\nb"));
  CHECK_FALSE(IsHttpUrl("https://e.com/a b"));
}

TEST_CASE("message request: a location within its ranges",
          "[message-request]") {
  NewMessage m =
      Accepted(R"("type":"location","location":{"latitude":52.520008,)"
               R"("longitude":-13.404954,"name":"Brandenburger Tor",)"
               R"("address":"Pariser Platz, Berlin"})");
  CHECK(m.type == "location");
  CHECK(m.content_json ==
        R"({"latitude":52.520008,"longitude":-13.404954,)"
        R"("name":"Brandenburger Tor","address":"Pariser Platz, Berlin"})");
  CHECK(m.text == "Brandenburger Tor");
  CHECK(Accepted(R"("location":{"latitude":0,"longitude":0,"address":"here"})")
            .text == "here");
  NewMessage bare = Accepted(R"("location":{"latitude":90,"longitude":180})");
  CHECK(bare.content_json == R"({"latitude":90,"longitude":180})");
  CHECK(bare.text.empty());
  CHECK(Accepted(R"("location":{"latitude":-90,"longitude":-180})").type ==
        "location");

  struct Case {
    const char* members;
    const char* field;
  };
  for (const Case& c : {
           Case{R"("location":[52,13])", "location"},
           Case{R"("location":{"longitude":13})", "location.latitude"},
           Case{R"("location":{"latitude":52})", "location.longitude"},
           Case{R"("location":{"latitude":"52","longitude":13})",
                "location.latitude"},
           Case{R"("location":{"latitude":90.000001,"longitude":13})",
                "location.latitude"},
           Case{R"("location":{"latitude":-90.5,"longitude":13})",
                "location.latitude"},
           Case{R"("location":{"latitude":52,"longitude":180.0001})",
                "location.longitude"},
           Case{R"("location":{"latitude":52,"longitude":-181})",
                "location.longitude"},
           Case{R"("location":{"latitude":52,"longitude":true})",
                "location.longitude"},
           Case{R"("location":{"latitude":52,"longitude":13,"name":5})",
                "location.name"},
           Case{R"("location":{"latitude":52,"longitude":13,"address":[]})",
                "location.address"},
       }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
}

TEST_CASE("message request: contacts, passed as given", "[message-request]") {
  NewMessage m = Accepted(
      R"("type":"contacts","contacts":[)"
      R"({"name":{"formatted_name":"Ada Lovelace","first_name":"Ada"},)"
      R"("phones":[{"phone":"+4915112345678","type":"CELL"}]},)"
      R"({"name":{"formatted_name":"Alan Turing"},)"
      R"("emails":[{"email":"alan@example.com"}]}])");
  CHECK(m.type == "contacts");
  CHECK(m.content_json ==
        R"([{"name":{"formatted_name":"Ada Lovelace","first_name":"Ada"},)"
        R"("phones":[{"phone":"+4915112345678","type":"CELL"}]},)"
        R"({"name":{"formatted_name":"Alan Turing"},)"
        R"("emails":[{"email":"alan@example.com"}]}])");
  CHECK(m.text == "Ada Lovelace, Alan Turing");

  struct Case {
    const char* members;
    const char* field;
  };
  for (const Case& c : {
           Case{R"("contacts":[])", "contacts"},
           Case{R"("contacts":{"name":{"formatted_name":"A"}})", "contacts"},
           Case{R"("contacts":[5])", "contacts[0]"},
           Case{R"("contacts":[{"phones":[]}])", "contacts[0].name"},
           Case{R"("contacts":[{"name":"Ada"}])", "contacts[0].name"},
           Case{R"("contacts":[{"name":{}}])",
                "contacts[0].name.formatted_name"},
           Case{R"("contacts":[{"name":{"formatted_name":" "}}])",
                "contacts[0].name.formatted_name"},
           Case{R"("contacts":[{"name":{"formatted_name":"A"}},)"
                R"({"name":{"formatted_name":7}}])",
                "contacts[1].name.formatted_name"},
       }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
}

// An interactive reply-buttons body with the given members of
// "interactive" (defaults for the rest).
std::string Buttons(std::string_view buttons,
                    std::string_view extra = R"("body":{"text":"Pick one"})") {
  return R"("type":"interactive","interactive":{"type":"button",)" +
         std::string(extra) + R"(,"action":{"buttons":[)" +
         std::string(buttons) + "]}}";
}

std::string Button(std::string_view id, std::string_view title) {
  return R"({"type":"reply","reply":{"id":")" + std::string(id) +
         R"(","title":")" + std::string(title) + "\"}}";
}

TEST_CASE("message request: interactive reply buttons", "[message-request]") {
  const std::string three = Button("yes", "Yes") + "," + Button("no", "No") +
                            "," + Button("later", "Later");
  NewMessage m = Accepted(Buttons(
      three,
      R"("header":{"type":"text","text":"Question"},)"
      R"("body":{"text":"Coming?"},"footer":{"text":"Reply by Friday"})"));
  CHECK(m.type == "interactive");
  CHECK(m.text == "Coming?");
  CHECK(
      m.content_json ==
      R"({"type":"button","header":{"type":"text","text":"Question"},)"
      R"("body":{"text":"Coming?"},"footer":{"text":"Reply by Friday"},)"
      R"("action":{"buttons":[{"type":"reply","reply":{"id":"yes","title":"Yes"}},)"
      R"({"type":"reply","reply":{"id":"no","title":"No"}},)"
      R"({"type":"reply","reply":{"id":"later","title":"Later"}}]}})");
  // One button, a media header, and each limit exactly.
  CHECK(Accepted(Buttons(Button(Repeat("i", 256), Repeat("é", 20)),
                         R"("header":{"type":"image","image":{"id":"5"}},)"
                         R"("body":{"text":)" +
                             Quoted("b", 1024) + R"(},"footer":{"text":)" +
                             Quoted("f", 60) + "}"))
            .type == "interactive");
  CHECK(Accepted(Buttons(Button("a", "A"),
                         R"("header":{"type":"text","text":)" +
                             Quoted("h", 60) + R"(},"body":{"text":"b"})"))
            .type == "interactive");
  CHECK(
      Accepted(Buttons(Button("a", "A"),
                       R"("header":{"type":"document","document":)"
                       R"({"link":"https://e.com/a.pdf","filename":"a.pdf"}},)"
                       R"("body":{"text":"b"})"))
          .type == "interactive");

  struct Case {
    std::string members;
    const char* field;
  };
  for (const Case& c : {
           Case{R"("interactive":"hi")", "interactive"},
           Case{R"("interactive":{"body":{"text":"b"},"action":{}})",
                "interactive.type"},
           Case{R"("interactive":{"type":"carousel","body":{"text":"b"}})",
                "interactive.type"},
           Case{R"("interactive":{"type":"button","action":{"buttons":[]}})",
                "interactive.body"},
           Case{R"("interactive":{"type":"button","body":{"text":"b"}})",
                "interactive.action"},
           Case{Buttons(Button("a", "A"), R"("body":{})"),
                "interactive.body.text"},
           Case{Buttons(Button("a", "A"), R"("body":{"text":""})"),
                "interactive.body.text"},
           Case{Buttons(Button("a", "A"),
                        R"("body":{"text":)" + Quoted("b", 1025) + "}"),
                "interactive.body.text"},
           Case{Buttons(""), "interactive.action.buttons"},
           Case{Buttons(three + "," + Button("d", "D")),
                "interactive.action.buttons"},
           Case{Buttons(Button("a", "A") + "," + Button("b", "B") + ",7"),
                "interactive.action.buttons[2]"},
           Case{Buttons(R"({"type":"url","reply":{"id":"a","title":"A"}})"),
                "interactive.action.buttons[0].type"},
           Case{Buttons(R"({"type":"reply"})"),
                "interactive.action.buttons[0].reply"},
           Case{Buttons(Button("", "A")),
                "interactive.action.buttons[0].reply.id"},
           Case{Buttons(Button(Repeat("i", 257), "A")),
                "interactive.action.buttons[0].reply.id"},
           Case{Buttons(Button("a", Repeat("t", 21))),
                "interactive.action.buttons[0].reply.title"},
           Case{Buttons(Button("a", "  ")),
                "interactive.action.buttons[0].reply.title"},
           Case{Buttons(Button("a", "A") + "," + Button("a", "B")),
                "interactive.action.buttons[1].reply.id"},
           Case{Buttons(Button("a", "Same") + "," + Button("b", "Same")),
                "interactive.action.buttons[1].reply.title"},
           Case{Buttons(Button("a", "A"), R"("header":{"type":"text","text":)" +
                                              Quoted("h", 61) +
                                              R"(},"body":{"text":"b"})"),
                "interactive.header.text"},
           Case{Buttons(Button("a", "A"),
                        R"("header":{"text":"h"},"body":{"text":"b"})"),
                "interactive.header.type"},
           Case{Buttons(Button("a", "A"),
                        R"("header":{"type":"sticker"},"body":{"text":"b"})"),
                "interactive.header.type"},
           Case{Buttons(Button("a", "A"),
                        R"("header":{"type":"image"},"body":{"text":"b"})"),
                "interactive.header.image"},
           Case{Buttons(Button("a", "A"),
                        R"("header":{"type":"image","image":{}},)"
                        R"("body":{"text":"b"})"),
                "interactive.header.image"},
           Case{Buttons(Button("a", "A"),
                        R"("header":{"type":"video","video":{"link":"x"}},)"
                        R"("body":{"text":"b"})"),
                "interactive.header.video.link"},
           Case{
               Buttons(Button("a", "A"), R"("header":"h","body":{"text":"b"})"),
               "interactive.header"},
           Case{Buttons(Button("a", "A"), R"("body":{"text":"b"},"footer":{})"),
                "interactive.footer.text"},
           Case{Buttons(Button("a", "A"),
                        R"("body":{"text":"b"},"footer":{"text":)" +
                            Quoted("f", 61) + "}"),
                "interactive.footer.text"},
       }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
}

// An interactive list body with `sections` (JSON array elements) and the
// given extra members of "interactive".
std::string List(std::string_view sections,
                 std::string_view button = R"("Choose")",
                 std::string_view extra = R"("body":{"text":"Menu"})") {
  return R"("type":"interactive","interactive":{"type":"list",)" +
         std::string(extra) + R"(,"action":{"button":)" + std::string(button) +
         R"(,"sections":[)" + std::string(sections) + "]}}";
}

std::string Row(std::string_view id, std::string_view title = "Row",
                std::string_view description = "") {
  std::string row = R"({"id":")" + std::string(id) + R"(","title":")" +
                    std::string(title) + "\"";
  if (!description.empty()) {
    row += R"(,"description":")" + std::string(description) + "\"";
  }
  return row + "}";
}

// A section of `rows` (JSON array elements), titled when `title` is given.
std::string Section(std::string_view rows, std::string_view title = "") {
  std::string section = "{";
  if (!title.empty()) section += R"("title":")" + std::string(title) + "\",";
  return section + R"("rows":[)" + std::string(rows) + "]}";
}

// `count` rows with ids prefix0, prefix1, …
std::string Rows(int count, std::string_view prefix) {
  std::string rows;
  for (int i = 0; i < count; ++i) {
    if (!rows.empty()) rows += ",";
    rows += Row(std::string(prefix) + std::to_string(i));
  }
  return rows;
}

TEST_CASE("message request: interactive lists", "[message-request]") {
  NewMessage m = Accepted(List(
      Section(Row("std", "Standard", "3-5 days") + "," + Row("exp", "Express"),
              "Shipping"),
      R"("Options")",
      R"("header":{"type":"text","text":"Delivery"},)"
      R"("body":{"text":"How fast?"},"footer":{"text":"Prices incl. VAT"})"));
  CHECK(m.type == "interactive");
  CHECK(m.text == "How fast?");
  CHECK(m.content_json ==
        R"({"type":"list","header":{"type":"text","text":"Delivery"},)"
        R"("body":{"text":"How fast?"},"footer":{"text":"Prices incl. VAT"},)"
        R"("action":{"button":"Options","sections":[{"title":"Shipping",)"
        R"("rows":[{"id":"std","title":"Standard","description":"3-5 days"},)"
        R"({"id":"exp","title":"Express"}]}]}})");

  // The limits exactly: one untitled section with 10 rows; 10 titled
  // sections of one row; the longest strings.
  CHECK(Accepted(List(Section(Rows(10, "r")))).type == "interactive");
  std::string ten_sections;
  for (int i = 0; i < 10; ++i) {
    if (!ten_sections.empty()) ten_sections += ",";
    ten_sections +=
        Section(Row("r" + std::to_string(i)), Repeat("s", 23) + "x");
  }
  CHECK(Accepted(List(ten_sections)).type == "interactive");
  CHECK(
      Accepted(
          List(Section(Row(Repeat("i", 200), Repeat("é", 24), Repeat("d", 72)),
                       Repeat("t", 24)),
               Quoted("b", 20), R"("body":{"text":)" + Quoted("é", 4096) + "}"))
          .text.size() == 8192);

  std::string eleven_sections;
  for (int i = 0; i < 11; ++i) {
    if (!eleven_sections.empty()) eleven_sections += ",";
    eleven_sections += Section(Row("r" + std::to_string(i)), "S");
  }
  struct Case {
    std::string members;
    const char* field;
  };
  for (const Case& c : {
           Case{List(Section(Row("a")), "7"), "interactive.action.button"},
           Case{List(Section(Row("a")), Quoted("b", 21)),
                "interactive.action.button"},
           Case{List(Section(Row("a")), R"("")"), "interactive.action.button"},
           Case{List(""), "interactive.action.sections"},
           Case{List(eleven_sections), "interactive.action.sections"},
           Case{List("5"), "interactive.action.sections[0]"},
           Case{List(Section(Rows(6, "a"), "A") + "," +
                     Section(Rows(5, "b"), "B")),
                "interactive.action.sections[1].rows[4]"},
           Case{List(Section(Rows(11, "r"))),
                "interactive.action.sections[0].rows[10]"},
           Case{List(R"({"title":"T"})"),
                "interactive.action.sections[0].rows"},
           Case{List(R"({"rows":[]})"), "interactive.action.sections[0].rows"},
           Case{List(Section("7")), "interactive.action.sections[0].rows[0]"},
           Case{List(Section(Row("a")) + "," + Section(Row("b"), "B")),
                "interactive.action.sections[0].title"},
           Case{List(Section(Row("a"), Repeat("t", 25))),
                "interactive.action.sections[0].title"},
           Case{List(Section(R"({"title":"T"})")),
                "interactive.action.sections[0].rows[0].id"},
           Case{List(Section(Row(Repeat("i", 201)))),
                "interactive.action.sections[0].rows[0].id"},
           Case{List(Section(Row("a", Repeat("t", 25)))),
                "interactive.action.sections[0].rows[0].title"},
           Case{List(Section(R"({"id":"a"})")),
                "interactive.action.sections[0].rows[0].title"},
           Case{List(Section(Row("a", "T", Repeat("d", 73)))),
                "interactive.action.sections[0].rows[0].description"},
           Case{List(Section(Row("a") + "," + Row("a"))),
                "interactive.action.sections[0].rows[1].id"},
           Case{List(Section(Row("a"), "A") + "," + Section(Row("a"), "B")),
                "interactive.action.sections[1].rows[0].id"},
           Case{List(Section(Row("a")), R"("B")",
                     R"("body":{"text":)" + Quoted("b", 4097) + "}"),
                "interactive.body.text"},
           Case{List(Section(Row("a")), R"("B")",
                     R"("header":{"type":"image","image":{"id":"1"}},)"
                     R"("body":{"text":"b"})"),
                "interactive.header.type"},
           Case{R"("interactive":{"type":"list","body":{"text":"b"},)"
                R"("action":{"button":"B"}})",
                "interactive.action.sections"},
       }) {
    INFO(c.members);
    CHECK(RefusedField(c.members) == c.field);
  }
}

TEST_CASE("message request: replyTo or context.message_id",
          "[message-request]") {
  CHECK(Accepted(R"("text":"a","context":{"message_id":"wamid.9"})").reply_to ==
        "wamid.9");
  CHECK(Accepted(R"("text":"a","replyTo":"wamid.9",)"
                 R"("context":{"message_id":"wamid.9"})")
            .reply_to == "wamid.9");
  CHECK(Accepted(R"("image":{"id":"1"},"replyTo":"wamid.8")").reply_to ==
        "wamid.8");
  CHECK(RefusedField(R"("text":"a","replyTo":"wamid.8",)"
                     R"("context":{"message_id":"wamid.9"})") ==
        "context.message_id");
  CHECK(RefusedField(R"("text":"a","context":"wamid.9")") == "context");
  CHECK(RefusedField(R"("text":"a","context":{})") == "context.message_id");
  CHECK(RefusedField(R"("text":"a","context":{"message_id":5})") ==
        "context.message_id");
  CHECK(RefusedField(R"("text":"a","context":{"message_id":)" +
                     Quoted("w", 257) + "}") == "context.message_id");
}

TEST_CASE("message request: the idempotency key rides along with every kind",
          "[message-request]") {
  NewMessage m = Accepted(R"("sticker":{"id":"1"},"idempotencyKey":"order-7")");
  CHECK(m.idempotency_key == "order-7");
  CHECK(m.type == "sticker");
}

}  // namespace
}  // namespace dynoguard::worker
