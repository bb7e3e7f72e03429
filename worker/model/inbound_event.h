// Inbound events as the Cloud API reports them, normalized: one inbound
// message with its kind, media and context, one delivery status and whom it
// was for, one account-level error. The webhook parser makes them from a
// Cloud API body, the sandbox from a simulated user; the inbound path, the
// forwarding outbox and the chat history take them from there on.
#ifndef DYNOGUARD_WORKER_MODEL_INBOUND_EVENT_H_
#define DYNOGUARD_WORKER_MODEL_INBOUND_EVENT_H_

#include <optional>
#include <string>

#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// An error Meta reports in value.errors (system or account problems not tied
// to one message).
struct WebhookError {
  int code = 0;
  std::string title;
  std::string message;
  std::string details;  // error_data.details, empty when absent
};

// One inbound message with what the Cloud API adds to the transport seam's
// InboundMessage (kept as is: its users brace-initialize it).
struct WebhookMessage {
  InboundMessage message;  // id, from, text, timestamp_ms. text: the text, a
                           // media caption, a reply's title, a reaction's
                           // emoji, a location's name (else its address);
                           // empty when the type has none
  // "text", "image", "document", "audio", "video", "sticker", "location",
  // "contacts", "reaction", "interactive", "button", "order",
  // "unsupported", … as Meta sent it.
  std::string type;
  // For image/document/audio/video/sticker: the provider's media.
  struct Media {
    std::string id;         // Graph media id, resolved by GET /{media-id}
    std::string mime_type;  // empty when not given
    std::optional<std::string> caption;
    std::optional<std::string> filename;  // documents
  };
  std::optional<Media> media;
  // The message this one replies to or reacts to (wamid), empty otherwise.
  std::string context_id;
  // The provider's own message object, compact JSON (SPEC §5 "raw").
  std::string raw_json;
  // The change's metadata.phone_number_id: the business number written to;
  // empty when absent.
  std::string phone_number_id;
};

// One delivery status and whom it was for.
struct WebhookStatus {
  StatusUpdate update;          // a failed status's first error in update.error
  std::string recipient_id;     // empty when absent
  std::string phone_number_id;  // as for WebhookMessage
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_INBOUND_EVENT_H_
