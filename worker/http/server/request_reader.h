// RequestReader: reads one HTTP/1.x request from a byte stream, fed in pieces
// as they arrive, under the limits of SPEC §5 (bounded head bytes and header
// count, body <= MAX_BODY_BYTES whatever the transfer coding). It decides the
// early errors itself (431, 413 before any body byte, 400 for a bad
// Content-Length, 405 for an unknown method) and, for a complete request,
// produces a canonical copy for cpp-httplib to parse and route: the same
// request line and headers, a chunked body decoded and given a
// Content-Length, `Expect` removed (the server answers `100 Continue`
// itself), and `Content-Length: 0` added to a body method that sent neither
// length nor coding (such a request has no body, RFC 9112 §6.3). Headers
// reserved to the server (X-Dynoguard-Body-*, streamed_body.h) are dropped
// from every request. A route with a streamed body (RequestLimits::
// streamed_body_limit) keeps no body: its decoded bytes are handed to the
// caller piece by piece (body_piece()) and its canonical copy has
// `Content-Length: 0`, X-Dynoguard-Body-Bytes and the client's Content-Type as
// X-Dynoguard-Body-Content-Type. Pure: no I/O, no clock.
#ifndef DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_READER_H_
#define DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_READER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker::http_server {

struct RequestLimits {
  // The request line plus every header line, line ends included.
  size_t max_head_bytes = 16 * 1024;
  size_t max_headers = 100;
  // The request target alone (httplib's own limit, answered 414).
  size_t max_target_bytes = 8192;
  // The body as the handler sees it (decoded when chunked).
  uint64_t max_body_bytes = 16384;
  // When set, the limit for one route instead of max_body_bytes: called with
  // the method and the target without its query once the request line is in.
  std::function<uint64_t(std::string_view method, std::string_view path)>
      body_limit;
  // When set: called like body_limit; a value makes the request's body
  // streamed (not kept) with that limit, nullopt keeps it in memory.
  std::function<std::optional<uint64_t>(std::string_view method,
                                        std::string_view path)>
      streamed_body_limit;
};

// An error the server answers itself, then closes the connection.
struct RequestError {
  int status = 0;         // 400, 405, 413, 414, 431
  std::string_view code;  // the SPEC §5 error code
  std::string message;
};

// Decodes a `Transfer-Encoding: chunked` body, fed in pieces. Chunk
// extensions and trailers are read and dropped.
class ChunkedDecoder {
 public:
  enum class State { kRunning, kDone, kTooLarge, kMalformed };

  explicit ChunkedDecoder(uint64_t max_body_bytes)
      : max_body_bytes_(max_body_bytes) {}

  // Consumes bytes of `in`, appending decoded data to `body`, and returns how
  // many it consumed: all of `in` while kRunning, fewer when the body ended
  // (the rest belongs to the next request) or an error stopped it. `body`
  // never grows past max_body_bytes: a chunk that would pass it is kTooLarge
  // as soon as its size line is read.
  size_t Feed(std::string_view in, std::string& body);
  State state() const { return state_; }

 private:
  enum class Step { kSize, kData, kDataEnd, kTrailer };

  uint64_t max_body_bytes_;
  State state_ = State::kRunning;
  Step step_ = Step::kSize;
  std::string line_;  // the size or trailer line read so far
  uint64_t remaining_ = 0;
  uint64_t decoded_ = 0;
  size_t trailer_bytes_ = 0;
  bool saw_cr_ = false;
};

class RequestReader {
 public:
  enum class State {
    kHead,   // reading the request line and headers
    kBody,   // the head is complete, reading the body
    kDone,   // a complete request: see TakeCanonical()
    kError,  // see error()
  };

  explicit RequestReader(const RequestLimits& limits);

  // Consumes bytes of `in` and returns how many: everything up to the end of
  // this request (or up to the error). Bytes past the end of the request are
  // left for the next reader (pipelining).
  size_t Feed(std::string_view in);

  State state() const { return state_; }
  // True when the head is complete and the client waits for `100 Continue`
  // before it sends the body (`Expect: 100-continue` and a body to come).
  // Cleared by the caller's call to ContinueSent().
  bool wants_continue() const { return wants_continue_; }
  void ContinueSent() { wants_continue_ = false; }
  // True once any byte of the request arrived (a connection with none is
  // idle, not a request in progress).
  bool started() const { return started_; }
  // REQUIRES: state() == kError.
  const RequestError& error() const { return error_; }
  // The canonical request (head + body), with `extra_headers` (complete
  // header lines, each ending in CRLF) after the request's own headers.
  // REQUIRES: state() == kDone.
  std::string TakeCanonical(std::string_view extra_headers = {});

  // Whether this request's body is streamed (known once the request line is
  // in).
  bool streamed() const { return streamed_; }
  // Streamed body: the decoded bytes received since the last
  // ClearBodyPiece() (at most what the last Feed() consumed).
  std::string_view body_piece() const {
    return streamed_ ? std::string_view(body_) : std::string_view();
  }
  void ClearBodyPiece() {
    if (streamed_) body_.clear();
  }
  // Decoded body bytes received so far.
  uint64_t body_received() const { return body_received_; }
  // The value of the first kept header named `name` (any case), "" when
  // absent; `found` tells them apart. For the server's early checks of a
  // streamed request once the head is in.
  std::string_view header(std::string_view name, bool* found = nullptr) const;

 private:
  void ParseLine(std::string_view line);
  void ParseRequestLine(std::string_view line);
  void ParseHeader(std::string_view line);
  void EndOfHead();
  void Fail(int status, std::string_view code, std::string message);
  void Finish();

  RequestLimits limits_;
  State state_ = State::kHead;
  bool started_ = false;
  bool wants_continue_ = false;
  RequestError error_;

  std::string line_;       // the head line read so far
  size_t head_bytes_ = 0;  // every head byte consumed, line ends included
  size_t headers_ = 0;
  bool request_line_seen_ = false;
  bool body_method_ = false;  // POST, PUT, PATCH, DELETE
  bool chunked_ = false;
  bool has_length_ = false;
  bool expect_continue_ = false;
  uint64_t length_ = 0;

  uint64_t max_body_bytes_;  // for this request's route
  bool streamed_ = false;
  uint64_t body_received_ = 0;
  std::string content_type_;  // a streamed request's Content-Type
  std::string canonical_;     // the head so far, then head + body
  size_t head_end_ = 0;       // where extra headers go in canonical_
  std::string body_;
  std::optional<ChunkedDecoder> chunked_decoder_;
};

// Parses a Content-Length value: 1 to 19 decimal digits (no sign, no
// spaces). False for anything else.
bool ParseContentLength(std::string_view value, uint64_t& out);

}  // namespace dynoguard::worker::http_server

#endif  // DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_READER_H_
