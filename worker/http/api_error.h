// API errors: every failure the HTTP API answers is one JSON shape (SPEC §5),
//   {"error":{"code":"invalid_field","message":"…","field":"to"}}
// with a fixed set of codes, so clients can branch on `code` and show
// `message`.
#ifndef DYNOGUARD_WORKER_HTTP_API_ERROR_H_
#define DYNOGUARD_WORKER_HTTP_API_ERROR_H_

#include <httplib.h>

#include <string>
#include <string_view>

namespace dynoguard::worker {

// The error codes of SPEC §5 (plus "internal" for a handler that failed).
namespace api_error {
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kInvalidField = "invalid_field";
inline constexpr std::string_view kUnauthorized = "unauthorized";
inline constexpr std::string_view kForbidden = "forbidden";
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kMethodNotAllowed = "method_not_allowed";
inline constexpr std::string_view kPayloadTooLarge = "payload_too_large";
inline constexpr std::string_view kMemoryPressure = "memory_pressure";
inline constexpr std::string_view kUnavailable = "unavailable";
inline constexpr std::string_view kInternal = "internal";
}  // namespace api_error

// Seconds a client is told to wait (Retry-After) when new sends are refused
// under memory pressure.
inline constexpr int kMemoryPressureRetryAfterS = 5;

// The error body, compact JSON with proper escaping. `field` (the request
// field at fault, for invalid_field) is left out when empty. Pure.
std::string ErrorJson(std::string_view code, std::string_view message,
                      std::string_view field = {});

// Sets `res` to `http_status` with ErrorJson as an application/json body.
// memory_pressure and unavailable also get a Retry-After header (5 s) unless
// one is set already.
void SendError(httplib::Response& res, int http_status, std::string_view code,
               std::string_view message, std::string_view field = {});

// The code SPEC §5 uses for a bare HTTP status that httplib produced itself
// (404 for an unknown path, 413, 400 from its request parser, …).
std::string_view ErrorCodeForStatus(int http_status);

// True when `res` already carries a JSON body (a handler answered), so the
// server's error handler must leave it alone.
bool HasJsonBody(const httplib::Response& res);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_API_ERROR_H_
