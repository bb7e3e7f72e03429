#include "worker/inbound/cloud/webhook_signature.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>

namespace dynoguard::worker {
namespace {

constexpr std::string_view kSecret = "app-secret-123";
constexpr std::string_view kBody =
    R"({"object":"whatsapp_business_account","entry":[]})";

TEST_CASE("WebhookSignature matches RFC 4231's HMAC-SHA256 vector",
          "[webhook_signature]") {
  CHECK(WebhookSignature("Jefe", "what do ya want for nothing?") ==
        "sha256="
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("VerifyWebhookSignature accepts the body's own signature",
          "[webhook_signature]") {
  CHECK(VerifyWebhookSignature(kSecret, kBody,
                               WebhookSignature(kSecret, kBody)) ==
        SignatureCheck::kValid);
  CHECK(VerifyWebhookSignature(kSecret, "", WebhookSignature(kSecret, "")) ==
        SignatureCheck::kValid);
  CHECK(VerifyWebhookSignature(kSecret, kBody,
                               " " + WebhookSignature(kSecret, kBody) + "\t") ==
        SignatureCheck::kValid);
}

TEST_CASE("VerifyWebhookSignature accepts uppercase hex digits",
          "[webhook_signature]") {
  std::string header = WebhookSignature(kSecret, kBody);
  std::transform(header.begin() + 7, header.end(), header.begin() + 7,
                 [](unsigned char c) { return std::toupper(c); });
  CHECK(VerifyWebhookSignature(kSecret, kBody, header) ==
        SignatureCheck::kValid);
}

TEST_CASE("VerifyWebhookSignature: missing header", "[webhook_signature]") {
  CHECK(VerifyWebhookSignature(kSecret, kBody, "") == SignatureCheck::kMissing);
  CHECK(VerifyWebhookSignature(kSecret, kBody, "  ") ==
        SignatureCheck::kMissing);
}

TEST_CASE("VerifyWebhookSignature: a body changed by one byte mismatches",
          "[webhook_signature]") {
  std::string header = WebhookSignature(kSecret, kBody);
  std::string changed(kBody);
  changed[10] ^= 0x01;
  CHECK(VerifyWebhookSignature(kSecret, changed, header) ==
        SignatureCheck::kMismatch);
  CHECK(VerifyWebhookSignature(kSecret, std::string(kBody) + " ", header) ==
        SignatureCheck::kMismatch);
  CHECK(VerifyWebhookSignature(kSecret, kBody.substr(1), header) ==
        SignatureCheck::kMismatch);
}

TEST_CASE("VerifyWebhookSignature: a bad signature or secret mismatches",
          "[webhook_signature]") {
  std::string header = WebhookSignature(kSecret, kBody);
  std::string flipped = header;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  CHECK(VerifyWebhookSignature(kSecret, kBody, flipped) ==
        SignatureCheck::kMismatch);
  CHECK(VerifyWebhookSignature("other-secret", kBody, header) ==
        SignatureCheck::kMismatch);
  CHECK(VerifyWebhookSignature("", kBody, WebhookSignature("", kBody)) ==
        SignatureCheck::kMismatch);
  CHECK(VerifyWebhookSignature(kSecret, kBody,
                               "sha256=" + std::string(64, '0')) ==
        SignatureCheck::kMismatch);
}

TEST_CASE("VerifyWebhookSignature: wrong prefix or shape is malformed",
          "[webhook_signature]") {
  std::string hex = WebhookSignature(kSecret, kBody).substr(7);
  for (std::string header :
       {"sha1=" + hex, "SHA256=" + hex, "sha256:" + hex, hex,
        std::string("sha256="), "sha256=" + hex.substr(1),
        "sha256=" + hex + "0", "sha256=" + hex.substr(0, 63) + "g",
        "sha256= " + hex.substr(1),
        std::string("sha256=") + std::string(64, '\0')}) {
    INFO("header " << header);
    CHECK(VerifyWebhookSignature(kSecret, kBody, header) ==
          SignatureCheck::kMalformed);
  }
  CHECK(ToString(SignatureCheck::kMalformed) == "malformed");
  CHECK(ToString(SignatureCheck::kMissing) == "missing");
}

}  // namespace
}  // namespace dynoguard::worker
