#include "worker/inbound/sandbox_inbound.h"

#include <catch2/catch.hpp>
#include <string>
#include <variant>

#include "worker/inbound/cloud/webhook_parser.h"

namespace dynoguard::worker {
namespace {

SandboxInbound ValueOf(Parsed<SandboxInbound> parsed) {
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    FAIL("refused: " << error->field << ": " << error->message);
  }
  return std::get<SandboxInbound>(std::move(parsed));
}

RequestError ErrorOf(Parsed<SandboxInbound> parsed) {
  REQUIRE(std::holds_alternative<RequestError>(parsed));
  return std::get<RequestError>(std::move(parsed));
}

// The body the sandbox would store, read back by the webhook parser.
WebhookMessage RoundTrip(const SandboxInbound& in, int64_t now_ms) {
  auto batch = ParseWebhook(SandboxWebhookBody(in, "wamid.sbx.1", now_ms));
  REQUIRE(batch.ok());
  REQUIRE(batch->messages.size() == 1);
  return batch->messages[0];
}

TEST_CASE("sandbox inbound: a text becomes the webhook body Meta would send",
          "[inbound]") {
  SandboxInbound in =
      ValueOf(ParseSandboxInbound(R"({"from":"+4915112345678","text":"hi"})"));
  CHECK(in.from == "4915112345678");
  CHECK(in.type == "text");
  WebhookMessage m = RoundTrip(in, 1'700'000'000'123);
  CHECK(m.message.id == "wamid.sbx.1");
  CHECK(m.message.from == "4915112345678");
  CHECK(m.message.text == "hi");
  CHECK(m.message.timestamp_ms == 1'700'000'000'000);
  CHECK(m.type == "text");
  CHECK(m.phone_number_id == kSandboxPhoneNumberId);
  CHECK(m.raw_json.find(R"("text":{"body":"hi"})") != std::string::npos);
}

TEST_CASE("sandbox inbound: Cloud-shaped kinds and a reply context",
          "[inbound]") {
  SandboxInbound image = ValueOf(ParseSandboxInbound(
      R"({"from":"4915112345678","type":"image",)"
      R"("image":{"id":"media.1","mime_type":"image/png","caption":"look"},)"
      R"("context":{"id":"wamid.ours"}})"));
  WebhookMessage m = RoundTrip(image, 1000);
  CHECK(m.type == "image");
  REQUIRE(m.media.has_value());
  CHECK(m.media->id == "media.1");
  CHECK(m.media->mime_type == "image/png");
  CHECK(m.message.text == "look");
  CHECK(m.context_id == "wamid.ours");

  SandboxInbound text_object = ValueOf(ParseSandboxInbound(
      R"({"from":"4915112345678","type":"text","text":{"body":"obj"}})"));
  CHECK(RoundTrip(text_object, 1000).message.text == "obj");

  SandboxInbound location = ValueOf(
      ParseSandboxInbound(R"({"from":"4915112345678","type":"location",)"
                          R"("location":{"latitude":52.5,"longitude":13.4}})"));
  CHECK(RoundTrip(location, 1000).type == "location");
}

TEST_CASE("sandbox inbound: bad bodies are refused naming the field",
          "[inbound]") {
  CHECK(ErrorOf(ParseSandboxInbound(R"({"from":"x","text":"hi"})")).field ==
        "from");
  CHECK(ErrorOf(ParseSandboxInbound(R"({"from":"4915112345678"})")).field ==
        "text");
  CHECK(ErrorOf(ParseSandboxInbound("[1]")).code == "invalid_json");
  CHECK(ErrorOf(ParseSandboxInbound("{")).code == "invalid_json");
  CHECK(
      ErrorOf(ParseSandboxInbound(R"({"from":"4915112345678","type":"image"})"))
          .field == "image");
  // What the webhook parser would refuse is refused here, by its field.
  RequestError no_id = ErrorOf(ParseSandboxInbound(
      R"({"from":"4915112345678","type":"image","image":{"caption":"c"}})"));
  CHECK(no_id.code == "invalid_field");
  CHECK(no_id.field == "image.id");
  CHECK(ErrorOf(ParseSandboxInbound(
                    R"({"from":"4915112345678","type":"Image!","text":"x"})"))
            .field == "type");
  CHECK(ErrorOf(ParseSandboxInbound(
                    R"({"from":"4915112345678","text":"x","context":{}})"))
            .field == "context.id");
}

TEST_CASE("sandbox inbound: ids differ by time, nonce and sequence",
          "[inbound]") {
  const std::string a = SandboxMessageId(1000, 0xabcdef01, 1);
  CHECK(a.rfind("wamid.sbx", 0) == 0);
  CHECK(a != SandboxMessageId(1000, 0xabcdef01, 2));
  CHECK(a != SandboxMessageId(1000, 0x12345678, 1));
  CHECK(a != SandboxMessageId(1001, 0xabcdef01, 1));
}

}  // namespace
}  // namespace dynoguard::worker
