// Streamed request bodies: the routes whose body the server writes to a file
// in DATA_DIR/tmp as it arrives instead of keeping it in memory (POST
// /api/media, up to MEDIA_MAX_BYTES), how long such a body may take, and how
// the route's handler learns where it is.
//
// The handler sees a request with an empty body and the server's reserved
// headers below; the client's own Content-Type moves to
// X-Dynoguard-Body-Content-Type (so httplib does not try to parse a
// multipart body it never gets). Every header whose name starts with
// "X-Dynoguard-Body-" that a client sends is dropped by the request reader on
// every route, so these values cannot be forged. The server removes the file
// once the answer is written (or the request fails). Pure.
#ifndef DYNOGUARD_WORKER_HTTP_SERVER_STREAMED_BODY_H_
#define DYNOGUARD_WORKER_HTTP_SERVER_STREAMED_BODY_H_

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker::http_server {

inline constexpr std::string_view kReservedHeaderPrefix = "X-Dynoguard-Body-";
inline constexpr std::string_view kBodyFileHeader = "X-Dynoguard-Body-File";
inline constexpr std::string_view kBodyBytesHeader = "X-Dynoguard-Body-Bytes";
inline constexpr std::string_view kBodyContentTypeHeader =
    "X-Dynoguard-Body-Content-Type";

// The body of a streamed request, as its handler sees it.
struct StreamedBody {
  std::string path;          // the file in DATA_DIR/tmp, owned by the server
  uint64_t bytes = 0;        // its size (the decoded body)
  std::string content_type;  // the client's Content-Type ("" when none)
};

// What a multipart upload may add around a file of MEDIA_MAX_BYTES (part
// headers, boundaries, small text fields): the route checks the file itself.
inline constexpr uint64_t kMultipartAllowanceBytes = 64 * 1024;

// The limit of a streamed route, or nullopt when `method` `path` (the target
// without its query) keeps its body in memory. Today: POST /api/media →
// `media_max_bytes` (MEDIA_MAX_BYTES) + kMultipartAllowanceBytes.
std::optional<uint64_t> StreamedBodyLimit(uint64_t media_max_bytes,
                                          std::string_view method,
                                          std::string_view path);

// The streamed body the server attached to `req`, or nullopt when the
// request's route is not streamed.
std::optional<StreamedBody> StreamedBodyOf(const httplib::Request& req);

// True for a header name (any case) reserved to the server.
bool IsReservedBodyHeader(std::string_view name);

// How long a streamed body may take: a fixed allowance plus time in
// proportion to what was received (a minimum rate), and never a pause of
// more than `stall_timeout` between two pieces.
struct StreamedBodyTimes {
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds stall_timeout{10000};
  uint64_t min_bytes_per_s = 16 * 1024;
};

// The time by which the request must be complete (else 408): the earlier of
// `last_progress` + stall_timeout and `started` + request_timeout +
// `received` / min_bytes_per_s. `started`: the request's first byte;
// `last_progress`: when body bytes last arrived (the end of the head before).
std::chrono::steady_clock::time_point StreamedBodyDeadline(
    std::chrono::steady_clock::time_point started,
    std::chrono::steady_clock::time_point last_progress, uint64_t received,
    const StreamedBodyTimes& times);

}  // namespace dynoguard::worker::http_server

#endif  // DYNOGUARD_WORKER_HTTP_SERVER_STREAMED_BODY_H_
