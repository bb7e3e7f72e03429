// The message API (SPEC §5), protected:
//  - POST /api/messages → 202 {"id","status":"queued"} once durable. A
//    repeated idempotencyKey answers 200 with the existing message's id and
//    its current status and sends nothing; the same key with another body is
//    422 conflict. 400 invalid_field for a body message_request.h refuses,
//    and (the 24-hour rule) for any kind but a template to a contact whose
//    customer-service window is closed, checked before anything is queued.
//    503 memory_pressure with Retry-After while memory is above the emergency
//    threshold; 415 without a JSON Content-Type.
//  - GET /api/messages/{id} (404 not_found for an unknown id).
//  - GET /api/queue (depth, in flight, next send time, dead letters).
#ifndef DYNOGUARD_WORKER_HTTP_MESSAGE_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_MESSAGE_ROUTES_H_

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "worker/forward/event_outbox.h"
#include "worker/http/route.h"
#include "worker/memory/memory_manager.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct MessageRouteDeps {
  MessageQueue* queue = nullptr;          // required
  const MemoryManager* memory = nullptr;  // required: the pressure flag
  // Called after a message was queued, so the dispatcher looks at once.
  std::function<void()> wake_dispatcher;
  std::function<DispatcherStatus()> dispatcher_status;  // may be empty
  std::function<int64_t()> now_ms;  // required: ms since the epoch
  // The 24-hour customer-service window: true when `wa_id` (E.164 digits)
  // wrote within the last 24 hours at `now_ms`, so free-form messages may be
  // sent to it. Thread-safe (called on HTTP threads). Empty: no check.
  std::function<bool(std::string_view wa_id, int64_t now_ms)> window_open;
  // The forwarding outbox's figures for /api/queue; empty or nullopt: not
  // forwarding (WEBHOOK_URL unset) or unreadable. Thread-safe.
  std::function<std::optional<OutboxStats>()> forwarding_stats;
  // The outbox's most recent dead letters (at most `limit`), for /api/queue;
  // empty when not forwarding. Thread-safe.
  std::function<common::Result<std::vector<StoredEvent>>(int limit)>
      forwarding_dead_letters;
};

void InstallMessageRoutes(httplib::Server& server, const RouteContext& context,
                          MessageRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_MESSAGE_ROUTES_H_
