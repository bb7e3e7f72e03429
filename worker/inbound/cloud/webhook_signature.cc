#include "worker/inbound/cloud/webhook_signature.h"

#include <openssl/crypto.h>

#include <cstdint>
#include <optional>

#include "worker/crypto/digest.h"

namespace dynoguard::worker {

namespace {

constexpr std::string_view kPrefix = "sha256=";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

std::string_view ToString(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kMissing:
      return "missing";
    case SignatureCheck::kMalformed:
      return "malformed";
    case SignatureCheck::kMismatch:
      return "mismatch";
  }
  return "mismatch";
}

SignatureCheck VerifyWebhookSignature(std::string_view app_secret,
                                      std::string_view body,
                                      std::string_view header) {
  header = Trim(header);
  if (header.empty()) return SignatureCheck::kMissing;
  if (!header.starts_with(kPrefix) ||
      header.size() != kPrefix.size() + 2 * kSha256Bytes) {
    return SignatureCheck::kMalformed;
  }
  std::string_view hex = header.substr(kPrefix.size());
  Sha256Digest claimed{};
  for (size_t i = 0; i < kSha256Bytes; ++i) {
    int high = HexValue(hex[2 * i]);
    int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return SignatureCheck::kMalformed;
    claimed[i] = static_cast<unsigned char>(high << 4 | low);
  }
  if (app_secret.empty()) return SignatureCheck::kMismatch;
  std::optional<Sha256Digest> expected = HmacSha256(app_secret, body);
  if (!expected) return SignatureCheck::kMismatch;
  return CRYPTO_memcmp(expected->data(), claimed.data(), kSha256Bytes) == 0
             ? SignatureCheck::kValid
             : SignatureCheck::kMismatch;
}

std::string WebhookSignature(std::string_view app_secret,
                             std::string_view body) {
  std::string out(kPrefix);
  std::optional<Sha256Digest> digest = HmacSha256(app_secret, body);
  if (digest) out += HexLower(*digest);
  return out;
}

}  // namespace dynoguard::worker
