// HttpHeaders: an ordered list of HTTP header fields with case-insensitive
// lookup by name, as request and response headers are (RFC 9110 §5.1).
#ifndef DYNOGUARD_WORKER_NET_HTTP_HEADERS_H_
#define DYNOGUARD_WORKER_NET_HTTP_HEADERS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynoguard::worker {

// A value type; not thread-safe (as any std container).
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  HttpHeaders() = default;
  HttpHeaders(std::initializer_list<Field> fields) : fields_(fields) {}

  // Appends a field (a repeated name keeps every value, in order).
  void Add(std::string name, std::string value);
  // The value of the first field named `name` (any case); nullopt when none.
  // The view lives as long as this object is not modified.
  std::optional<std::string_view> Find(std::string_view name) const;
  // Every value of the fields named `name` (any case), in order.
  std::vector<std::string_view> FindAll(std::string_view name) const;
  bool Contains(std::string_view name) const { return Find(name).has_value(); }
  void Clear() { fields_.clear(); }

  const std::vector<Field>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }

 private:
  std::vector<Field> fields_;
};

// True when `a` and `b` are equal ignoring ASCII case.
bool HeaderNameEquals(std::string_view a, std::string_view b);

// Parses one raw header line as libcurl hands it over ("Name: value\r\n")
// into `headers`: trims the value, ignores the status line, blank lines and
// lines without a colon. Returns true when `line` is a status line
// ("HTTP/…"), so the caller can drop the headers of an interim (1xx) or
// redirect response seen before.
bool ParseHeaderLine(std::string_view line, HttpHeaders& headers);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_HTTP_HEADERS_H_
