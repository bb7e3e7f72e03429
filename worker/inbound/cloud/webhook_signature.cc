#include "worker/inbound/cloud/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <optional>

namespace dynoguard::worker {

namespace {

constexpr std::string_view kPrefix = "sha256=";
constexpr size_t kDigestBytes = 32;  // SHA-256
using Digest = std::array<unsigned char, kDigestBytes>;

// HMAC-SHA256; nullopt only if OpenSSL fails (out of memory).
std::optional<Digest> Hmac(std::string_view key, std::string_view body) {
  Digest digest{};
  unsigned int length = 0;
  // A zero-length key is legal for HMAC, but OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* key_data =
      key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  const unsigned char* body_data =
      body.empty() ? &kEmpty
                   : reinterpret_cast<const unsigned char*>(body.data());
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), body_data,
           body.size(), digest.data(), &length) == nullptr ||
      length != kDigestBytes) {
    return std::nullopt;
  }
  return digest;
}

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
      header.size() != kPrefix.size() + 2 * kDigestBytes) {
    return SignatureCheck::kMalformed;
  }
  std::string_view hex = header.substr(kPrefix.size());
  Digest claimed{};
  for (size_t i = 0; i < kDigestBytes; ++i) {
    int high = HexValue(hex[2 * i]);
    int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return SignatureCheck::kMalformed;
    claimed[i] = static_cast<unsigned char>(high << 4 | low);
  }
  if (app_secret.empty()) return SignatureCheck::kMismatch;
  std::optional<Digest> expected = Hmac(app_secret, body);
  if (!expected) return SignatureCheck::kMismatch;
  return CRYPTO_memcmp(expected->data(), claimed.data(), kDigestBytes) == 0
             ? SignatureCheck::kValid
             : SignatureCheck::kMismatch;
}

std::string WebhookSignature(std::string_view app_secret,
                             std::string_view body) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kPrefix);
  std::optional<Digest> digest = Hmac(app_secret, body);
  if (!digest) return out;
  for (unsigned char byte : *digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0f];
  }
  return out;
}

}  // namespace dynoguard::worker
