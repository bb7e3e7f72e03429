#include "worker/app/event_sinks.h"

#include <utility>

#include "worker/forward/forward_event.h"

namespace dynoguard::worker {

EventSinks::EventSinks(const common::Logger& log, Parts parts)
    : log_(log), parts_(std::move(parts)) {}

InboundSinks EventSinks::Sinks() {
  InboundSinks sinks;
  sinks.on_message = [this](const WebhookMessage& m) { return OnMessage(m); };
  sinks.on_status = [this](const WebhookStatus& s) { return OnStatusEvent(s); };
  sinks.on_error = [this](const WebhookError& e) { return OnError(e); };
  return sinks;
}

common::Status EventSinks::Forward(const ForwardEvent& event) {
  if (parts_.outbox == nullptr) return common::Status::Ok();
  auto appended = parts_.outbox->Append(event, parts_.now_ms());
  if (!appended.ok()) return appended.status();
  if (appended.value() > 0 && parts_.wake_forwarder) parts_.wake_forwarder();
  return common::Status::Ok();
}

common::Status EventSinks::OnMessage(const WebhookMessage& message) {
  int64_t at = message.message.timestamp_ms;
  int64_t seen = last_inbound_ms_.load();
  while (at > seen && !last_inbound_ms_.compare_exchange_weak(seen, at)) {
  }
  return Forward(BuildMessageEvent(message, parts_.session));
}

common::Status EventSinks::OnStatusEvent(const WebhookStatus& status) {
  const StatusUpdate& u = status.update;
  auto change = parts_.queue->RecordProviderStatus(u.provider_id, u.status,
                                                   u.error, parts_.now_ms());
  if (!change.ok()) {
    // Not one of ours (another app on the same number), pruned, or ours but
    // its wamid not committed yet (Meta's webhook beat MarkSent): nothing to
    // move; the bot still hears of it, without our id (docs/http-api.md).
    if (change.status().code() == common::Status::Code::kNotFound)
      return Forward(BuildStatusEvent(status, std::nullopt, parts_.session));
    return change.status();
  }
  if (!change->changed) return common::Status::Ok();  // late or repeated
  return Forward(BuildStatusEvent(status, change->message_id, parts_.session));
}

common::Status EventSinks::OnDispatched(DispatchResult outcome,
                                        const SendRequest& request,
                                        const SendResult& result) {
  SendReport report;
  switch (outcome) {
    case DispatchResult::kSent:
      report.status = MessageStatus::kSent;
      report.provider_id = result.provider_id;
      break;
    case DispatchResult::kFailed:
      report.status = MessageStatus::kFailed;
      report.error = result.error;
      break;
    case DispatchResult::kRetry:
      return common::Status::Ok();
  }
  report.message_id = request.message_id;
  report.to = request.to;
  report.at_ms = parts_.now_ms();
  return Forward(BuildSendStatusEvent(report, parts_.session));
}

common::Status EventSinks::OnError(const WebhookError& error) {
  log_.Warn("webhook-error", {{"code", error.code},
                              {"title", error.title},
                              {"details", error.details}});
  return common::Status::Ok();
}

void EventSinks::OnInbound(const InboundMessage& message) {
  WebhookMessage m;
  m.message = message;
  m.type = "text";
  if (common::Status s = OnMessage(m); !s.ok()) {
    log_.Warn("forward-append-failed", {{"error", s.message()}});
  }
}

void EventSinks::OnStatus(const StatusUpdate& update) {
  WebhookStatus status;
  status.update = update;
  if (common::Status s = OnStatusEvent(status); !s.ok()) {
    log_.Warn("status-apply-failed",
              {{"provider_id", update.provider_id}, {"error", s.message()}});
  }
}

void EventSinks::OnConnection(ConnectionState state, std::string_view reason) {
  if (common::Status s = Forward(
          BuildConnectionEvent(state, reason, parts_.now_ms(), parts_.session));
      !s.ok()) {
    log_.Warn("forward-append-failed", {{"error", s.message()}});
  }
  if (parts_.on_connection) parts_.on_connection(state, reason);
}

}  // namespace dynoguard::worker
