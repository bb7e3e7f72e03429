#include "worker/http/server/request_reader.h"

#include <algorithm>
#include <array>

#include "worker/http/server/streamed_body.h"

namespace dynoguard::worker::http_server {
namespace {

// Longest chunk-size line (size, extensions) and longest trailer section.
constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kMaxTrailerBytes = 8192;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The methods cpp-httplib routes; any other is answered 405 here (it would
// be a 400 from httplib's parser).
constexpr std::array<std::string_view, 7> kRoutedMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Takes bytes of `in` up to and including '\n' into `line` (without the
// line end; a '\r' before it is dropped). Returns the bytes consumed and
// sets `complete` when the line ended.
size_t TakeLine(std::string_view in, std::string& line, bool& complete) {
  size_t nl = in.find('\n');
  complete = nl != std::string_view::npos;
  size_t take = complete ? nl + 1 : in.size();
  line.append(in.data(), complete ? nl : in.size());
  if (complete && !line.empty() && line.back() == '\r') line.pop_back();
  return take;
}

}  // namespace

bool ParseContentLength(std::string_view value, uint64_t& out) {
  if (value.empty() || value.size() > 19) return false;
  uint64_t v = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

size_t ChunkedDecoder::Feed(std::string_view in, std::string& body) {
  size_t used = 0;
  while (used < in.size() && state_ == State::kRunning) {
    std::string_view rest = in.substr(used);
    switch (step_) {
      case Step::kSize: {
        bool complete = false;
        used += TakeLine(rest, line_, complete);
        if (line_.size() > kMaxChunkLine) {
          state_ = State::kMalformed;
          break;
        }
        if (!complete) break;
        std::string_view size = line_;
        size = Trim(size.substr(0, std::min(size.find(';'), size.size())));
        while (size.size() > 1 && size.front() == '0') size.remove_prefix(1);
        uint64_t n = 0;
        for (char c : size) {
          if (HexValue(c) < 0) state_ = State::kMalformed;
        }
        if (size.empty()) state_ = State::kMalformed;
        if (state_ != State::kRunning) break;
        if (size.size() > 15) {  // 2^60 and more: never a size we accept
          state_ = State::kTooLarge;
          break;
        }
        for (char c : size) n = n * 16 + static_cast<uint64_t>(HexValue(c));
        line_.clear();
        if (n > max_body_bytes_ - decoded_) {
          state_ = State::kTooLarge;
          break;
        }
        remaining_ = n;
        step_ = n == 0 ? Step::kTrailer : Step::kData;
        break;
      }
      case Step::kData: {
        size_t take =
            static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        body.append(rest.data(), take);
        used += take;
        remaining_ -= take;
        decoded_ += take;
        if (remaining_ == 0) step_ = Step::kDataEnd;
        break;
      }
      case Step::kDataEnd: {
        // The CRLF after the data (a bare LF is accepted too).
        char c = rest.front();
        ++used;
        if (c == '\r' && !saw_cr_) {
          saw_cr_ = true;
        } else if (c == '\n') {
          saw_cr_ = false;
          step_ = Step::kSize;
        } else {
          state_ = State::kMalformed;  // data longer than its size
        }
        break;
      }
      case Step::kTrailer: {
        bool complete = false;
        size_t take = TakeLine(rest, line_, complete);
        used += take;
        trailer_bytes_ += take;
        if (trailer_bytes_ > kMaxTrailerBytes) {
          state_ = State::kMalformed;
          break;
        }
        if (!complete) break;
        if (line_.empty()) {
          state_ = State::kDone;
        }
        line_.clear();
        break;
      }
    }
  }
  return used;
}

RequestReader::RequestReader(const RequestLimits& limits)
    : limits_(limits), max_body_bytes_(limits.max_body_bytes) {}

void RequestReader::Fail(int status, std::string_view code,
                         std::string message) {
  state_ = State::kError;
  wants_continue_ = false;
  error_ = RequestError{status, code, std::move(message)};
}

size_t RequestReader::Feed(std::string_view in) {
  size_t used = 0;
  if (!in.empty()) started_ = true;
  while (used < in.size() && state_ == State::kHead) {
    std::string_view rest = in.substr(used);
    bool complete = false;
    size_t nl = rest.find('\n');
    size_t take = nl == std::string_view::npos ? rest.size() : nl + 1;
    // Bytes that would pass the head budget are refused before they are
    // stored.
    if (head_bytes_ + take > limits_.max_head_bytes) {
      if (!request_line_seen_) {
        Fail(414, "invalid_field", "request URI too long");
      } else {
        Fail(431, "headers_too_large",
             "request headers larger than " +
                 std::to_string(limits_.max_head_bytes) + " bytes");
      }
      return used;
    }
    size_t consumed = TakeLine(rest, line_, complete);
    used += consumed;
    head_bytes_ += consumed;
    if (!complete) break;
    std::string line = std::move(line_);
    line_.clear();
    ParseLine(line);
  }
  if (state_ == State::kBody) {
    std::string_view rest = in.substr(used);
    if (chunked_) {
      size_t before = body_.size();
      used += chunked_decoder_->Feed(rest, body_);
      body_received_ += body_.size() - before;
      switch (chunked_decoder_->state()) {
        case ChunkedDecoder::State::kRunning:
          break;
        case ChunkedDecoder::State::kDone:
          Finish();
          break;
        case ChunkedDecoder::State::kTooLarge:
          Fail(413, "payload_too_large",
               "request body larger than " + std::to_string(max_body_bytes_) +
                   (streamed_
                        ? " bytes (MEDIA_MAX_BYTES and its multipart framing)"
                        : " bytes (MAX_BODY_BYTES)"));
          break;
        case ChunkedDecoder::State::kMalformed:
          Fail(400, "invalid_field", "malformed chunked request body");
          break;
      }
    } else {
      size_t take = static_cast<size_t>(
          std::min<uint64_t>(length_ - body_received_, rest.size()));
      body_.append(rest.data(), take);
      body_received_ += take;
      used += take;
      if (body_received_ == length_) Finish();
    }
  }
  return used;
}

void RequestReader::ParseLine(std::string_view line) {
  if (!request_line_seen_) {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    if (line.empty()) return;
    ParseRequestLine(line);
    return;
  }
  if (line.empty()) {
    EndOfHead();
    return;
  }
  ParseHeader(line);
}

void RequestReader::ParseRequestLine(std::string_view line) {
  request_line_seen_ = true;
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    Fail(400, "invalid_field", "malformed HTTP request line");
    return;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    Fail(400, "invalid_field", "unsupported HTTP version");
    return;
  }
  for (char c : method) {
    if (!IsTokenChar(c)) {
      Fail(400, "invalid_field", "malformed HTTP request line");
      return;
    }
  }
  if (target.size() > limits_.max_target_bytes) {
    Fail(414, "invalid_field", "request URI too long");
    return;
  }
  if (std::find(kRoutedMethods.begin(), kRoutedMethods.end(), method) ==
      kRoutedMethods.end()) {
    Fail(405, "method_not_allowed", "method not allowed on this server");
    return;
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (limits_.body_limit) max_body_bytes_ = limits_.body_limit(method, path);
  if (limits_.streamed_body_limit) {
    if (std::optional<uint64_t> limit =
            limits_.streamed_body_limit(method, path)) {
      streamed_ = true;
      max_body_bytes_ = *limit;
    }
  }
  body_method_ = method == "POST" || method == "PUT" || method == "PATCH" ||
                 method == "DELETE";
  canonical_.append(line);
  canonical_.append("\r\n");
}

void RequestReader::ParseHeader(std::string_view line) {
  if (++headers_ > limits_.max_headers) {
    Fail(431, "headers_too_large",
         "more than " + std::to_string(limits_.max_headers) +
             " request headers");
    return;
  }
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    Fail(400, "invalid_field", "malformed HTTP header line");
    return;
  }
  std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!IsTokenChar(c)) {  // also refuses obsolete line folding
      Fail(400, "invalid_field", "malformed HTTP header line");
      return;
    }
  }
  std::string_view value = Trim(line.substr(colon + 1));
  if (IsReservedBodyHeader(name)) return;  // the server's own: never forged
  if (streamed_ && IEquals(name, "Content-Type")) {
    content_type_ = value;
    return;  // written back as X-Dynoguard-Body-Content-Type by Finish
  }
  if (IEquals(name, "Content-Length")) {
    uint64_t n = 0;
    if (!ParseContentLength(value, n) || (has_length_ && n != length_)) {
      Fail(400, "invalid_field", "invalid Content-Length");
      return;
    }
    has_length_ = true;
    length_ = n;
    return;  // written back by EndOfHead
  }
  if (IEquals(name, "Transfer-Encoding")) {
    if (!IEquals(value, "chunked") || chunked_) {
      Fail(400, "invalid_field",
           "unsupported Transfer-Encoding (only chunked is accepted)");
      return;
    }
    chunked_ = true;
    return;  // decoded here: httplib sees a Content-Length
  }
  if (IEquals(name, "Expect")) {
    if (IEquals(value, "100-continue")) expect_continue_ = true;
    return;  // answered here
  }
  canonical_.append(name);
  canonical_.append(": ");
  canonical_.append(value);
  canonical_.append("\r\n");
}

void RequestReader::EndOfHead() {
  if (chunked_ && has_length_) {
    // RFC 9112 §6.3: a sender must not send both; refusing is the safe side
    // (request smuggling).
    Fail(400, "invalid_field",
         "both Content-Length and Transfer-Encoding given");
    return;
  }
  if (has_length_ && length_ > max_body_bytes_) {
    Fail(413, "payload_too_large",
         "request body larger than " + std::to_string(max_body_bytes_) +
             (streamed_ ? " bytes (MEDIA_MAX_BYTES and its multipart framing)"
                        : " bytes (MAX_BODY_BYTES)"));
    return;
  }
  state_ = State::kBody;
  if (chunked_) chunked_decoder_.emplace(max_body_bytes_);
  bool body_to_come = chunked_ || (has_length_ && length_ > 0);
  wants_continue_ = expect_continue_ && body_to_come;
  if (!chunked_ && !has_length_ && !body_method_ && !streamed_) {
    head_end_ = canonical_.size();
    canonical_.append("\r\n");
    state_ = State::kDone;
    return;
  }
  if (!chunked_ && length_ == 0) Finish();
}

void RequestReader::Finish() {
  wants_continue_ = false;
  if (streamed_) {
    // The body went to the caller; the handler learns of it from headers.
    canonical_.append(kBodyBytesHeader);
    canonical_.append(": ");
    canonical_.append(std::to_string(body_received_));
    canonical_.append("\r\n");
    if (!content_type_.empty()) {
      canonical_.append(kBodyContentTypeHeader);
      canonical_.append(": ");
      canonical_.append(content_type_);
      canonical_.append("\r\n");
    }
    canonical_.append("Content-Length: 0\r\n");
    head_end_ = canonical_.size();
    canonical_.append("\r\n");
    state_ = State::kDone;
    return;
  }
  canonical_.append("Content-Length: ");
  canonical_.append(std::to_string(body_.size()));
  canonical_.append("\r\n");
  head_end_ = canonical_.size();
  canonical_.append("\r\n");
  canonical_.append(body_);
  body_.clear();
  body_.shrink_to_fit();
  state_ = State::kDone;
}

std::string RequestReader::TakeCanonical(std::string_view extra_headers) {
  if (!extra_headers.empty() && head_end_ <= canonical_.size()) {
    canonical_.insert(head_end_, extra_headers);
  }
  return std::move(canonical_);
}

std::string_view RequestReader::header(std::string_view name,
                                       bool* found) const {
  if (found) *found = false;
  std::string_view head = canonical_;
  if (state_ == State::kDone) head = head.substr(0, head_end_);
  // Skip the request line; then one "Name: value\r\n" per header.
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    pos += 2;
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) break;
    std::string_view line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        IEquals(line.substr(0, colon), name)) {
      if (found) *found = true;
      return Trim(line.substr(colon + 1));
    }
    pos = end;
  }
  return {};
}

}  // namespace dynoguard::worker::http_server
