#include "worker/http/server/streamed_body.h"

#include <algorithm>

#include "worker/http/server/request_reader.h"

namespace dynoguard::worker::http_server {

std::optional<uint64_t> StreamedBodyLimit(uint64_t media_max_bytes,
                                          std::string_view method,
                                          std::string_view path) {
  if (size_t query = path.find('?'); query != std::string_view::npos) {
    path = path.substr(0, query);
  }
  if (method == "POST" && path == "/api/media") {
    return media_max_bytes + kMultipartAllowanceBytes;
  }
  return std::nullopt;
}

std::optional<StreamedBody> StreamedBodyOf(const httplib::Request& req) {
  const std::string file_header(kBodyFileHeader);
  if (!req.has_header(file_header)) return std::nullopt;
  StreamedBody body;
  body.path = req.get_header_value(file_header);
  uint64_t bytes = 0;
  if (!ParseContentLength(req.get_header_value(std::string(kBodyBytesHeader)),
                          bytes)) {
    return std::nullopt;
  }
  body.bytes = bytes;
  body.content_type = req.get_header_value(std::string(kBodyContentTypeHeader));
  return body;
}

bool IsReservedBodyHeader(std::string_view name) {
  if (name.size() < kReservedHeaderPrefix.size()) return false;
  for (size_t i = 0; i < kReservedHeaderPrefix.size(); ++i) {
    char a = name[i], b = kReservedHeaderPrefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::chrono::steady_clock::time_point StreamedBodyDeadline(
    std::chrono::steady_clock::time_point started,
    std::chrono::steady_clock::time_point last_progress, uint64_t received,
    const StreamedBodyTimes& times) {
  const uint64_t rate = std::max<uint64_t>(1, times.min_bytes_per_s);
  // received <= 2^63 / 1000 for any body we accept; cap to be safe.
  const uint64_t earned_ms =
      std::min<uint64_t>(received, uint64_t{1} << 40) * 1000 / rate;
  auto by_rate = started + times.request_timeout +
                 std::chrono::milliseconds(static_cast<int64_t>(earned_ms));
  auto by_stall = last_progress + times.stall_timeout;
  return std::min(by_rate, by_stall);
}

}  // namespace dynoguard::worker::http_server
