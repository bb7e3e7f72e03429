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

namespace dynoguard::worker {

// Limits of the accepted fields.
inline constexpr size_t kMaxTextCodePoints = 4096;  // WhatsApp's text limit
inline constexpr size_t kMaxReplyToLength = 256;
inline constexpr size_t kMaxIdempotencyKeyLength = 128;
// Deepest JSON nesting a request may have (template components need ~5).
inline constexpr size_t kMaxJsonDepth = 32;
inline constexpr size_t kMinPhoneDigits = 8;
inline constexpr size_t kMaxPhoneDigits = 15;  // E.164

// Why a body was refused: `code` is "invalid_json" (not a JSON object) or
// "invalid_field"; `field` names the offending field (dotted for nested ones,
// e.g. "template.name"), empty for invalid_json; `message` is for humans.
struct RequestError {
  std::string code;
  std::string field;
  std::string message;
};

template <typename T>
using Parsed = std::variant<T, RequestError>;

// Validates a POST /api/messages body:
//  - the body is a JSON object (valid UTF-8), else invalid_json;
//  - "to": a string of 8–15 digits; one leading '+' is accepted and stripped;
//  - exactly one of "text" (a string, not blank, at most 4096 code points) or
//    "template" (an object with a non-empty string "name", "language" as a
//    code string "en_US" or an object {"code":"en_US",…}, optional
//    "components" array). NewMessage::template_json is the compact template
//    in the Cloud API's form: {"name","language":{"code",…},"components"?}
//    (a language string becomes {"code":…}; other template members are
//    dropped);
//  - optional "replyTo": a non-empty string of at most 256 characters;
//  - optional "idempotencyKey": a string of 1–128 characters.
// Unknown members are ignored; JSON null counts as absent for the optional
// ones. Each violation is an invalid_field naming the field.
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

// The number of UTF-8 code points in `text` (continuation bytes are not
// counted). REQUIRES: `text` is valid UTF-8 (else the count is approximate).
size_t Utf8Length(std::string_view text);

// The deepest nesting of arrays and objects in `text`, brackets inside
// strings not counted (a quick scan, no validation). Pure.
size_t JsonNestingDepth(std::string_view text);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_REQUEST_H_
