#include "worker/http/server/request_log_policy.h"

namespace dynoguard::worker::http_server {

std::optional<common::LogLevel> RequestLogLevel(
    common::LogRequests policy, int status, std::chrono::milliseconds elapsed,
    std::chrono::milliseconds slow) {
  if (status >= 500 || elapsed > slow) return common::LogLevel::kWarn;
  if (policy == common::LogRequests::kAll) return common::LogLevel::kInfo;
  if (status >= 400) return common::LogLevel::kDebug;
  return std::nullopt;
}

}  // namespace dynoguard::worker::http_server
