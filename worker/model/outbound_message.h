// Outbound messages: what POST /api/messages accepted, the record the durable
// queue keeps for it, and the status names the HTTP API shows (SPEC §5: queued,
// sending, sent, delivered, read, failed).
#ifndef DYNOGUARD_WORKER_MODEL_OUTBOUND_MESSAGE_H_
#define DYNOGUARD_WORKER_MODEL_OUTBOUND_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker {

// Where a message is in its life. Ours: queued → sending → sent (or back to
// queued for a retry, or failed as a dead letter). The provider's callbacks
// then move a sent message forward: sent → delivered → read, or failed.
enum class MessageStatus {
  kQueued,
  kSending,
  kSent,
  kDelivered,
  kRead,
  kFailed
};

// "queued", "sending", "sent", "delivered", "read", "failed".
std::string_view ToString(MessageStatus status);
// The inverse of ToString (exact, lowercase); nullopt for anything else.
std::optional<MessageStatus> ParseMessageStatus(std::string_view text);

// An error the provider (or the path to it) reported for one send.
struct ProviderError {
  std::string code;  // Graph error code as text ("131056"), or "http_<status>",
                     // "network_error"
  std::string message;  // human-readable, from the provider when it gave one
  bool retryable =
      false;  // true: try again later with backoff; false: dead letter

  friend bool operator==(const ProviderError&, const ProviderError&) = default;
};

// What POST /api/messages accepted (already validated).
//
// Every kind of SPEC §5 travels as `type` plus `content_json`, the Cloud API's
// own "<type>" object exactly as it is sent to Graph (for text
// {"body":"…","preview_url":true}, for a template the template object, for an
// image {"link":"…","caption":"…"}). `text` is the human-readable summary the
// outbox, the chat history and logs show (a text's body, a media caption, a
// reaction's emoji; empty when the kind has none). `template_json` repeats
// content_json for type "template" (older code reads it); empty otherwise.
// A record from before message kinds (type empty) is a text, or a template
// when template_json is set: EffectiveType() says which.
struct NewMessage {
  std::string to;             // E.164 digits
  std::string type = "text";  // text, template, image, document, audio, video,
                              // sticker, reaction, location, contacts,
                              // interactive
  std::string content_json;   // the "<type>" object, compact JSON
  std::string text;           // the summary (see above)
  std::string template_json;  // the "template" object as compact JSON, or empty
  std::string reply_to;       // wamid replied to, or empty
  std::string idempotency_key;  // empty: none
};

// One message as the queue stores it.
struct OutboundMessage {
  std::string id;  // "msg_" + 24 lowercase hex
  std::string to;
  std::string type = "text";  // as NewMessage
  std::string content_json;   // as NewMessage
  std::string text;
  std::string template_json;
  std::string reply_to;
  std::string idempotency_key;
  MessageStatus status = MessageStatus::kQueued;
  int attempts = 0;         // sends started (MarkSending calls)
  std::string provider_id;  // wamid once sent, else empty
  // The provider's message_status when it accepted the message ("accepted",
  // "held_for_quality_assessment", "paused"), else empty.
  std::string provider_status;
  std::optional<ProviderError> error;  // the last failure, cleared when sent
  int64_t next_attempt_ms =
      0;  // not sent before this time (ms since the epoch)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// The kind of a record: `type` when set, else "template" when template_json
// is set, else "text" (records written before message kinds).
std::string_view EffectiveType(std::string_view type,
                               std::string_view template_json);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_OUTBOUND_MESSAGE_H_
