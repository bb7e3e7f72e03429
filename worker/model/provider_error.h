// Provider errors: how a WhatsApp Cloud API (Graph API) failure is classified
// as retry-later or fail-now (SPEC §5). Pure functions of the HTTP status, the
// Graph error code and the body.
#ifndef DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_
#define DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_

#include <string_view>

#include "worker/model/outbound_message.h"

namespace dynoguard::worker {

// Classifies one failed send. `graph_code` is the Graph error's "code" (0 when
// the body had none); `http_status` is 0 when no HTTP answer came back (connect
// failure, timeout).
//
// The returned code is the Graph code as text when non-zero, else
// "http_<status>", else "network_error". Retryable: Graph codes 1, 2, 4, 80007,
// 130429, 131000, 131056 (throttles and transient provider faults); any HTTP
// 5xx, 408 or 429 that carries no permanent Graph code; no HTTP answer at all.
// Everything else fails the message, in particular 131047 (outside the 24-hour
// window), 131026 (undeliverable), 100 (invalid parameter), 190 (token), 368
// (blocked for policy) — these fail even when they come with a 5xx.
ProviderError ClassifyGraphError(int http_status, int graph_code,
                                 std::string_view message);

// True for 131056 (too many messages to one recipient): slow that recipient
// only, not the queue.
bool IsPerRecipientThrottle(const ProviderError& error);

// Parses a Graph API error body
//   {"error":{"message","type","code","error_subcode","fbtrace_id","error_data":{"details"}}}
// and classifies it with ClassifyGraphError. The message is error.message,
// followed by " (details)" when error_data.details adds something. A body that
// is not JSON or lacks a numeric error.code gives code "http_<status>" and a
// message quoting the start of the body. Never throws, never aborts, whatever
// the body.
ProviderError ParseGraphErrorBody(int http_status, std::string_view body);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_PROVIDER_ERROR_H_
