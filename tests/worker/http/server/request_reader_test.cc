// RequestReader and ChunkedDecoder: the limits and early answers of SPEC §5
// decided on bytes alone, without sockets.
#include "worker/http/server/request_reader.h"

#include <catch2/catch.hpp>
#include <string>

#include "worker/http/server/request_log_policy.h"

namespace dynoguard::worker::http_server {
namespace {

RequestLimits Limits(uint64_t max_body = 16384) {
  RequestLimits limits;
  limits.max_body_bytes = max_body;
  return limits;
}

// Feeds `bytes` in pieces of `piece` bytes (all of it unless the reader
// stops), returning how many were consumed.
size_t FeedInPieces(RequestReader& reader, const std::string& bytes,
                    size_t piece) {
  size_t used = 0;
  while (used < bytes.size()) {
    std::string_view part = std::string_view(bytes).substr(used, piece);
    size_t n = reader.Feed(part);
    used += n;
    if (n < part.size()) break;
  }
  return used;
}

TEST_CASE("request reader: a GET is complete at the blank line",
          "[request_reader]") {
  for (size_t piece : {1, 3, 1000}) {
    RequestReader reader(Limits());
    std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(FeedInPieces(reader, req, piece) == req.size());
    REQUIRE(reader.state() == RequestReader::State::kDone);
    CHECK(reader.TakeCanonical() == req);
  }
}

TEST_CASE("request reader: pipelined bytes are left for the next request",
          "[request_reader]") {
  RequestReader reader(Limits());
  std::string one = "GET /a HTTP/1.1\r\n\r\n";
  std::string two = "GET /b HTTP/1.1\r\n\r\n";
  CHECK(reader.Feed(one + two) == one.size());
  CHECK(reader.state() == RequestReader::State::kDone);
}

TEST_CASE("request reader: POST without a length gets Content-Length: 0",
          "[request_reader]") {
  RequestReader reader(Limits());
  reader.Feed("POST /cleanup HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(reader.state() == RequestReader::State::kDone);
  CHECK(reader.TakeCanonical() ==
        "POST /cleanup HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("request reader: a body of known length is read whole",
          "[request_reader]") {
  RequestReader reader(Limits());
  std::string req = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  CHECK(FeedInPieces(reader, req + "GET", 2) == req.size());
  REQUIRE(reader.state() == RequestReader::State::kDone);
  CHECK(reader.TakeCanonical() ==
        "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
}

TEST_CASE("request reader: a chunked body is decoded and given a length",
          "[request_reader]") {
  for (size_t piece : {1, 7, 1000}) {
    RequestReader reader(Limits());
    std::string req =
        "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n";
    CHECK(FeedInPieces(reader, req, piece) == req.size());
    REQUIRE(reader.state() == RequestReader::State::kDone);
    CHECK(reader.TakeCanonical() ==
          "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
  }
}

TEST_CASE("request reader: a chunked body over the limit is 413 at once",
          "[request_reader]") {
  RequestReader reader(Limits(1024));
  std::string head =
      "POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk = "100\r\n" + std::string(256, 'a') + "\r\n";
  std::string body;
  for (int i = 0; i < 1000; ++i) body += chunk;
  size_t used = reader.Feed(head + body);
  REQUIRE(reader.state() == RequestReader::State::kError);
  CHECK(reader.error().status == 413);
  CHECK(reader.error().code == "payload_too_large");
  CHECK(used < head.size() + 5 * chunk.size());  // stopped at the limit
  // One chunk announced bigger than the limit: 413 before its data.
  RequestReader big(Limits(1024));
  big.Feed(head + "fffffffffffffffffffff\r\n");
  REQUIRE(big.state() == RequestReader::State::kError);
  CHECK(big.error().status == 413);
}

TEST_CASE("request reader: a route may have its own body limit",
          "[request_reader]") {
  RequestLimits limits = Limits(10);
  limits.body_limit = [](std::string_view method, std::string_view path) {
    return method == "POST" && path == "/big" ? 100 : 10;
  };
  RequestReader big(limits);
  big.Feed("POST /big?x=1 HTTP/1.1\r\nContent-Length: 50\r\n\r\n");
  CHECK(big.state() == RequestReader::State::kBody);
  RequestReader small(limits);
  small.Feed(
      "POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "32\r\n");
  REQUIRE(small.state() == RequestReader::State::kError);
  CHECK(small.error().status == 413);
}

TEST_CASE("request reader: malformed chunks are 400", "[request_reader]") {
  for (std::string body : {"zz\r\n", "5\r\nhelloXX\r\n", "\r\n"}) {
    RequestReader reader(Limits());
    reader.Feed("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                body);
    INFO(body);
    REQUIRE(reader.state() == RequestReader::State::kError);
    CHECK(reader.error().status == 400);
  }
}

TEST_CASE("request reader: bad Content-Length values are 400 at once",
          "[request_reader]") {
  for (std::string value :
       {"abc", "-1", "12345678901234567890", "1 2", "", "+5", "0x10"}) {
    RequestReader reader(Limits());
    reader.Feed("POST /x HTTP/1.1\r\nContent-Length: " + value + "\r\n\r\n");
    INFO(value);
    REQUIRE(reader.state() == RequestReader::State::kError);
    CHECK(reader.error().status == 400);
  }
  RequestReader both(Limits());
  both.Feed(
      "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n");
  CHECK(both.state() == RequestReader::State::kError);
  RequestReader twice(Limits());
  twice.Feed(
      "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
  CHECK(twice.state() == RequestReader::State::kError);
}

TEST_CASE("request reader: a length over the limit is 413 before the body",
          "[request_reader]") {
  RequestReader reader(Limits(1024));
  reader.Feed(
      "POST /x HTTP/1.1\r\nContent-Length: 999999999\r\nExpect: "
      "100-continue\r\n\r\n");
  REQUIRE(reader.state() == RequestReader::State::kError);
  CHECK(reader.error().status == 413);
  CHECK_FALSE(reader.wants_continue());
}

TEST_CASE("request reader: Expect: 100-continue is answered, then removed",
          "[request_reader]") {
  RequestReader reader(Limits());
  reader.Feed(
      "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK(reader.state() == RequestReader::State::kBody);
  CHECK(reader.wants_continue());
  reader.ContinueSent();
  reader.Feed("{}");
  REQUIRE(reader.state() == RequestReader::State::kDone);
  CHECK(reader.TakeCanonical() ==
        "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
}

TEST_CASE("request reader: too many or too large headers are 431",
          "[request_reader]") {
  RequestReader many(Limits());
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  many.Feed(req);
  REQUIRE(many.state() == RequestReader::State::kError);
  CHECK(many.error().status == 431);
  CHECK(many.error().code == "headers_too_large");

  RequestReader large(Limits());
  size_t used = large.Feed(
      "GET / HTTP/1.1\r\nX-Big: " + std::string(200000, 'b') + "\r\n\r\n");
  REQUIRE(large.state() == RequestReader::State::kError);
  CHECK(large.error().status == 431);
  CHECK(used < 16 * 1024);  // refused before it was stored
}

TEST_CASE("request reader: a long URI is 414, an unknown method 405",
          "[request_reader]") {
  RequestReader uri(Limits());
  uri.Feed("GET /" + std::string(20000, 'u') + " HTTP/1.1\r\n\r\n");
  REQUIRE(uri.state() == RequestReader::State::kError);
  CHECK(uri.error().status == 414);
  for (std::string method : {"PROPFIND", "TRACE", "CONNECT", "BREW"}) {
    RequestReader reader(Limits());
    reader.Feed(method + " /health HTTP/1.1\r\n\r\n");
    INFO(method);
    REQUIRE(reader.state() == RequestReader::State::kError);
    CHECK(reader.error().status == 405);
    CHECK(reader.error().code == "method_not_allowed");
  }
  RequestReader garbage(Limits());
  garbage.Feed("GARBAGE\r\n\r\n");
  REQUIRE(garbage.state() == RequestReader::State::kError);
  CHECK(garbage.error().status == 400);
}

TEST_CASE("request reader: a connection that sent nothing has not started",
          "[request_reader]") {
  RequestReader reader(Limits());
  CHECK_FALSE(reader.started());
  reader.Feed("G");
  CHECK(reader.started());
  CHECK(reader.state() == RequestReader::State::kHead);
}

TEST_CASE("request log policy: errors and slow requests by default",
          "[request_reader]") {
  using common::LogLevel;
  using common::LogRequests;
  using std::chrono::milliseconds;
  auto slow = milliseconds(500);
  CHECK_FALSE(
      RequestLogLevel(LogRequests::kErrors, 200, milliseconds(1), slow));
  CHECK(RequestLogLevel(LogRequests::kErrors, 404, milliseconds(1), slow) ==
        LogLevel::kDebug);
  CHECK(RequestLogLevel(LogRequests::kErrors, 503, milliseconds(1), slow) ==
        LogLevel::kWarn);
  CHECK(RequestLogLevel(LogRequests::kErrors, 200, milliseconds(900), slow) ==
        LogLevel::kWarn);
  CHECK(RequestLogLevel(LogRequests::kAll, 200, milliseconds(1), slow) ==
        LogLevel::kInfo);
}

}  // namespace
}  // namespace dynoguard::worker::http_server

namespace dynoguard::worker::http_server {
namespace {

RequestLimits StreamedLimits(uint64_t max_stream = 1000) {
  RequestLimits limits;
  limits.max_body_bytes = 10;  // buffered routes
  limits.streamed_body_limit = [max_stream](std::string_view method,
                                            std::string_view path) {
    return method == "POST" && path == "/up" ? std::optional(max_stream)
                                             : std::nullopt;
  };
  return limits;
}

// Feeds in pieces and collects the streamed body.
std::string FeedStreamed(RequestReader& reader, const std::string& bytes,
                         size_t piece) {
  std::string body;
  size_t used = 0;
  while (used < bytes.size() && reader.state() != RequestReader::State::kDone &&
         reader.state() != RequestReader::State::kError) {
    used += reader.Feed(std::string_view(bytes).substr(used, piece));
    body.append(reader.body_piece());
    reader.ClearBodyPiece();
  }
  return body;
}

TEST_CASE(
    "request reader: a streamed body is handed out in pieces, and the "
    "canonical request has none",
    "[request_reader][http-server][media]") {
  std::string data(600, 'x');
  for (size_t piece : {1, 7, 100, 5000}) {
    RequestReader reader(StreamedLimits());
    std::string req =
        "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        "boundary=b\r\nContent-Length: 600\r\n\r\n" +
        data;
    CHECK(FeedStreamed(reader, req, piece) == data);
    REQUIRE(reader.state() == RequestReader::State::kDone);
    CHECK(reader.streamed());
    CHECK(reader.body_received() == 600);
    CHECK(reader.TakeCanonical("X-Dynoguard-Body-File: /f\r\n") ==
          "POST /up HTTP/1.1\r\nHost: x\r\n"
          "X-Dynoguard-Body-Bytes: 600\r\n"
          "X-Dynoguard-Body-Content-Type: multipart/form-data; boundary=b\r\n"
          "Content-Length: 0\r\nX-Dynoguard-Body-File: /f\r\n\r\n");
  }
}

TEST_CASE(
    "request reader: a chunked streamed body is decoded on the way and "
    "limited by the streamed limit",
    "[request_reader][http-server][media]") {
  RequestReader reader(StreamedLimits(12));
  std::string req =
      "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n";
  CHECK(FeedStreamed(reader, req, 3) == "hello world!");
  REQUIRE(reader.state() == RequestReader::State::kDone);
  CHECK(reader.body_received() == 12);

  RequestReader over(StreamedLimits(12));
  FeedStreamed(over,
               "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n8\r\n",
               4);
  REQUIRE(over.state() == RequestReader::State::kError);
  CHECK(over.error().status == 413);
  CHECK(over.error().message ==
        "request body larger than 12 bytes (MEDIA_MAX_BYTES and its multipart "
        "framing)");

  RequestReader declared(StreamedLimits(12));
  declared.Feed("POST /up HTTP/1.1\r\nContent-Length: 13\r\n\r\n");
  REQUIRE(declared.state() == RequestReader::State::kError);
  CHECK(declared.error().status == 413);
}

TEST_CASE(
    "request reader: a client's X-Dynoguard-Body-* headers are dropped "
    "on every route",
    "[request_reader][http-server][media]") {
  for (std::string target : {"/up", "/other"}) {
    RequestReader reader(StreamedLimits());
    reader.Feed("POST " + target +
                " HTTP/1.1\r\nX-Dynoguard-Body-File: /etc/passwd\r\n"
                "x-dynoguard-body-bytes: 5\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(reader.state() == RequestReader::State::kDone);
    std::string canonical = reader.TakeCanonical();
    CHECK(canonical.find("/etc/passwd") == std::string::npos);
    CHECK(canonical.find("x-dynoguard-body-bytes") == std::string::npos);
  }
}

TEST_CASE("request reader: header() finds a kept header once the head is in",
          "[request_reader][http-server]") {
  RequestReader reader(StreamedLimits());
  reader.Feed(
      "POST /up HTTP/1.1\r\nHost: h\r\nauthorization: Bearer k\r\n"
      "Content-Length: 5\r\n\r\n");
  REQUIRE(reader.state() == RequestReader::State::kBody);
  bool found = false;
  CHECK(reader.header("Authorization", &found) == "Bearer k");
  CHECK(found);
  CHECK(reader.header("X-Real-IP", &found).empty());
  CHECK_FALSE(found);
  CHECK(reader.header("Host") == "h");
}

}  // namespace
}  // namespace dynoguard::worker::http_server
