#include "worker/net/http_headers.h"

namespace dynoguard::worker {
namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' ||
                        s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

void HttpHeaders::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> HttpHeaders::Find(std::string_view name) const {
  for (const Field& field : fields_) {
    if (HeaderNameEquals(field.first, name))
      return std::string_view(field.second);
  }
  return std::nullopt;
}

std::vector<std::string_view> HttpHeaders::FindAll(
    std::string_view name) const {
  std::vector<std::string_view> values;
  for (const Field& field : fields_) {
    if (HeaderNameEquals(field.first, name)) values.emplace_back(field.second);
  }
  return values;
}

bool ParseHeaderLine(std::string_view line, HttpHeaders& headers) {
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") return true;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = Trim(line.substr(0, colon));
  if (name.empty()) return false;
  headers.Add(std::string(name), std::string(Trim(line.substr(colon + 1))));
  return false;
}

}  // namespace dynoguard::worker
