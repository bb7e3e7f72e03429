#include "worker/http/api_error.h"

#include "common/json_writer.h"

namespace dynoguard::worker {
std::string ErrorJson(std::string_view code, std::string_view message,
                      std::string_view field) {
  common::JsonWriter j;
  j.StartObject().Key("error").StartObject();
  j.Key("code").String(code);
  j.Key("message").String(message);
  if (!field.empty()) j.Key("field").String(field);
  j.EndObject().EndObject();
  return j.str();
}

void SendError(httplib::Response& res, int http_status, std::string_view code,
               std::string_view message, std::string_view field) {
  res.status = http_status;
  if ((code == api_error::kMemoryPressure || code == api_error::kUnavailable) &&
      !res.has_header("Retry-After")) {
    res.set_header("Retry-After", std::to_string(kMemoryPressureRetryAfterS));
  }
  res.set_content(ErrorJson(code, message, field), "application/json");
}

std::string_view ErrorCodeForStatus(int http_status) {
  switch (http_status) {
    case 401:
      return api_error::kUnauthorized;
    case 403:
      return api_error::kForbidden;
    case 404:
      return api_error::kNotFound;
    case 405:
      return api_error::kMethodNotAllowed;
    case 413:
      return api_error::kPayloadTooLarge;
    case 503:
      return api_error::kUnavailable;
    default:
      break;
  }
  if (http_status >= 500) return api_error::kInternal;
  // 400 (malformed request line or headers), 414 (URI too long), 416, …: the
  // request itself is at fault.
  return api_error::kInvalidField;
}

bool HasJsonBody(const httplib::Response& res) {
  if (res.body.empty()) return false;
  return res.get_header_value("Content-Type").starts_with("application/json");
}

}  // namespace dynoguard::worker
