// Provider errors: how a WhatsApp Cloud API (Graph API) failure is classified
// into what the dispatcher must do (SPEC §5): retry with backoff, slow one
// recipient, pause every send, or fail the message. Pure functions of the HTTP
// status, the Graph error code and the body.
#ifndef DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_
#define DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_

#include <string_view>

#include "worker/model/outbound_message.h"

namespace dynoguard::worker {

// What one failed send asks of the dispatcher (SPEC §5, "Cloud API
// specifics"):
//   kRetry         Graph codes 1, 2, 4, 80007, 130429, 131000, 131016; an
//                  HTTP 5xx, 408 or 429 with no code of the other classes; no
//                  HTTP answer at all. Retry with backoff and jitter.
//   kSlowRecipient 131056 (pair rate limit): that recipient only waits, 4^n
//                  seconds after the n-th hit; other recipients go on.
//   kPauseAll      0 and 190 (token invalid or expired; also HTTP 401 without
//                  a code), 368 and 131048 (blocked, spam-limited), 131031
//                  and 131042 (account locked, payment): every send waits,
//                  nothing fails, until a heartbeat succeeds again.
//   kFail          everything else, among them 131047 (outside the 24-hour
//                  window), 131026 (undeliverable), 100 (invalid parameter),
//                  131008, 131009, 132000, 132001: the message fails with the
//                  provider's code and message.
// The explicit code lists win over the HTTP status: a 190 with a 500 still
// pauses, a 131047 with a 503 still fails.
enum class ProviderAction { kRetry, kSlowRecipient, kPauseAll, kFail };

// "retry", "slow_recipient", "pause_all", "fail".
std::string_view ToString(ProviderAction action);

// The action for a ProviderError as the classifiers below build it (its
// `code` is the Graph code as text, "http_<status>" or "network_error").
// For codes not built here (hand-made errors, "provider_failed") the
// `retryable` flag decides: kRetry when set, else kFail.
ProviderAction ActionOf(const ProviderError& error);

// Why the queue is paused, for the connection state and logs: "token_invalid"
// (0, 190, HTTP 401), "account_blocked" (368), "spam_rate_limited" (131048),
// "account_locked" (131031), "payment_issue" (131042); empty when `error`
// does not pause.
std::string_view PauseReason(const ProviderError& error);

// Classifies one failed send. `graph_code` is the Graph error's "code" (0 when
// the body had none — use ParseGraphErrorBody to tell an explicit code 0
// apart); `http_status` is 0 when no HTTP answer came back (connect failure,
// timeout).
//
// The returned code is the Graph code as text when non-zero, else
// "http_<status>", else "network_error". `retryable` is true exactly when
// the action is not kFail: the message is sent again later (after a backoff,
// a recipient's slow-down or the end of a pause), never dead-lettered for
// this error.
ProviderError ClassifyGraphError(int http_status, int graph_code,
                                 std::string_view message);

// True for 131056 (too many messages to one recipient): slow that recipient
// only, not the queue. Same as ActionOf(error) == kSlowRecipient.
bool IsPerRecipientThrottle(const ProviderError& error);

// Parses a Graph API error body
//   {"error":{"message","type","code","error_subcode","fbtrace_id","error_data":{"details"}}}
// and classifies it like ClassifyGraphError; an explicit "code": 0
// (AuthException) gives code "0" and kPauseAll. The message is
// error.message, followed by " (details)" when error_data.details adds
// something. A body that is not JSON or lacks a numeric error.code gives code
// "http_<status>" and a message quoting the start of the body. Never throws,
// never aborts, whatever the body.
ProviderError ParseGraphErrorBody(int http_status, std::string_view body);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_
