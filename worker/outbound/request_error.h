// RequestError: why the HTTP API refused a request body, as the validators of
// message_request.h and message_kinds.h report it (SPEC §5's error shape).
#ifndef DYNOGUARD_WORKER_OUTBOUND_REQUEST_ERROR_H_
#define DYNOGUARD_WORKER_OUTBOUND_REQUEST_ERROR_H_

#include <string>
#include <utility>
#include <variant>

namespace dynoguard::worker {

// `code` is "invalid_json" (not a JSON object) or "invalid_field"; `field`
// names the offending field as a path (dotted for members, [i] for array
// elements: "template.name", "interactive.action.buttons[3]"), empty for
// invalid_json; `message` is for humans and never contains a secret.
struct RequestError {
  std::string code;
  std::string field;
  std::string message;
};

// A validated value or the reason it was refused.
template <typename T>
using Parsed = std::variant<T, RequestError>;

// An invalid_field error.
inline RequestError FieldError(std::string field, std::string message) {
  return RequestError{"invalid_field", std::move(field), std::move(message)};
}

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_REQUEST_ERROR_H_
