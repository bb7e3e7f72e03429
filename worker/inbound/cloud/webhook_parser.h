// Webhook parser: a Cloud API webhook body (POST /webhook, already signature-
// checked) into normalized events — inbound messages, delivery statuses and
// errors — for every entry and change of a batch. Pure: text in, values out.
#ifndef DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_PARSER_H_
#define DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_PARSER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/model/inbound_event.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// Deepest nesting a webhook body may have; deeper bodies are refused before
// parsing (Meta's own payloads stay under 10).
inline constexpr size_t kMaxWebhookDepth = 32;

// A part of a body in a shape we do not read, skipped alone.
struct MalformedWebhookPart {
  // Where it is: "entry[0]", "entry[0].changes[1]",
  // "entry[0].changes[1].value.messages[2]", or an array member that is not
  // an array ("entry[0].changes[1].value.statuses").
  std::string part;
  // What was wrong, from the part on: "text.body: missing", "not an object".
  std::string error;
};

// Everything one body carried, in body order (entries, then changes, then
// each array).
struct WebhookBatch {
  std::vector<WebhookMessage> messages;
  std::vector<WebhookStatus> statuses;
  std::vector<WebhookError> errors;
  // Changes of other fields (account_update, template status, …) and
  // statuses with a value we do not track ("deleted", "warning"): skipped.
  int skipped = 0;
  // The parts left out because of their shape, in body order.
  std::vector<MalformedWebhookPart> malformed;
};

// Parses `body`:
//  - a JSON object of valid UTF-8, nested at most kMaxWebhookDepth deep,
//    with "object": "whatsapp_business_account" and an "entry" array;
//  - each entry an object whose optional "changes" is an array of objects;
//    a change whose "field" is not "messages" is skipped;
//  - a "messages" change has a "value" object with an optional "metadata"
//    object and optional arrays "messages", "statuses", "errors";
//  - a message needs string "id", "from", "type" and a "timestamp" (Unix
//    seconds, as a string of digits or a number). Per type: text.body;
//    image/document/audio/video/sticker need an object with a string "id"
//    (mime_type, caption, filename optional) and give the caption as text;
//    interactive button_reply/list_reply and button give their title/text;
//    reaction gives its emoji and its message_id as context_id; location
//    gives its name, else its address (none: no text). context.id becomes
//    context_id. raw_json is the message object, compact;
//  - a status needs string "id", "status", "timestamp"; sent, delivered,
//    read and failed are kept (failed: the first errors[] entry becomes
//    `error`, code as text, not retryable), other values are skipped;
//  - an error needs an integer "code".
// Unknown members are ignored. A part of another shape — an entry, a change,
// one message, status or error, or a "messages"/"statuses"/"errors" member
// that is not an array — is left out alone and named in `malformed`
// ("entry[0].changes[1].value.messages[2]", "id: missing"); the rest of the
// batch is kept. Only a body that is not such an object at all (not JSON,
// too deep, not an object, another "object", no "entry" array) fails, with
// InvalidArgument. Never throws, never aborts. Thread-safe.
common::Result<WebhookBatch> ParseWebhook(std::string_view body);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_PARSER_H_
