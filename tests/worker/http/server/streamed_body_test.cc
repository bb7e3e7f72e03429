// Streamed request bodies: which routes stream, how long an upload may
// take, and that the server's headers are the only source of the body file.
#include "worker/http/server/streamed_body.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker::http_server {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST_CASE("streamed body: only POST /api/media streams, with MEDIA_MAX_BYTES",
          "[http-server][media]") {
  const uint64_t limit = 1000 + kMultipartAllowanceBytes;
  CHECK(StreamedBodyLimit(1000, "POST", "/api/media") == limit);
  CHECK(StreamedBodyLimit(1000, "POST", "/api/media?x=1") == limit);
  CHECK_FALSE(StreamedBodyLimit(1000, "GET", "/api/media"));
  CHECK_FALSE(StreamedBodyLimit(1000, "POST", "/api/media/1"));
  CHECK_FALSE(StreamedBodyLimit(1000, "POST", "/api/messages"));
}

TEST_CASE("streamed body: reserved header names, any case",
          "[http-server][media]") {
  CHECK(IsReservedBodyHeader("X-Dynoguard-Body-File"));
  CHECK(IsReservedBodyHeader("x-dynoguard-body-file"));
  CHECK(IsReservedBodyHeader("X-DYNOGUARD-BODY-ANYTHING"));
  CHECK_FALSE(IsReservedBodyHeader("X-Dynoguard-Event-Id"));
  CHECK_FALSE(IsReservedBodyHeader("Content-Type"));
}

TEST_CASE(
    "streamed body: the deadline grows with the bytes received and a "
    "stall ends it",
    "[http-server][media]") {
  StreamedBodyTimes times;
  times.request_timeout = milliseconds(10000);
  times.stall_timeout = milliseconds(5000);
  times.min_bytes_per_s = 1000;
  Clock::time_point t0{};
  // Nothing received yet: the stall bound (from the end of the head).
  CHECK(StreamedBodyDeadline(t0, t0, 0, times) == t0 + milliseconds(5000));
  // Steady progress at the minimum rate keeps it open for long.
  auto late = t0 + milliseconds(60000);
  CHECK(StreamedBodyDeadline(t0, late, 60000, times) ==
        t0 + milliseconds(65000));
  // Slower than the minimum rate: the allowance runs out.
  CHECK(StreamedBodyDeadline(t0, late, 10000, times) ==
        t0 + milliseconds(20000));
  // Fast, then stopped: the stall bound.
  CHECK(StreamedBodyDeadline(t0, t0 + milliseconds(1000), 16 << 20, times) ==
        t0 + milliseconds(6000));
}

TEST_CASE("streamed body: StreamedBodyOf reads the server's headers",
          "[http-server][media]") {
  httplib::Request req;
  CHECK_FALSE(StreamedBodyOf(req));
  req.set_header(std::string(kBodyFileHeader), "/d/tmp/upload-1");
  req.set_header(std::string(kBodyBytesHeader), "12");
  req.set_header(std::string(kBodyContentTypeHeader),
                 "multipart/form-data; boundary=x");
  auto body = StreamedBodyOf(req);
  REQUIRE(body);
  CHECK(body->path == "/d/tmp/upload-1");
  CHECK(body->bytes == 12);
  CHECK(body->content_type == "multipart/form-data; boundary=x");
}

}  // namespace
}  // namespace dynoguard::worker::http_server
