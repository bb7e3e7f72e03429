#include "worker/http/body_limit.h"

#include <catch2/catch.hpp>
#include <string>

#include "worker/outbound/message_request.h"

namespace dynoguard::worker {
namespace {

TEST_CASE("body limit: /api/messages fits the largest valid message",
          "[body_limit]") {
  CHECK(BodyLimitFor(16384, "POST", "/api/messages") == kMessageBodyBytes);
  CHECK(BodyLimitFor(16384, "POST", "/api/messages?x=1") == kMessageBodyBytes);
  CHECK(BodyLimitFor(1 << 20, "POST", "/api/messages") == 1 << 20);
  CHECK(LargestBodyLimit(16384) == kWebhookBodyBytes);
  CHECK(LargestBodyLimit(2 << 20) == kWebhookBodyBytes);
  CHECK(LargestBodyLimit(4 << 20) == 4 << 20);

  // 4,096 astral characters as surrogate-pair escapes, the longest replyTo
  // and idempotencyKey escaped: still under the limit, and valid.
  std::string text;
  for (size_t i = 0; i < kMaxTextCodePoints; ++i) text += "\\ud83d\\ude00";
  std::string reply, key;
  for (size_t i = 0; i < kMaxReplyToLength; ++i) reply += "\\u0041";
  for (size_t i = 0; i < kMaxIdempotencyKeyLength; ++i) key += "\\u0041";
  const std::string body = R"({"to":"+123456789012345","text":")" + text +
                           R"(","replyTo":")" + reply +
                           R"(","idempotencyKey":")" + key + R"("})";
  CHECK(body.size() <= kMessageBodyBytes);
  CHECK(std::holds_alternative<NewMessage>(ParseMessageRequest(body)));
}

TEST_CASE("body limit: POST /webhook takes Meta's 3 MB payloads",
          "[body_limit]") {
  CHECK(kWebhookBodyBytes == 3 * 1024 * 1024);
  CHECK(BodyLimitFor(16384, "POST", "/webhook") == kWebhookBodyBytes);
  CHECK(BodyLimitFor(16384, "POST", "/webhook?x=1") == kWebhookBodyBytes);
  CHECK(BodyLimitFor(4 << 20, "POST", "/webhook") == 4 << 20);
  CHECK(BodyLimitFor(16384, "GET", "/webhook") == 16384);
}

TEST_CASE("body limit: other routes keep MAX_BODY_BYTES", "[body_limit]") {
  CHECK(BodyLimitFor(16384, "GET", "/api/messages") == 16384);
  CHECK(BodyLimitFor(16384, "POST", "/api/messages/abc") == 16384);
  CHECK(BodyLimitFor(16384, "POST", "/health") == 16384);
  CHECK(BodyLimitFor(16384, "POST", "/api/sandbox/inbound") == 16384);
}

}  // namespace
}  // namespace dynoguard::worker
