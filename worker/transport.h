// Transport: the seam between the worker and WhatsApp. The sandbox (an
// in-process simulated WhatsApp) implements it now; the Cloud API transport
// implements the same interface.
#ifndef DYNOGUARD_WORKER_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "worker/outbound_message.h"

namespace dynoguard::worker {

// What the dispatcher asks the transport to deliver (one message, already
// durable).
struct SendRequest {
  std::string
      message_id;  // our id ("msg_…"), for logs and idempotency at the provider
  std::string to;    // E.164 digits
  std::string text;  // text body, or empty for a template
  std::string
      template_json;     // {"name","language","components"?} as JSON, or empty
  std::string reply_to;  // wamid of the message replied to, or empty
};

// The provider's answer to one send.
struct SendResult {
  bool ok = false;
  std::string provider_id;  // wamid on success
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

// Connection states reported by /session-status (SPEC §5).
enum class ConnectionState {
  kStarting,
  kRestoring,
  kConnected,
  kReconnecting,
  kDisconnected
};
std::string_view ToString(ConnectionState state);

// Receives what the transport hears from WhatsApp. Implementations are
// thread-safe: events may arrive from the loop thread or an HTTP thread.
class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  virtual void OnInbound(const InboundMessage& message) = 0;
  virtual void OnStatus(const StatusUpdate& update) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // "sandbox" or "cloud".
  virtual std::string_view name() const = 0;
  virtual ConnectionState state() const = 0;

  // Delivers one message and returns the provider's answer. Blocking; the
  // dispatcher calls it from one thread at a time (single-flight), never from
  // the loop thread.
  virtual SendResult Send(const SendRequest& request) = 0;

  // Called on the loop thread periodically (and after each send): emits the
  // events that are due at `now_ms` (e.g. the sandbox's delivered/read
  // receipts) to `events`.
  virtual void Poll(int64_t now_ms, TransportEvents& events) = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_H_
