// ForwardEvent: one event for the user's bot (SPEC §5 "Events forwarded to
// WEBHOOK_URL") — an inbound message, a delivery status (the provider's
// webhook, or the dispatcher's own answer: sent, failed) or a connection
// change — with its JSON body already built, and the pure builders that make
// it. Message and status events have deterministic ids (the same inbound
// twice, or the same send answer recorded twice, gives the same event), so
// the outbox stores and delivers it once.
//
// Shape of `json` (compact, one object):
//   {"id","type","timestamp"(ms),"session", …} and one of
//   "message":{"id","from","type","text"?,"media"?{"id","mimeType",
//              "caption"?,"filename"?},"context"?{"id"},"raw"}
//   "status":{"messageId"(ours, null when unknown),"providerId"(null for a
//             send that failed before the provider took it),"status",
//             "error"?{"code","message","retryable"}}
//   "connection":{"state","reason"?}
#ifndef DYNOGUARD_WORKER_FORWARD_FORWARD_EVENT_H_
#define DYNOGUARD_WORKER_FORWARD_FORWARD_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "worker/model/inbound_event.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// SESSION_NAME's default (SPEC §3).
inline constexpr std::string_view kDefaultSessionName = "default";

// A value type.
struct ForwardEvent {
  std::string id;    // "evt_" + 24 lowercase hex
  std::string type;  // "message", "status" or "connection"
  // The ordering key: the contact's wa_id (a message's sender, a status's
  // recipient); events of one chat are delivered strictly in order. Empty for
  // connection events (and a status without a recipient): they form one line
  // of their own.
  std::string chat;
  int64_t timestamp_ms = 0;  // when it happened (the provider's time)
  std::string json;          // the POST body
};

// "evt_" + 24 hex of SHA-256("message:" + wamid): a message event's id.
// Thread-safe, pure.
std::string MessageEventId(std::string_view provider_message_id);
// "evt_" + 24 hex of SHA-256("status:" + wamid + ":" + status).
std::string StatusEventId(std::string_view provider_message_id,
                          std::string_view status);
// "evt_" + 24 hex of SHA-256("send:" + our message id + ":" + status): the id
// of a status event the dispatcher's answer makes (BuildSendStatusEvent). Our
// ids ("msg_…") and the provider's ("wamid.…") never meet in one input, so it
// never equals a StatusEventId. Thread-safe, pure.
std::string SendStatusEventId(std::string_view our_message_id,
                              std::string_view status);
// "evt_" + 24 hex from the kernel's CSPRNG (getrandom); for connection
// events. Thread-safe.
std::string RandomEventId();

// The event for one inbound message. `raw` is message.raw_json embedded as a
// JSON value (re-serialized compactly); "raw":null when raw_json is empty or
// not valid JSON (the event is still forwarded: losing the raw object beats
// losing the message). `text` is left out when empty, `media` and `context`
// when absent. Thread-safe, pure.
ForwardEvent BuildMessageEvent(const WebhookMessage& message,
                               std::string_view session = kDefaultSessionName);

// The event for one delivery status of a message we sent; `our_message_id`
// is our "msg_…" id when the status matched one of our messages ("messageId":
// null otherwise). The timestamp is the status's own. Thread-safe, pure.
ForwardEvent BuildStatusEvent(const WebhookStatus& status,
                              const std::optional<std::string>& our_message_id,
                              std::string_view session = kDefaultSessionName);

// What the dispatcher made of one send, as its status event tells it.
// A value type.
struct SendReport {
  std::string message_id;  // ours ("msg_…")
  std::string to;          // the recipient: the event's chat
  // kSent: the provider accepted the message; kFailed: a dead letter (a
  // non-retryable code, or the retries used up).
  MessageStatus status = MessageStatus::kSent;
  std::string provider_id;  // kSent: the wamid; empty: "providerId": null
  std::optional<ProviderError> error;  // kFailed: as the queue keeps it
  int64_t at_ms = 0;                   // when the answer came back
};

// The status event for the dispatcher's answer to one send: the same
// "status" object as BuildStatusEvent's, naming our message, with the id
// SendStatusEventId(message_id, status) and the timestamp `at_ms`. Thread-
// safe, pure.
ForwardEvent BuildSendStatusEvent(
    const SendReport& report, std::string_view session = kDefaultSessionName);

// The event for a connection change at `now_ms`; "reason" is left out when
// empty. `id`: nullopt → RandomEventId() (a connection change has no
// provider id to derive one from). Thread-safe; pure when `id` is given.
ForwardEvent BuildConnectionEvent(
    ConnectionState state, std::string_view reason, int64_t now_ms,
    std::string_view session = kDefaultSessionName,
    std::optional<std::string> id = std::nullopt);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_FORWARD_FORWARD_EVENT_H_
