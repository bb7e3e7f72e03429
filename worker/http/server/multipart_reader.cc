#include "worker/http/server/multipart_reader.h"

#include <utility>
#include <vector>

namespace dynoguard::worker::http_server {
namespace {

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
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

// One `key=value` parameter of a header value (after the first ';').
struct Param {
  std::string key;  // lower case
  std::string value;
};

// Splits `value` ("form-data; name=\"a;b\"; filename=x") into its first
// token and its parameters; quoted strings may hold ';' and \-escapes.
// False when a quoted string is not closed.
bool SplitParams(std::string_view value, std::string& first,
                 std::vector<Param>& params) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  size_t semi = value.find(';');
  first = std::string(Trim(value.substr(0, semi)));
  if (semi == std::string_view::npos) return true;
  i = semi + 1;
  while (i < value.size()) {
    skip_ws();
    size_t key_start = i;
    while (i < value.size() && value[i] != '=' && value[i] != ';') ++i;
    Param p;
    for (char c : Trim(value.substr(key_start, i - key_start)))
      p.key += Lower(c);
    if (i < value.size() && value[i] == '=') {
      ++i;
      skip_ws();
      if (i < value.size() && value[i] == '"') {
        ++i;
        bool closed = false;
        while (i < value.size()) {
          char c = value[i++];
          if (c == '\\' && i < value.size()) {
            p.value += value[i++];
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            p.value += c;
          }
        }
        if (!closed) return false;
        while (i < value.size() && value[i] != ';') ++i;
      } else {
        size_t v_start = i;
        while (i < value.size() && value[i] != ';') ++i;
        p.value = std::string(Trim(value.substr(v_start, i - v_start)));
      }
    }
    if (i < value.size() && value[i] == ';') ++i;
    if (!p.key.empty()) params.push_back(std::move(p));
  }
  return true;
}

bool IsBoundaryChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  std::string type;
  std::vector<Param> params;
  if (!SplitParams(content_type, type, params)) return std::nullopt;
  if (!IEquals(type, "multipart/form-data")) return std::nullopt;
  for (const Param& p : params) {
    if (p.key != "boundary") continue;
    const std::string& b = p.value;
    if (b.empty() || b.size() > 70 || b.back() == ' ') return std::nullopt;
    for (char c : b) {
      if (!IsBoundaryChar(c)) return std::nullopt;
    }
    return b;
  }
  return std::nullopt;
}

MultipartReader::MultipartReader(std::string_view boundary)
    : delimiter_("\r\n--" + std::string(boundary)),
      // The first delimiter may open the body without a CRLF before it.
      buf_("\r\n") {}

void MultipartReader::Fail(std::string message) {
  state_ = State::kError;
  error_ = std::move(message);
  buf_.clear();
}

bool MultipartReader::ParseHeaderLine(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    Fail("malformed part header in the multipart body");
    return false;
  }
  std::string_view name = Trim(line.substr(0, colon));
  std::string_view value = Trim(line.substr(colon + 1));
  if (IEquals(name, "Content-Disposition")) {
    std::string first;
    std::vector<Param> params;
    if (!SplitParams(value, first, params)) {
      Fail("malformed Content-Disposition in the multipart body");
      return false;
    }
    for (Param& p : params) {
      if (p.key == "name") {
        head_.name = std::move(p.value);
      } else if (p.key == "filename") {
        head_.filename = std::move(p.value);
        head_.has_filename = true;
      }
    }
  } else if (IEquals(name, "Content-Type")) {
    head_.content_type = std::string(value);
  }
  return true;
}

void MultipartReader::Feed(std::string_view in, MultipartSink& sink) {
  if (state_ != State::kRunning) return;
  if (step_ == Step::kEpilogue) {
    return;
  }
  buf_.append(in);
  std::string sink_error;
  // Bytes kept back at the end of buf_ because they may begin a delimiter.
  const size_t keep = delimiter_.size() - 1;
  size_t pos = 0;  // consumed prefix of buf_
  while (state_ == State::kRunning) {
    std::string_view rest = std::string_view(buf_).substr(pos);
    if (step_ == Step::kPreamble) {
      size_t at = rest.find(delimiter_);
      if (at == std::string_view::npos) {
        if (rest.size() > keep) pos += rest.size() - keep;
        break;
      }
      pos += at + delimiter_.size();
      step_ = Step::kAfterDelimiter;
    } else if (step_ == Step::kAfterDelimiter) {
      if (rest.size() < 2) break;
      if (rest.starts_with("--")) {
        step_ = Step::kEpilogue;
        state_ = State::kDone;
        buf_.clear();
        return;
      }
      // Optional padding (spaces, tabs), then CRLF.
      size_t eol = rest.find("\r\n");
      if (eol == std::string_view::npos) {
        if (rest.size() > 256) Fail("malformed boundary line in the body");
        break;
      }
      if (!Trim(rest.substr(0, eol)).empty()) {
        Fail("malformed boundary line in the multipart body");
        break;
      }
      pos += eol + 2;
      step_ = Step::kHeaders;
      head_ = {};
      head_bytes_ = 0;
    } else if (step_ == Step::kHeaders) {
      size_t eol = rest.find("\r\n");
      if (eol == std::string_view::npos) {
        if (head_bytes_ + rest.size() > kMaxPartHeadBytes) {
          Fail("part headers larger than " + std::to_string(kMaxPartHeadBytes) +
               " bytes");
        }
        break;
      }
      head_bytes_ += eol + 2;
      if (head_bytes_ > kMaxPartHeadBytes) {
        Fail("part headers larger than " + std::to_string(kMaxPartHeadBytes) +
             " bytes");
        break;
      }
      std::string_view line = rest.substr(0, eol);
      pos += eol + 2;
      if (line.empty()) {
        if (!sink.OnPart(head_, sink_error)) {
          Fail(sink_error);
          break;
        }
        step_ = Step::kData;
      } else if (!ParseHeaderLine(line)) {
        break;
      }
    } else if (step_ == Step::kData) {
      size_t at = rest.find(delimiter_);
      if (at == std::string_view::npos) {
        if (rest.size() > keep) {
          size_t n = rest.size() - keep;
          if (!sink.OnData(rest.substr(0, n), sink_error)) {
            Fail(sink_error);
            break;
          }
          pos += n;
        }
        break;
      }
      if (at > 0 && !sink.OnData(rest.substr(0, at), sink_error)) {
        Fail(sink_error);
        break;
      }
      if (!sink.OnPartEnd(sink_error)) {
        Fail(sink_error);
        break;
      }
      pos += at + delimiter_.size();
      step_ = Step::kAfterDelimiter;
    } else {
      break;
    }
  }
  if (state_ == State::kRunning) buf_.erase(0, pos);
}

void MultipartReader::Finish() {
  if (state_ != State::kRunning) return;
  Fail("multipart body truncated before its closing boundary");
}

}  // namespace dynoguard::worker::http_server
