// Sandbox inbound: POST /api/sandbox/inbound bodies (a simulated user
// writing) turned into what Meta would have sent — a Cloud API webhook body
// with one message — so the sandbox takes the same path as a real webhook
// from the inbox on (same parser, same processor, same sinks, same event
// shape for the bot). Pure.
#ifndef DYNOGUARD_WORKER_INBOUND_SANDBOX_INBOUND_H_
#define DYNOGUARD_WORKER_INBOUND_SANDBOX_INBOUND_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/outbound/message_request.h"

namespace dynoguard::worker {

// The phone_number_id the sandbox's webhook bodies carry in their metadata.
inline constexpr std::string_view kSandboxPhoneNumberId = "sandbox";

// A validated simulated message.
struct SandboxInbound {
  std::string from;         // digits, '+' stripped
  std::string type;         // "text", "image", "location", …
  std::string object_json;  // the Cloud "<type>" value, compact JSON
  std::string context_id;   // the wamid replied to, or empty
};

// Validates a POST /api/sandbox/inbound body:
//  - {"from","text"}: "from" 8–15 digits (one leading '+' stripped), "text"
//    a non-blank string of at most 4,096 characters (as today);
//  - or {"from","type":T,T:{…}} with the Cloud API's inbound object for T
//    (e.g. "image":{"id","mime_type"?,"caption"?}); "type":"text" also takes
//    "text":{"body"} (or the plain string);
//  - optional "context":{"id":"wamid…"} (a reply).
// The object's content is then checked by the webhook parser itself
// (SandboxWebhookBody below, ParseWebhook): what it refuses or would leave
// out as malformed is refused here too, as invalid_field naming the field
// ("image.id"), so a simulated message is never lost in the inbox. Unknown
// members are ignored.
Parsed<SandboxInbound> ParseSandboxInbound(std::string_view body);

// A new simulated message id: "wamid.sbx." followed by the time, a per
// process `nonce` (random at start, so ids of two runs differ) and a
// sequence number. Pure.
std::string SandboxMessageId(int64_t now_ms, uint64_t nonce, uint64_t sequence);

// The webhook body Meta would send for `message` with id `id`, received at
// `now_ms` (its timestamp in Unix seconds): one entry, one "messages"
// change, metadata.phone_number_id kSandboxPhoneNumberId, the contact's
// wa_id, and the message object {"from","id","timestamp","type",T,
// "context"?}. Pure.
std::string SandboxWebhookBody(const SandboxInbound& message,
                               std::string_view id, int64_t now_ms);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_SANDBOX_INBOUND_H_
