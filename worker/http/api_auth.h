// API authentication (SPEC §3 API_KEY): with a key set, /api/* and /cleanup
// need it as `Authorization: Bearer <key>` or `X-Api-Key: <key>`; without
// one they answer loopback clients only. Pure; comparisons are constant-time.
#ifndef DYNOGUARD_WORKER_HTTP_API_AUTH_H_
#define DYNOGUARD_WORKER_HTTP_API_AUTH_H_

#include <string_view>

#include "common/redacted.h"

namespace dynoguard::worker {

enum class AuthResult {
  kAllowed,
  kUnauthorized,  // a key is configured and the request did not present it
  kForbidden,     // no key is configured and the client is not on loopback
};

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
