// The values that cross the transport seam: what is sent, what the provider
// answers, what it reports back (inbound messages, statuses) and the
// connection state. Below transport/, outbound/ and inbound/ alike.
#ifndef DYNOGUARD_WORKER_MODEL_TRANSPORT_TYPES_H_
#define DYNOGUARD_WORKER_MODEL_TRANSPORT_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "worker/model/outbound_message.h"
#include "worker/model/provider_error.h"

namespace dynoguard::worker {

// What the dispatcher asks the transport to deliver (one message, already
// durable).
struct SendRequest {
  std::string
      message_id;  // our id ("msg_…"), for logs and idempotency at the provider
  std::string to;             // E.164 digits
  std::string type = "text";  // the message kind (NewMessage::type)
  std::string content_json;   // the Cloud "<type>" object (NewMessage)
  std::string text;           // the summary (NewMessage::text)
  std::string
      template_json;     // {"name","language","components"?} as JSON, or empty
  std::string reply_to;  // wamid of the message replied to, or empty
};

// The provider's answer to one send.
struct SendResult {
  bool ok = false;
  std::string provider_id;  // wamid on success
  // The provider's message_status on success ("accepted",
  // "held_for_quality_assessment", "paused"); the sandbox says "accepted".
  std::string message_status;
  ProviderError error;  // on failure; `retryable` decides retry vs dead letter
};

// A user writing to the bot (a Cloud API webhook message, or the sandbox's
// simulated user).
struct InboundMessage {
  std::string id;  // provider message id; inbound events are deduplicated by it
  std::string from;  // E.164 digits
  std::string text;
  int64_t timestamp_ms = 0;
};

// A delivery status for a message we sent (sent → delivered → read, or failed).
struct StatusUpdate {
  std::string provider_id;
  MessageStatus status = MessageStatus::kSent;
  int64_t timestamp_ms = 0;
  std::optional<ProviderError> error;
};

// A file to upload as media (POST /api/media): already on disk, in
// DATA_DIR/tmp; the transport streams it and never holds it whole.
struct MediaUpload {
  std::string file_path;
  std::string mime_type;  // e.g. "image/jpeg"; required by the Cloud API
  std::string filename;   // as the client named it; may be empty
  uint64_t bytes = 0;
};

// The start of a media download's body (GET /api/media/{id}), handed over
// before its first byte.
struct MediaHead {
  std::string mime_type;  // from the provider; "application/octet-stream"
                          // when it gave none
  std::optional<uint64_t> bytes;  // the body's length, when announced
};

// Connection states reported by /session-status (SPEC §5).
enum class ConnectionState {
  kStarting,
  kRestoring,
  kConnected,
  kReconnecting,
  kDisconnected
};
std::string_view ToString(ConnectionState state);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_TRANSPORT_TYPES_H_
