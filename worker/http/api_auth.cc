#include "worker/http/api_auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "common/ascii.h"
#include "worker/crypto/digest.h"

namespace dynoguard::worker {
namespace {

// The token of "Bearer <token>", or "" when the header is something else.
std::string_view BearerToken(std::string_view header) {
  header = common::TrimSpaces(header);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() ||
      !common::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme) ||
      (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t')) {
    return {};
  }
  return common::TrimSpaces(header.substr(kScheme.size()));
}

// The name part of a Host value: "[::1]:3000" -> "::1", "a.b:80" -> "a.b",
// lower-cased, without a trailing dot.
std::string HostName(std::string_view host) {
  host = common::TrimSpaces(host);
  std::string_view name = host;
  if (host.starts_with('[')) {
    size_t end = host.find(']');
    name = end == std::string_view::npos ? host.substr(1)
                                         : host.substr(1, end - 1);
  } else if (size_t colon = host.find(':');
             colon != std::string_view::npos &&
             host.find(':', colon + 1) == std::string_view::npos) {
    name = host.substr(0, colon);
  }
  std::string lower = common::AsciiLower(name);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower;
}

bool IsWildcard(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

constexpr std::string_view kSetApiKey =
    "; set API_KEY to call this API from elsewhere";

}  // namespace

bool IsLocalHost(std::string_view host, std::string_view configured_host) {
  const std::string name = HostName(host);
  if (name.empty()) return false;
  if (name == "localhost" || name.ends_with(".localhost")) return true;
  if (IsLoopbackAddress(name)) return true;
  if (!IsWildcard(configured_host) && name == HostName(configured_host)) {
    return true;
  }
  return false;
}

bool IsSameOrigin(std::string_view origin, std::string_view host) {
  origin = common::TrimSpaces(origin);
  host = common::TrimSpaces(host);
  if (host.empty()) return false;
  return common::AsciiLower(origin) == "http://" + common::AsciiLower(host);
}

bool IsJsonContentType(std::string_view content_type) {
  std::string type =
      common::AsciiLower(content_type.substr(0, content_type.find(';')));
  type.erase(std::remove_if(type.begin(), type.end(),
                            [](char c) { return c == ' ' || c == '\t'; }),
             type.end());
  if (type == "application/json") return true;
  return type.starts_with("application/") && type.ends_with("+json") &&
         type.size() > std::string_view("application/+json").size();
}

AuthDecision Authorize(const common::Redacted& api_key,
                       std::string_view configured_host,
                       const CallerInfo& caller) {
  if (!api_key.empty()) {
    AuthResult result = CheckAuth(api_key, caller.authorization,
                                  caller.x_api_key, caller.remote_addr);
    if (result == AuthResult::kAllowed) return {result, ""};
    return {result,
            "missing or wrong API key (Authorization: Bearer <key> or "
            "X-Api-Key)"};
  }
  auto forbidden = [](std::string_view why) {
    return AuthDecision{AuthResult::kForbidden,
                        "API_KEY is not set: this route answers local clients "
                        "only, and " +
                            std::string(why) + std::string(kSetApiKey)};
  };
  if (!IsLoopbackAddress(caller.remote_addr)) {
    return forbidden("this client is not on loopback");
  }
  if (caller.has_proxy_header) {
    return forbidden(
        "a request through a proxy (Forwarded, X-Forwarded-For or X-Real-IP) "
        "is not local");
  }
  const bool has_host = !common::TrimSpaces(caller.host).empty();
  if (has_host && !IsLocalHost(caller.host, configured_host)) {
    return forbidden("Host is not a loopback name or HOST");
  }
  if (!common::TrimSpaces(caller.origin).empty()) {
    const bool own =
        has_host ? IsSameOrigin(caller.origin, caller.host) : false;
    if (!own) return forbidden("a request from another Origin is not local");
  }
  return {AuthResult::kAllowed, ""};
}

bool SecretEquals(std::string_view presented, std::string_view expected) {
  // Hashing first gives both sides the same length, so CRYPTO_memcmp runs
  // over 32 bytes whatever was presented. A digest that failed (out of
  // memory) matches nothing.
  std::optional<Sha256Digest> a = Sha256(presented);
  std::optional<Sha256Digest> b = Sha256(expected);
  if (!a || !b) return false;
  return CRYPTO_memcmp(a->data(), b->data(), a->size()) == 0;
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
  std::string_view header_key = common::TrimSpaces(x_api_key_header);
  bool bearer_ok = !bearer.empty() && SecretEquals(bearer, key);
  bool header_ok = !header_key.empty() && SecretEquals(header_key, key);
  return (bearer_ok || header_ok) ? AuthResult::kAllowed
                                  : AuthResult::kUnauthorized;
}

}  // namespace dynoguard::worker
