// EventSinks: where every event the gateway hears ends up — the one place
// that joins the inbound path (InboundProcessor's sinks), the transport's own
// reports (TransportEvents: the sandbox's receipts, connection changes), the
// dispatcher's answers (sent, failed) and the parts they touch: the queue
// (statuses, never backwards; the chat history reads them from there) and
// the forwarding outbox (SPEC §5's events, when WEBHOOK_URL is set; without
// it nothing is written there and the chat history, on disk, is where the
// events stay visible).
//
// Thread-safe: the processor thread calls the sinks, the loop thread the
// TransportEvents methods and OnDispatched; every part it borrows is
// thread-safe.
#ifndef DYNOGUARD_WORKER_APP_EVENT_SINKS_H_
#define DYNOGUARD_WORKER_APP_EVENT_SINKS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/status.h"
#include "worker/forward/event_outbox.h"
#include "worker/inbound/inbound_processor.h"
#include "worker/model/inbound_event.h"
#include "worker/outbound/dispatcher.h"
#include "worker/outbound/message_queue.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

class EventSinks : public TransportEvents {
 public:
  struct Parts {
    MessageQueue* queue = nullptr;    // required
    EventOutbox* outbox = nullptr;    // null: no WEBHOOK_URL, no forwarding
    std::string session = "default";  // SESSION_NAME, in every event
    std::function<int64_t()> now_ms;  // required: ms since the epoch
    // A new event is in the outbox (Forwarder::Wake); thread-safe.
    std::function<void()> wake_forwarder;
    // The connection state changed (the worker wakes the dispatcher and
    // refreshes STATUS=); loop thread.
    std::function<void(ConnectionState, std::string_view)> on_connection;
  };

  EventSinks(const common::Logger& log, Parts parts);

  // The InboundProcessor's sinks, bound to this object (which must outlive
  // the processor).
  InboundSinks Sinks();

  // An inbound message: its forwarded event (durable when OK).
  common::Status OnMessage(const WebhookMessage& message);
  // A delivery status: applied to the queue and, when it moved our message
  // forward, forwarded naming our id (a
  // late or repeated one changes nothing and is not forwarded: the
  // provider's `sent` after the dispatcher's own is dropped). A wamid the
  // queue does not know (another app on the same number, a message pruned,
  // or one whose MarkSent has not committed yet) is forwarded with
  // "messageId": null. Errors: the queue's or the outbox's.
  common::Status OnStatusEvent(const WebhookStatus& status);
  // The dispatcher's answer to one send (Dispatcher::Options::before_record,
  // loop thread): kSent → a `sent` status event with the wamid; kFailed → a
  // `failed` one with the error (providerId null); kRetry → nothing (the
  // message is still on its way). Called before the queue records the answer,
  // and safe to call again for the same answer: the event id is derived from
  // our message id and the status, so a repeat is stored once. Errors: the
  // outbox's (nothing stored).
  common::Status OnDispatched(DispatchResult outcome,
                              const SendRequest& request,
                              const SendResult& result);
  // An account-level error Meta reported: logged (no event shape for it).
  common::Status OnError(const WebhookError& error);

  // TransportEvents (loop thread).
  void OnInbound(const InboundMessage& message) override;
  void OnStatus(const StatusUpdate& update) override;
  void OnConnection(ConnectionState state, std::string_view reason) override;

  // The newest inbound message's time (its provider timestamp), 0: none.
  int64_t last_inbound_ms() const { return last_inbound_ms_.load(); }

 private:
  common::Status Forward(const ForwardEvent& event);

  const common::Logger& log_;
  const Parts parts_;
  std::atomic<int64_t> last_inbound_ms_{0};
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_EVENT_SINKS_H_
