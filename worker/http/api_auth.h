// API authentication (SPEC §3 API_KEY, §5): with a key set, /api/* and
// /cleanup need it as `Authorization: Bearer <key>` or `X-Api-Key: <key>`;
// without one they answer local clients only. Local means more than a
// loopback peer address: a reverse proxy on the same host connects from
// loopback for the whole world, and a browser page (CSRF, DNS rebinding)
// connects from loopback for its foreign site. So, with no key, a request is
// not local when it carries a proxy header (Forwarded, X-Forwarded-For,
// X-Real-IP), an Origin other than the API's own, or a Host that is not a
// loopback name or the configured HOST. Pure; comparisons are constant-time.
#ifndef DYNOGUARD_WORKER_HTTP_API_AUTH_H_
#define DYNOGUARD_WORKER_HTTP_API_AUTH_H_

#include <string>
#include <string_view>

#include "common/redacted.h"

namespace dynoguard::worker {

enum class AuthResult {
  kAllowed,
  kUnauthorized,  // a key is configured and the request did not present it
  kForbidden,     // no key is configured and the client is not local
};

// The parts of a request that decide who is calling. Absent headers are "".
struct CallerInfo {
  std::string_view authorization;  // Authorization
  std::string_view x_api_key;      // X-Api-Key
  std::string_view remote_addr;    // the peer address, as httplib reports it
  std::string_view host;           // Host
  std::string_view origin;         // Origin
  // Whether Forwarded, X-Forwarded-For or X-Real-IP is present (any value).
  bool has_proxy_header = false;
};

struct AuthDecision {
  AuthResult result = AuthResult::kForbidden;
  // For kUnauthorized and kForbidden: what to tell the client (it says how
  // to get in: set API_KEY, or send the key).
  std::string message;
};

// The decision for a protected route.
//  - `api_key` set: CheckAuth below (the key; nothing else matters).
//  - `api_key` empty: allowed only when the peer is on loopback, no proxy
//    header is present, Host is absent or local (IsLocalHost), and Origin is
//    absent or the same origin as Host (IsSameOrigin); else kForbidden with a
//    message naming the reason and saying to set API_KEY.
// `configured_host` is HOST (a name the operator chose is a local Host too).
// Thread-safe.
AuthDecision Authorize(const common::Redacted& api_key,
                       std::string_view configured_host,
                       const CallerInfo& caller);

// True when the Host header value `host` (an optional ":port" after it) names
// this machine's loopback: "localhost" or a name under ".localhost",
// 127.0.0.0/8, "[::1]"; or when its name equals `configured_host` (unless
// that is a wildcard such as 0.0.0.0 or ::). Case-insensitive; a trailing
// dot is ignored.
bool IsLocalHost(std::string_view host, std::string_view configured_host);

// True when `origin` (an Origin header, "http://127.0.0.1:3000") is the origin
// of an http URL on `host` (the Host header, "127.0.0.1:3000"), i.e. a page
// served by this API itself. "null" and any other scheme are not.
bool IsSameOrigin(std::string_view origin, std::string_view host);

// True when a body may be taken as JSON: `content_type` (the Content-Type
// header, parameters such as "; charset=utf-8" allowed) is application/json
// or an application/*+json type. An absent type is not JSON: a browser sends
// a cross-site POST without a CORS preflight only with a form or text type or
// none, so requiring JSON closes that door.
bool IsJsonContentType(std::string_view content_type);

// Decides whether a request may use a protected route.
//  - `api_key` set: allowed when the Authorization header is "Bearer <key>"
//    (scheme case-insensitive) or X-Api-Key equals the key; else
//    kUnauthorized. The comparison takes the same time whatever the presented
//    value (both sides are hashed with SHA-256, the digests compared with
//    CRYPTO_memcmp), so neither the key's bytes nor its length leak.
//  - `api_key` empty: allowed when `remote_addr` is a loopback address
//    (127.0.0.0/8, ::1, ::ffff:127.x.y.z); else kForbidden.
// Headers that are absent are passed as "". Thread-safe.
AuthResult CheckAuth(const common::Redacted& api_key,
                     std::string_view authorization_header,
                     std::string_view x_api_key_header,
                     std::string_view remote_addr);

// True for 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.0.0.0/104 in textual
// form (as httplib reports Request::remote_addr).
bool IsLoopbackAddress(std::string_view remote_addr);

// Constant-time equality of two secrets of any lengths.
bool SecretEquals(std::string_view presented, std::string_view expected);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_API_AUTH_H_
