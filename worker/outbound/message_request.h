// Message requests: validation of the JSON bodies clients POST to the HTTP API
// (SPEC §5) — a new outbound message, a simulated inbound message, a sandbox
// failure injection. Pure functions of the body text; no I/O.
#ifndef DYNOGUARD_WORKER_OUTBOUND_MESSAGE_REQUEST_H_
#define DYNOGUARD_WORKER_OUTBOUND_MESSAGE_REQUEST_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "worker/model/outbound_message.h"
#include "worker/outbound/message_kinds.h"
#include "worker/outbound/request_error.h"

namespace dynoguard::worker {

// Limits of the accepted fields (the per-kind ones are in message_kinds.h).
inline constexpr size_t kMaxReplyToLength = 256;
inline constexpr size_t kMaxIdempotencyKeyLength = 128;
// Deepest JSON nesting a request may have (template components need ~5,
// an interactive list 6).
inline constexpr size_t kMaxJsonDepth = 32;
inline constexpr size_t kMinPhoneDigits = 8;
inline constexpr size_t kMaxPhoneDigits = 15;  // E.164

// Validates a POST /api/messages body (SPEC §5) into a NewMessage:
//  - the body is a JSON object (valid UTF-8), else invalid_json; a string
//    that decodes to no valid UTF-8 (a lone surrogate escape) is an
//    invalid_field naming its path;
//  - "to": a string of 8–15 digits; one leading '+' is accepted and stripped;
//  - the kind: "type" (one of kMessageTypes, else invalid_field "type" listing
//    them) and the member of that name, the Cloud API's "<type>" object,
//    validated by ParseMessageContent (message_kinds.h); without "type", the
//    one kind member present decides ({"to","text":"…"},
//    {"to","template":{…}}, {"to","image":{…}}, …). Exactly one kind member:
//    none → invalid_field "text" (required), two → invalid_field naming the
//    second in kMessageTypes order. "text" may also be a plain string, the
//    shorthand, with optional "previewUrl": a boolean (only there);
//  - optional "replyTo" (our shorthand) or Cloud's "context":{"message_id"}:
//    a non-empty string of at most 256 characters, the wamid replied to (both
//    given: they must agree);
//  - optional "idempotencyKey": a string of 1–128 characters.
// The result: `type`, `content_json` (exactly what is sent as "<type>"),
// `text` (the summary: the text body, a caption, a reaction's emoji, a
// location's name, contacts' names, an interactive body; empty for a
// template), `template_json` (= content_json for a template, else empty),
// `reply_to`, `idempotency_key`. Unknown members are ignored; JSON null counts
// as absent. Each violation is an invalid_field naming the field's path.
Parsed<NewMessage> ParseMessageRequest(std::string_view body);

// A simulated user writing (POST /api/sandbox/inbound): {"from","text"},
// validated like "to" and "text" above.
struct InboundRequest {
  std::string from;  // digits, '+' stripped
  std::string text;
};
Parsed<InboundRequest> ParseInboundRequest(std::string_view body);

// Sandbox failure injection (POST /api/sandbox/fail):
// {"count":N (1–1000), "code":C (Graph error code, an integer ≥ 0),
//  "message"?: string}.
struct FailRequest {
  int count = 0;
  int code = 0;
  std::string message;
};
Parsed<FailRequest> ParseFailRequest(std::string_view body);

// `phone` without a leading '+' when it is 8–15 ASCII digits, else nullopt.
std::optional<std::string> NormalizePhoneNumber(std::string_view phone);

// The deepest nesting of arrays and objects in `text`, brackets inside
// strings not counted (a quick scan, no validation). Pure.
size_t JsonNestingDepth(std::string_view text);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_REQUEST_H_
