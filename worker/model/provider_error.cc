#include "worker/model/provider_error.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>

namespace dynoguard::worker {

namespace {

// Graph codes that mean "try again later": 1 unknown/transient, 2 service
// unavailable, 4 app rate limit, 80007 WABA rate limit, 130429 throughput
// limit, 131000 something went wrong, 131016 service overloaded.
constexpr std::array<int, 7> kRetryCodes = {1,      2,      4,     80007,
                                            130429, 131000, 131016};

// The pair rate limit: one recipient got too many messages in a short time.
constexpr int kPairRateLimitCode = 131056;

// Graph codes that stop every send until the account or token is fixed;
// retrying each message or failing it would both be wrong (SPEC §5).
struct PauseCode {
  int code;
  std::string_view reason;
};
constexpr std::array<PauseCode, 6> kPauseCodes = {{
    {0, "token_invalid"},           // AuthException
    {190, "token_invalid"},         // access token expired or invalid
    {368, "account_blocked"},       // temporarily blocked for policy
    {131048, "spam_rate_limited"},  // spam rate limit hit
    {131031, "account_locked"},     // business account locked
    {131042, "payment_issue"},      // business eligibility / payment
}};

// Graph codes that fail the message even when the HTTP status says 5xx:
// retrying cannot help. 131047 re-engagement (outside the 24-hour window),
// 131026 undeliverable, 100 invalid parameter, 131008 required parameter
// missing, 131009 parameter value invalid, 132000 template parameter count,
// 132001 template does not exist.
constexpr std::array<int, 7> kFailCodes = {131047, 131026, 100,   131008,
                                           131009, 132000, 132001};

constexpr std::string_view kTokenReason = "token_invalid";

// Quoted in messages when the body is not a Graph error; enough to recognise an
// HTML error page.
constexpr size_t kMaxQuotedBody = 200;

bool Contains(const auto& codes, int code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

const PauseCode* FindPause(int code) {
  for (const PauseCode& pause : kPauseCodes) {
    if (pause.code == code) return &pause;
  }
  return nullptr;
}

// The action for an optional Graph code and an HTTP status (0: no answer).
ProviderAction Decide(int http_status, std::optional<int> graph_code) {
  if (graph_code) {
    if (*graph_code == kPairRateLimitCode)
      return ProviderAction::kSlowRecipient;
    if (Contains(kRetryCodes, *graph_code)) return ProviderAction::kRetry;
    if (FindPause(*graph_code) != nullptr) return ProviderAction::kPauseAll;
    if (Contains(kFailCodes, *graph_code)) return ProviderAction::kFail;
  }
  // No answer at all: the provider may be unreachable for a moment. Retrying
  // risks the one duplicate SPEC §7 allows (the provider took the send but the
  // answer was lost); not retrying would lose a message we answered 202 for.
  if (http_status <= 0) return ProviderAction::kRetry;
  if (http_status >= 500 || http_status == 408 || http_status == 429) {
    return ProviderAction::kRetry;
  }
  // A 401 without a Graph code is still a refused token.
  if (http_status == 401 && !graph_code) return ProviderAction::kPauseAll;
  return ProviderAction::kFail;
}

ProviderError Build(int http_status, std::optional<int> graph_code,
                    std::string_view message) {
  ProviderError error;
  error.message = std::string(message);
  if (graph_code) {
    error.code = std::to_string(*graph_code);
  } else if (http_status > 0) {
    error.code = "http_" + std::to_string(http_status);
  } else {
    error.code = "network_error";
  }
  error.retryable = Decide(http_status, graph_code) != ProviderAction::kFail;
  if (error.message.empty()) error.message = "provider error " + error.code;
  return error;
}

// Digits only, no sign, fits an int.
std::optional<int> ParseCode(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::string StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// The Graph "code" as an int, or nullopt when absent or not an integer in
// range.
std::optional<int> IntMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsInt()) return std::nullopt;
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

std::string_view ToString(ProviderAction action) {
  switch (action) {
    case ProviderAction::kRetry:
      return "retry";
    case ProviderAction::kSlowRecipient:
      return "slow_recipient";
    case ProviderAction::kPauseAll:
      return "pause_all";
    case ProviderAction::kFail:
      return "fail";
  }
  return "fail";
}

ProviderAction ActionOf(const ProviderError& error) {
  std::string_view code = error.code;
  if (code == "network_error") return ProviderAction::kRetry;
  if (code.starts_with("http_")) {
    std::optional<int> status = ParseCode(code.substr(5));
    if (status) return Decide(*status, std::nullopt);
  } else if (std::optional<int> graph = ParseCode(code)) {
    // The HTTP status is not kept; a Graph code outside every list was
    // classified by its status, which `retryable` recorded.
    ProviderAction action = Decide(400, graph);
    if (action == ProviderAction::kFail && error.retryable) {
      return ProviderAction::kRetry;
    }
    return action;
  }
  return error.retryable ? ProviderAction::kRetry : ProviderAction::kFail;
}

std::string_view PauseReason(const ProviderError& error) {
  if (ActionOf(error) != ProviderAction::kPauseAll) return "";
  std::optional<int> graph = ParseCode(error.code);
  if (graph) {
    if (const PauseCode* pause = FindPause(*graph)) return pause->reason;
  }
  return kTokenReason;  // HTTP 401 without a code
}

ProviderError ClassifyGraphError(int http_status, int graph_code,
                                 std::string_view message) {
  return Build(http_status,
               graph_code != 0 ? std::optional<int>(graph_code) : std::nullopt,
               message);
}

bool IsPerRecipientThrottle(const ProviderError& error) {
  return ActionOf(error) == ProviderAction::kSlowRecipient;
}

ProviderError ParseGraphErrorBody(int http_status, std::string_view body) {
  rapidjson::Document document;
  // Iterative: a malformed or hostile body cannot recurse the stack away.
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError() || !document.IsObject()) {
    return Build(http_status, std::nullopt, DescribeBody(http_status, body));
  }
  auto error_it = document.FindMember("error");
  if (error_it == document.MemberEnd() || !error_it->value.IsObject()) {
    return Build(http_status, std::nullopt, DescribeBody(http_status, body));
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
  return Build(http_status, IntMember(error, "code"), message);
}

}  // namespace dynoguard::worker
