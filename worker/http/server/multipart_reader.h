// MultipartReader: a streaming parser of a multipart/form-data body (RFC
// 7578, RFC 2046 §5.1), fed in pieces of any size, that hands each part's
// head and data to a sink as it goes, so a part of any size passes through
// a buffer of about one piece. It keeps nothing of a part's data. Pure: no
// I/O; the caller reads the body (worker/http/multipart_upload.h reads a
// stored body file) and decides what to keep.
#ifndef DYNOGUARD_WORKER_HTTP_SERVER_MULTIPART_READER_H_
#define DYNOGUARD_WORKER_HTTP_SERVER_MULTIPART_READER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker::http_server {

// What a part's headers say (Content-Disposition: form-data; name=…;
// filename=…, and Content-Type).
struct MultipartPartHead {
  std::string name;      // "" when the part has none
  std::string filename;  // as the client named it
  bool has_filename = false;
  std::string content_type;  // "" when none was given
};

// Receives the parts in order: OnPart, OnData zero or more times, OnPartEnd.
// A method that returns false stops the parse (state kError, with the
// message the sink gave through `error`).
class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual bool OnPart(const MultipartPartHead& head, std::string& error) = 0;
  virtual bool OnData(std::string_view data, std::string& error) = 0;
  virtual bool OnPartEnd(std::string& error) = 0;
};

class MultipartReader {
 public:
  enum class State { kRunning, kDone, kError };

  // The most bytes of headers one part may have.
  static constexpr size_t kMaxPartHeadBytes = 8 * 1024;

  // `boundary`: from MultipartBoundary (1 to 70 characters).
  explicit MultipartReader(std::string_view boundary);

  // Consumes all of `in`. Does nothing once kDone (what follows the closing
  // delimiter is the epilogue, ignored) or kError.
  void Feed(std::string_view in, MultipartSink& sink);
  // The body ended: kError ("truncated") unless the closing delimiter came.
  void Finish();

  State state() const { return state_; }
  // Why it failed: "multipart body truncated before its closing boundary",
  // "part headers larger than 8192 bytes", "malformed part header", … or
  // the sink's message. REQUIRES: state() == kError.
  const std::string& error() const { return error_; }

 private:
  enum class Step { kPreamble, kAfterDelimiter, kHeaders, kData, kEpilogue };

  void Fail(std::string message);
  bool ParseHeaderLine(std::string_view line);

  std::string delimiter_;  // CRLF "--" boundary
  std::string buf_;        // bytes not yet consumed
  State state_ = State::kRunning;
  Step step_ = Step::kPreamble;
  size_t head_bytes_ = 0;
  MultipartPartHead head_;
  std::string error_;
};

// The boundary of a `multipart/form-data; boundary=…` Content-Type (the
// value quoted or not), or nullopt when the type is another one, has no
// boundary, or the boundary is empty, longer than 70 characters or has
// characters RFC 2046 does not allow.
std::optional<std::string> MultipartBoundary(std::string_view content_type);

}  // namespace dynoguard::worker::http_server

#endif  // DYNOGUARD_WORKER_HTTP_SERVER_MULTIPART_READER_H_
