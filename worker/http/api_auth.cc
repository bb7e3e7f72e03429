#include "worker/http/api_auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <string>

namespace dynoguard::worker {
namespace {

std::array<unsigned char, SHA256_DIGEST_LENGTH> Digest(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest.data());
  return digest;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
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

// The token of "Bearer <token>", or "" when the header is something else.
std::string_view BearerToken(std::string_view header) {
  header = Trim(header);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() ||
      !EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme) ||
      (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t')) {
    return {};
  }
  return Trim(header.substr(kScheme.size()));
}

}  // namespace

bool SecretEquals(std::string_view presented, std::string_view expected) {
  // Hashing first gives both sides the same length, so CRYPTO_memcmp runs
  // over 32 bytes whatever was presented.
  auto a = Digest(presented);
  auto b = Digest(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool IsLoopbackAddress(std::string_view remote_addr) {
  std::string addr(remote_addr);
  in_addr v4{};
  if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

AuthResult CheckAuth(const common::Redacted& api_key,
                     std::string_view authorization_header,
                     std::string_view x_api_key_header,
                     std::string_view remote_addr) {
  if (api_key.empty()) {
    return IsLoopbackAddress(remote_addr) ? AuthResult::kAllowed
                                          : AuthResult::kForbidden;
  }
  const std::string& key = api_key.Reveal();
  // Both candidates are always compared, so timing does not tell which header
  // was checked.
  std::string_view bearer = BearerToken(authorization_header);
  std::string_view header_key = Trim(x_api_key_header);
  bool bearer_ok = !bearer.empty() && SecretEquals(bearer, key);
  bool header_ok = !header_key.empty() && SecretEquals(header_key, key);
  return (bearer_ok || header_ok) ? AuthResult::kAllowed
                                  : AuthResult::kUnauthorized;
}

}  // namespace dynoguard::worker
