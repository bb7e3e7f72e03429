#include "worker/http/message_routes.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "worker/http/api_error.h"
#include "worker/http/http_server.h"
#include "worker/outbound/message_request.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;
using Json = common::JsonWriter;

constexpr int kDeadLettersShown = 20;

void WriteMessage(Json& j, const OutboundMessage& m) {
  j.StartObject();
  j.Key("id").String(m.id);
  j.Key("to").String(m.to);
  j.Key("type").String(EffectiveType(m.type, m.template_json));
  j.Key("status").String(ToString(m.status));
  j.Key("attempts").Int(m.attempts);
  if (!m.provider_id.empty()) j.Key("providerId").String(m.provider_id);
  // The provider's message_status when it accepted the message (accepted,
  // held_for_quality_assessment, paused).
  if (!m.provider_status.empty())
    j.Key("providerStatus").String(m.provider_status);
  if (m.error) {
    j.Key("error").StartObject();
    j.Key("code").String(m.error->code);
    j.Key("message").String(m.error->message);
    j.Key("retryable").Bool(m.error->retryable);
    j.EndObject();
  }
  j.EndObject();
}

class MessageRoutes {
 public:
  MessageRoutes(const RouteContext& context, MessageRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void PostMessage(const Request& req, Response& res);
  void GetMessage(const Request& req, Response& res);
  void Queue(const Request& req, Response& res);

 private:
  // Answers an Enqueue (or FindRepeat) result: 202 for a new message, 200
  // with the original's id and current status for a repeat, 422 conflict.
  void Answer(const MessageQueue::EnqueueResult& queued, Response& res);
  // Answers Enqueue's outcome: as Answer, or 503 when it failed.
  void AnswerEnqueued(const common::Result<MessageQueue::EnqueueResult>& queued,
                      Response& res);

  const RouteContext ctx_;
  const MessageRouteDeps d_;
};

void MessageRoutes::PostMessage(const Request& req, Response& res) {
  if (!RequireJsonBody(req, res)) return;
  if (d_.memory->under_pressure()) {
    SendError(res, 503, api_error::kMemoryPressure,
              "memory above the emergency threshold; new sends are refused "
              "until it is back under");
    return;
  }
  Parsed<NewMessage> parsed = ParseMessageRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  NewMessage& message = std::get<NewMessage>(parsed);
  const int64_t now_ms = d_.now_ms();
  if (message.type != "template" && d_.window_open &&
      !d_.window_open(message.to, now_ms)) {
    // Closed: nothing is queued. A repeat of a request that was queued while
    // the window was open still answers the original message.
    common::Result<std::optional<MessageQueue::EnqueueResult>> repeat =
        d_.queue->FindRepeat(message);
    if (!repeat.ok()) {
      ctx_.log->Error("queue-read-failed",
                      {{"error", repeat.status().ToString()}});
      SendError(res, 503, api_error::kUnavailable,
                "the message queue is unavailable; try again");
      return;
    }
    if (!repeat->has_value()) {
      SendError(res, 400, api_error::kInvalidField,
                "outside the 24-hour customer-service window of " + message.to +
                    ": only template messages can be sent until the contact "
                    "writes again",
                "to");
      return;
    }
    Answer(**repeat, res);
    return;
  }
  // On the server's request thread the answer is written once the group
  // commit is done, by the thread that led it: this thread goes on with
  // other requests instead of waiting for the fsync.
  std::shared_ptr<LaterAnswer> later = HttpServer::AnswerLater(req);
  if (later) {
    d_.queue->EnqueueLater(
        std::move(message), now_ms,
        [this, later](common::Result<MessageQueue::EnqueueResult> queued) {
          Response answer;
          try {
            AnswerEnqueued(queued, answer);
          } catch (const std::exception& e) {
            ctx_.log->Error("http-handler-failed",
                            {{"path", "/api/messages"}, {"error", e.what()}});
            answer = Response();
            SendError(answer, 500, api_error::kInternal, "internal error");
          }
          later->Send(answer);
        });
    return;
  }
  AnswerEnqueued(d_.queue->Enqueue(message, now_ms), res);
}

void MessageRoutes::AnswerEnqueued(
    const common::Result<MessageQueue::EnqueueResult>& queued, Response& res) {
  if (!queued.ok()) {
    ctx_.log->Error("enqueue-failed", {{"error", queued.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  Answer(*queued, res);
}

void MessageRoutes::Answer(const MessageQueue::EnqueueResult& queued,
                           Response& res) {
  if (queued.conflict) {
    SendError(res, 422, "conflict",
              "idempotencyKey was already used for a different request (" +
                  queued.id + "); use a new key for a new message",
              "idempotencyKey");
    return;
  }
  Json j;
  if (queued.created) {
    // One line per accepted message only when every request is logged: at
    // thousands a second it would be most of the log (the 202 has the id).
    if (ctx_.config->log_requests == common::LogRequests::kAll)
      ctx_.log->Info("queued", {{"id", queued.id}});
    j.StartObject()
        .Key("id")
        .String(queued.id)
        .Key("status")
        .String("queued")
        .EndObject();
    SendJson(res, 202, j);
    if (d_.wake_dispatcher) d_.wake_dispatcher();
    return;
  }
  // The idempotency key is known: report the original message as it is now.
  common::Result<std::optional<OutboundMessage>> existing =
      d_.queue->Get(queued.id);
  std::string_view status = "queued";
  if (existing.ok() && existing->has_value()) {
    status = ToString((*existing)->status);
  }
  j.StartObject()
      .Key("id")
      .String(queued.id)
      .Key("status")
      .String(status)
      .EndObject();
  SendJson(res, 200, j);
}

void MessageRoutes::GetMessage(const Request& req, Response& res) {
  std::string id = req.matches.size() > 1 ? req.matches[1].str() : "";
  common::Result<std::optional<OutboundMessage>> found = d_.queue->Get(id);
  if (!found.ok()) {
    ctx_.log->Error("queue-read-failed",
                    {{"error", found.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  if (!found->has_value()) {
    SendError(res, 404, api_error::kNotFound, "no message with this id");
    return;
  }
  Json j;
  WriteMessage(j, **found);
  SendJson(res, 200, j);
}

void MessageRoutes::Queue(const Request&, Response& res) {
  common::Result<QueueStats> stats = d_.queue->Stats();
  common::Result<std::vector<OutboundMessage>> dead =
      d_.queue->DeadLetters(kDeadLettersShown);
  if (!stats.ok() || !dead.ok()) {
    ctx_.log->Error(
        "queue read failed",
        {{"error", (!stats.ok() ? stats.status() : dead.status()).ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  // The next send starts when a queued message is due and the dispatcher's
  // pause (SEND_DELAY_MS, pacing) is over: the later of the two.
  std::optional<int64_t> next_send = stats->next_attempt_ms;
  if (next_send && d_.dispatcher_status) {
    DispatcherStatus dispatcher = d_.dispatcher_status();
    if (dispatcher.next_send_ms) {
      next_send = std::max(*next_send, *dispatcher.next_send_ms);
    }
  }
  Json j;
  j.StartObject();
  j.Key("depth").Int(stats->depth);
  j.Key("inFlight").Int(stats->in_flight);
  j.Key("nextSendAt");
  if (next_send) {
    j.Int(*next_send);
  } else {
    j.Null();
  }
  if (d_.dispatcher_status) {
    DispatcherStatus dispatcher = d_.dispatcher_status();
    j.Key("paused").Bool(dispatcher.paused);
    j.Key("pauseReason");
    if (dispatcher.paused && !dispatcher.pause_reason.empty()) {
      j.String(dispatcher.pause_reason);
    } else {
      j.Null();
    }
    j.Key("slowedRecipients").Uint(dispatcher.slowed_recipients);
  }
  // The forwarding outbox (WEBHOOK_URL), null when not forwarding.
  j.Key("forwarding");
  std::optional<OutboxStats> forwarding;
  if (d_.forwarding_stats) forwarding = d_.forwarding_stats();
  if (forwarding) {
    j.StartObject();
    j.Key("pending").Int(forwarding->pending);
    j.Key("deadLetters").Int(forwarding->dead);
    j.Key("delivered").Int(forwarding->delivered_total);
    // Which events died and why, newest first (the count above is all).
    j.Key("recentDeadLetters").StartArray();
    if (d_.forwarding_dead_letters) {
      auto recent = d_.forwarding_dead_letters(kDeadLettersShown);
      if (recent.ok()) {
        for (const StoredEvent& e : *recent) {
          j.StartObject();
          j.Key("id").String(e.event.id);
          j.Key("type").String(e.event.type);
          j.Key("chat").String(e.event.chat);
          j.Key("attempts").Int(e.attempts);
          j.Key("error").String(e.last_error);
          j.Key("failedAt").Int(e.updated_ms);
          j.EndObject();
        }
      } else {
        ctx_.log->Warn("outbox-read-failed",
                       {{"error", recent.status().ToString()}});
      }
    }
    j.EndArray();
    j.EndObject();
  } else {
    j.Null();
  }
  j.Key("deadLetters").StartObject();
  j.Key("count").Int(stats->dead_letters);
  j.Key("recent").StartArray();
  for (const OutboundMessage& m : *dead) WriteMessage(j, m);
  j.EndArray();
  j.EndObject();
  j.EndObject();
  SendJson(res, 200, j);
}

}  // namespace

void InstallMessageRoutes(httplib::Server& server, const RouteContext& context,
                          MessageRouteDeps deps) {
  auto routes = std::make_shared<MessageRoutes>(context, std::move(deps));
  AddRoute(server, context, "/api/messages", kPost, Access::kProtected,
           Bind(routes, &MessageRoutes::PostMessage));
  AddRoute(server, context, "/api/messages/([^/]+)", kGet, Access::kProtected,
           Bind(routes, &MessageRoutes::GetMessage));
  AddRoute(server, context, "/api/queue", kGet, Access::kProtected,
           Bind(routes, &MessageRoutes::Queue));
}

}  // namespace dynoguard::worker
