#include "worker/session/session_key.h"

#include <openssl/crypto.h>

#include <optional>
#include <string>

#include "worker/session/snapshot_base64.h"

namespace dynoguard::worker {
namespace {

constexpr std::string_view kExpected =
    "SESSION_ENCRYPTION_KEY: expected 32 bytes as 64 hex digits or base64, "
    "got ";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsHex(std::string_view text) {
  if (text.empty() || text.size() % 2 != 0) return false;
  for (char c : text) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

common::Status WrongSize(size_t bytes, std::string_view unit = "bytes") {
  return common::Status::InvalidArgument(
      std::string(kExpected) + std::to_string(bytes) + " " + std::string(unit));
}

}  // namespace

common::Result<SnapshotKey> ParseSnapshotKey(std::string_view text) {
  text = Trim(text);
  SnapshotKey key;
  if (IsHex(text)) {
    if (text.size() != 2 * key.bytes.size()) return WrongSize(text.size() / 2);
    for (size_t i = 0; i < key.bytes.size(); ++i) {
      key.bytes[i] = static_cast<unsigned char>(HexValue(text[2 * i]) * 16 +
                                                HexValue(text[2 * i + 1]));
    }
    return key;
  }
  std::optional<std::string> decoded =
      Base64Decode(text, /*url_safe_too=*/true, /*padding_optional=*/true);
  if (!decoded) {
    return WrongSize(text.size(), "characters that are neither hex nor base64");
  }
  const size_t size = decoded->size();
  if (size == key.bytes.size()) {
    for (size_t i = 0; i < size; ++i) {
      key.bytes[i] = static_cast<unsigned char>((*decoded)[i]);
    }
  }
  OPENSSL_cleanse(decoded->data(), decoded->size());
  if (size != key.bytes.size()) return WrongSize(size);
  return key;
}

}  // namespace dynoguard::worker
