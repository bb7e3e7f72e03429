#include "worker/model/provider_error.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <string>

namespace dynoguard::worker {

namespace {

// Graph codes that mean "try again later": 1 unknown/transient, 2 service
// unavailable, 4 app rate limit, 80007 WABA rate limit, 130429 throughput
// limit, 131000 something went wrong, 131056 pair rate limit (per recipient).
constexpr std::array<int, 7> kRetryableCodes = {1,      2,      4,     80007,
                                                130429, 131000, 131056};

// Graph codes that are permanent even when the HTTP status says 5xx: retrying
// cannot help. 131047 re-engagement (outside the 24-hour window), 131026
// undeliverable, 100 invalid parameter, 190 expired/invalid token, 368
// temporarily blocked for policy violations.
constexpr std::array<int, 5> kPermanentCodes = {131047, 131026, 100, 190, 368};

// Quoted in messages when the body is not a Graph error; enough to recognise an
// HTML error page.
constexpr size_t kMaxQuotedBody = 200;

bool Contains(const auto& codes, int code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

std::string StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// The Graph "code" as an int, or 0 when absent or not an integer in range.
int IntMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsInt()) return 0;
  return it->value.GetInt();
}

std::string DescribeBody(int http_status, std::string_view body) {
  std::string message = "HTTP " + std::to_string(http_status);
  if (body.empty()) return message;
  std::string quoted(body.substr(0, kMaxQuotedBody));
  // Keep the log line one line.
  std::replace_if(
      quoted.begin(), quoted.end(),
      [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  message += ": " + quoted;
  if (body.size() > kMaxQuotedBody) message += "...";
  return message;
}

}  // namespace

ProviderError ClassifyGraphError(int http_status, int graph_code,
                                 std::string_view message) {
  ProviderError error;
  error.message = std::string(message);
  if (graph_code != 0) {
    error.code = std::to_string(graph_code);
  } else if (http_status > 0) {
    error.code = "http_" + std::to_string(http_status);
  } else {
    error.code = "network_error";
  }

  if (Contains(kRetryableCodes, graph_code)) {
    error.retryable = true;
  } else if (Contains(kPermanentCodes, graph_code)) {
    error.retryable = false;
  } else if (http_status <= 0) {
    // No answer at all: the provider may be unreachable for a moment. Retrying
    // risks the one duplicate SPEC §7 allows (the provider took the send but
    // the answer was lost); not retrying would lose a message we answered 202
    // for.
    error.retryable = true;
  } else {
    error.retryable =
        http_status >= 500 || http_status == 408 || http_status == 429;
  }
  if (error.message.empty()) error.message = "provider error " + error.code;
  return error;
}

bool IsPerRecipientThrottle(const ProviderError& error) {
  return error.code == "131056";
}

ProviderError ParseGraphErrorBody(int http_status, std::string_view body) {
  rapidjson::Document document;
  // Iterative: a malformed or hostile body cannot recurse the stack away.
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError() || !document.IsObject()) {
    return ClassifyGraphError(http_status, 0, DescribeBody(http_status, body));
  }
  auto error_it = document.FindMember("error");
  if (error_it == document.MemberEnd() || !error_it->value.IsObject()) {
    return ClassifyGraphError(http_status, 0, DescribeBody(http_status, body));
  }
  const rapidjson::Value& error = error_it->value;

  std::string message = StringMember(error, "message");
  auto data_it = error.FindMember("error_data");
  if (data_it != error.MemberEnd() && data_it->value.IsObject()) {
    std::string details = StringMember(data_it->value, "details");
    if (!details.empty() && details != message) {
      message = message.empty() ? details : message + " (" + details + ")";
    }
  }
  if (message.empty()) message = DescribeBody(http_status, body);
  return ClassifyGraphError(http_status, IntMember(error, "code"), message);
}

}  // namespace dynoguard::worker
