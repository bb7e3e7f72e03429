#include "worker/http/body_limit.h"

#include <algorithm>

namespace dynoguard::worker {

uint64_t BodyLimitFor(uint64_t max_body_bytes, std::string_view method,
                      std::string_view path) {
  if (size_t query = path.find('?'); query != std::string_view::npos) {
    path = path.substr(0, query);
  }
  if (method == "POST" && path == "/api/messages") {
    return std::max(max_body_bytes, kMessageBodyBytes);
  }
  if (method == "POST" && path == "/webhook") {
    return std::max(max_body_bytes, kWebhookBodyBytes);
  }
  return max_body_bytes;
}

uint64_t LargestBodyLimit(uint64_t max_body_bytes) {
  return std::max({max_body_bytes, kMessageBodyBytes, kWebhookBodyBytes});
}

}  // namespace dynoguard::worker
