#include "worker/model/provider_error.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

namespace dynoguard::worker {
namespace {

TEST_CASE("ClassifyGraphError retries the transient Graph codes",
          "[provider_error]") {
  for (int code : {1, 2, 4, 80007, 130429, 131000, 131016, 131056}) {
    INFO("code " << code);
    ProviderError error = ClassifyGraphError(400, code, "boom");
    CHECK(error.retryable);
    CHECK(error.code == std::to_string(code));
    CHECK(error.message == "boom");
  }
}

TEST_CASE("ClassifyGraphError fails the permanent Graph codes",
          "[provider_error]") {
  for (int code : {131047, 131026, 100, 131008, 131009, 132000, 132001}) {
    INFO("code " << code);
    ProviderError error = ClassifyGraphError(400, code, "no");
    CHECK_FALSE(error.retryable);
    CHECK(error.code == std::to_string(code));
  }
}

TEST_CASE("ClassifyGraphError fails unknown Graph codes", "[provider_error]") {
  CHECK_FALSE(ClassifyGraphError(400, 131051, "unsupported type").retryable);
  CHECK_FALSE(ClassifyGraphError(403, 10, "permission").retryable);
  CHECK_FALSE(ClassifyGraphError(400, 0, "").retryable);
}

TEST_CASE("ClassifyGraphError retries any HTTP 5xx without a permanent code",
          "[provider_error]") {
  for (int status : {500, 502, 503, 504, 599}) {
    INFO("status " << status);
    ProviderError error = ClassifyGraphError(status, 0, "");
    CHECK(error.retryable);
    CHECK(error.code == "http_" + std::to_string(status));
    CHECK_FALSE(error.message.empty());
  }
  CHECK(ClassifyGraphError(500, 131051, "odd").retryable);
  // A permanent code stays permanent: retrying cannot help.
  CHECK_FALSE(ClassifyGraphError(500, 131047, "window closed").retryable);
}

TEST_CASE("ClassifyGraphError: 4xx without a code fails, except 408 and 429",
          "[provider_error]") {
  CHECK_FALSE(ClassifyGraphError(400, 0, "").retryable);
  CHECK_FALSE(ClassifyGraphError(404, 0, "").retryable);
  CHECK(ClassifyGraphError(408, 0, "").retryable);
  CHECK(ClassifyGraphError(429, 0, "").retryable);
}

TEST_CASE("ClassifyGraphError retries when no HTTP answer came back",
          "[provider_error]") {
  ProviderError error = ClassifyGraphError(0, 0, "connect timeout");
  CHECK(error.retryable);
  CHECK(error.code == "network_error");
  CHECK(error.message == "connect timeout");
}

TEST_CASE("IsPerRecipientThrottle is true for 131056 only",
          "[provider_error]") {
  CHECK(IsPerRecipientThrottle(
      ClassifyGraphError(400, 131056, "pair rate limit")));
  CHECK_FALSE(
      IsPerRecipientThrottle(ClassifyGraphError(400, 130429, "throughput")));
  CHECK_FALSE(IsPerRecipientThrottle(ClassifyGraphError(503, 0, "")));
}

TEST_CASE("ParseGraphErrorBody reads a real Graph error body",
          "[provider_error]") {
  const std::string body = R"({
    "error": {
      "message": "(#131047) Re-engagement message",
      "type": "OAuthException",
      "code": 131047,
      "error_data": {
        "messaging_product": "whatsapp",
        "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
      },
      "error_subcode": 2494010,
      "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
    }
  })";
  ProviderError error = ParseGraphErrorBody(400, body);
  CHECK(error.code == "131047");
  CHECK_FALSE(error.retryable);
  CHECK(error.message.find("(#131047) Re-engagement message") == 0);
  CHECK(error.message.find("more than 24 hours") != std::string::npos);
}

TEST_CASE("ParseGraphErrorBody classifies a retryable Graph body",
          "[provider_error]") {
  const std::string body =
      R"({"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit",)"
      R"("type":"OAuthException","code":131056,"error_data":{"messaging_product":"whatsapp",)"
      R"("details":"Message failed to send because there were too many messages sent from this )"
      R"(phone number to the same phone number in a short period of time."},)"
      R"("fbtrace_id":"A1b2C3"}})";
  ProviderError error = ParseGraphErrorBody(400, body);
  CHECK(error.code == "131056");
  CHECK(error.retryable);
  CHECK(IsPerRecipientThrottle(error));

  ProviderError token = ParseGraphErrorBody(
      401,
      R"({"error":{"message":"Error validating access token: Session has expired.",)"
      R"("type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"x"}})");
  CHECK(token.code == "190");
  // Paused, not failed: the message waits for a fixed token.
  CHECK(token.retryable);
  CHECK(ActionOf(token) == ProviderAction::kPauseAll);
  CHECK(token.message == "Error validating access token: Session has expired.");
}

TEST_CASE(
    "ParseGraphErrorBody falls back to the HTTP status for non-JSON bodies",
    "[provider_error]") {
  ProviderError bad_gateway =
      ParseGraphErrorBody(502, "<html><body>Bad Gateway</body></html>");
  CHECK(bad_gateway.code == "http_502");
  CHECK(bad_gateway.retryable);
  CHECK(bad_gateway.message.find("Bad Gateway") != std::string::npos);

  ProviderError not_found = ParseGraphErrorBody(404, "Not Found\n");
  CHECK(not_found.code == "http_404");
  CHECK_FALSE(not_found.retryable);
  CHECK(not_found.message.find('\n') == std::string::npos);

  ProviderError empty = ParseGraphErrorBody(400, "");
  CHECK(empty.code == "http_400");
  CHECK_FALSE(empty.retryable);
  CHECK(empty.message == "HTTP 400");
}

TEST_CASE("ParseGraphErrorBody survives a body nested millions deep",
          "[provider_error]") {
  ProviderError deep =
      ParseGraphErrorBody(500, std::string(4'000'000, '[') + "]");
  CHECK(deep.code == "http_500");
  CHECK(deep.retryable);
}

TEST_CASE("ParseGraphErrorBody survives garbage and odd shapes",
          "[provider_error]") {
  const std::string long_body(10000, 'x');
  CHECK(ParseGraphErrorBody(500, long_body).message.size() < 300);
  CHECK(ParseGraphErrorBody(400, "{\"error\":").code == "http_400");
  CHECK(ParseGraphErrorBody(400, "[1,2,3]").code == "http_400");
  CHECK(ParseGraphErrorBody(400, R"({"error":"string"})").code == "http_400");
  CHECK(ParseGraphErrorBody(400, R"({"error":{"code":"131047"}})").code ==
        "http_400");
  CHECK(
      ParseGraphErrorBody(400, R"({"error":{"code":1.5,"message":7}})").code ==
      "http_400");
  CHECK(ParseGraphErrorBody(400, R"({"error":{"code":99999999999999}})").code ==
        "http_400");
  CHECK(ParseGraphErrorBody(400, R"({"error":{"code":4,"error_data":[]}})")
            .code == "4");
  CHECK(ParseGraphErrorBody(400, std::string("\0\xff\xfe{", 4)).code ==
        "http_400");
  // A message-less Graph error still says something.
  ProviderError bare = ParseGraphErrorBody(400, R"({"error":{"code":100}})");
  CHECK(bare.code == "100");
  CHECK_FALSE(bare.message.empty());
}

struct ActionRow {
  int http_status;
  int graph_code;
  ProviderAction action;
  std::string_view reason;  // PauseReason, empty unless paused
};

// SPEC §5's table, with the HTTP statuses Meta documents for each code.
constexpr ActionRow kActionTable[] = {
    {400, 1, ProviderAction::kRetry, ""},
    {503, 2, ProviderAction::kRetry, ""},
    {400, 4, ProviderAction::kRetry, ""},
    {400, 80007, ProviderAction::kRetry, ""},
    {400, 130429, ProviderAction::kRetry, ""},
    {500, 131000, ProviderAction::kRetry, ""},
    {500, 131016, ProviderAction::kRetry, ""},
    {502, 0, ProviderAction::kRetry, ""},
    {503, 0, ProviderAction::kRetry, ""},
    {408, 0, ProviderAction::kRetry, ""},
    {429, 0, ProviderAction::kRetry, ""},
    {0, 0, ProviderAction::kRetry, ""},
    {400, 131056, ProviderAction::kSlowRecipient, ""},
    {401, 190, ProviderAction::kPauseAll, "token_invalid"},
    {500, 190, ProviderAction::kPauseAll, "token_invalid"},
    {401, 0, ProviderAction::kPauseAll, "token_invalid"},
    {403, 368, ProviderAction::kPauseAll, "account_blocked"},
    {400, 131048, ProviderAction::kPauseAll, "spam_rate_limited"},
    {403, 131031, ProviderAction::kPauseAll, "account_locked"},
    {400, 131042, ProviderAction::kPauseAll, "payment_issue"},
    {400, 131047, ProviderAction::kFail, ""},
    {503, 131047, ProviderAction::kFail, ""},
    {400, 131026, ProviderAction::kFail, ""},
    {400, 100, ProviderAction::kFail, ""},
    {400, 131008, ProviderAction::kFail, ""},
    {400, 131009, ProviderAction::kFail, ""},
    {400, 132000, ProviderAction::kFail, ""},
    {404, 132001, ProviderAction::kFail, ""},
    {400, 131051, ProviderAction::kFail, ""},
    {403, 10, ProviderAction::kFail, ""},
    {400, 0, ProviderAction::kFail, ""},
    {404, 0, ProviderAction::kFail, ""},
};

TEST_CASE("ClassifyGraphError follows SPEC §5's action table",
          "[provider_error]") {
  for (const ActionRow& row : kActionTable) {
    INFO("http " << row.http_status << " code " << row.graph_code);
    ProviderError error =
        ClassifyGraphError(row.http_status, row.graph_code, "m");
    CHECK(ToString(ActionOf(error)) == ToString(row.action));
    CHECK(PauseReason(error) == row.reason);
    // retryable stays the old callers' view: everything but kFail comes back.
    CHECK(error.retryable == (row.action != ProviderAction::kFail));
    CHECK(IsPerRecipientThrottle(error) ==
          (row.action == ProviderAction::kSlowRecipient));
  }
}

TEST_CASE("ParseGraphErrorBody follows the action table too",
          "[provider_error]") {
  for (const ActionRow& row : kActionTable) {
    if (row.graph_code == 0) continue;
    INFO("http " << row.http_status << " code " << row.graph_code);
    std::string body = R"({"error":{"message":"x","type":"OAuthException",)"
                       R"("code":)" +
                       std::to_string(row.graph_code) +
                       R"(,"fbtrace_id":"AbC"}})";
    ProviderError error = ParseGraphErrorBody(row.http_status, body);
    CHECK(error.code == std::to_string(row.graph_code));
    CHECK(ToString(ActionOf(error)) == ToString(row.action));
    CHECK(PauseReason(error) == row.reason);
  }
}

TEST_CASE("ParseGraphErrorBody: an explicit code 0 (AuthException) pauses",
          "[provider_error]") {
  ProviderError error = ParseGraphErrorBody(
      401, R"({"error":{"message":"(#0) AuthException","code":0}})");
  CHECK(error.code == "0");
  CHECK(ActionOf(error) == ProviderAction::kPauseAll);
  CHECK(PauseReason(error) == "token_invalid");
  CHECK(error.retryable);
}

TEST_CASE("ActionOf falls back to retryable for codes it did not build",
          "[provider_error]") {
  CHECK(ActionOf(ProviderError{"provider_failed", "x", true}) ==
        ProviderAction::kRetry);
  CHECK(ActionOf(ProviderError{"provider_failed", "x", false}) ==
        ProviderAction::kFail);
  CHECK(ActionOf(ProviderError{"", "", false}) == ProviderAction::kFail);
  CHECK(ActionOf(ProviderError{"http_", "", true}) == ProviderAction::kRetry);
  CHECK(ActionOf(ProviderError{"-190", "", false}) == ProviderAction::kFail);
  CHECK(ActionOf(ProviderError{"99999999999", "", false}) ==
        ProviderAction::kFail);
  CHECK(ToString(ProviderAction::kSlowRecipient) == "slow_recipient");
  CHECK(ToString(ProviderAction::kPauseAll) == "pause_all");
}

}  // namespace
}  // namespace dynoguard::worker
