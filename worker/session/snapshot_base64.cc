#include "worker/session/snapshot_base64.h"

#include <openssl/evp.h>

#include <climits>

namespace dynoguard::worker {
namespace {

// The 6-bit value of a standard-alphabet character, or -1.
int StandardValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  if (bytes.empty()) return out;
  // EVP_EncodeBlock takes an int length; a snapshot is capped far below.
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  out.resize(written > 0 ? static_cast<size_t>(written) : 0);
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text,
                                        bool url_safe_too,
                                        bool padding_optional) {
  // Strip the padding, remembering how much there was.
  size_t data_len = text.size();
  while (data_len > 0 && text[data_len - 1] == '=' &&
         text.size() - data_len < 2) {
    --data_len;
  }
  const size_t pad = text.size() - data_len;
  if (pad == 0 && !padding_optional && text.size() % 4 != 0) {
    return std::nullopt;
  }
  if (pad > 0 && text.size() % 4 != 0) return std::nullopt;
  if (data_len % 4 == 1) return std::nullopt;
  if (pad > 0 && (data_len + pad) % 4 != 0) return std::nullopt;
  if (data_len > static_cast<size_t>(INT_MAX / 2)) return std::nullopt;

  // One alphabet per text: normalize URL-safe to standard.
  std::string normalized(text.substr(0, data_len));
  bool saw_standard = false;
  bool saw_url = false;
  for (char& c : normalized) {
    if (c == '+' || c == '/') {
      saw_standard = true;
    } else if (url_safe_too && (c == '-' || c == '_')) {
      saw_url = true;
      c = c == '-' ? '+' : '/';
    } else if (StandardValue(c) < 0) {
      return std::nullopt;
    }
  }
  if (saw_standard && saw_url) return std::nullopt;
  // Canonical only: the bits past the last byte must be zero.
  if (data_len > 0) {
    const int last = StandardValue(normalized.back());
    if (data_len % 4 == 2 && (last & 0x0f) != 0) return std::nullopt;
    if (data_len % 4 == 3 && (last & 0x03) != 0) return std::nullopt;
  }
  const size_t missing = (4 - data_len % 4) % 4;
  normalized.append(missing, '=');

  std::string out(3 * (normalized.size() / 4), '\0');
  if (normalized.empty()) return out;
  const int decoded =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(normalized.data()),
                      static_cast<int>(normalized.size()));
  if (decoded < 0 || static_cast<size_t>(decoded) != out.size()) {
    return std::nullopt;
  }
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(out.size() - missing);
  return out;
}

}  // namespace dynoguard::worker
