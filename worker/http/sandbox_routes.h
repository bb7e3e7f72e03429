// The sandbox transport's helpers (SPEC §5), protected; 404 not_found when the
// sandbox is not in use: POST /api/sandbox/inbound {"from","text"} or
// {"from","type":T,T:{…}} with "context":{"id"}? (a simulated user writing,
// validated by sandbox_inbound.h; committed to the inbox as the webhook body
// Meta would send, with a new id "wamid.sbx…", and handled by the same
// processor and sinks as a real webhook; 202 {"id"}), GET /api/sandbox/outbox
// ({"messages":[{"id","to","type","text","sentAt","content"?}]}, oldest
// first; text is the summary, content the message's Cloud "<type>" object),
// POST /api/sandbox/fail {"count","code","message"?} (the next `count` sends
// fail with Graph error `code`: 131000 retryable, 131026 final).
#ifndef DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_

#include <httplib.h>

#include <cstdint>
#include <functional>

#include "worker/http/route.h"
#include "worker/inbound/event_router.h"
#include "worker/inbound/inbound_store.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct SandboxRouteDeps {
  SandboxTransport* sandbox = nullptr;  // null unless TRANSPORT=sandbox
  // Where simulated messages go: the inbox, then the processor is woken.
  InboundStore* inbox = nullptr;
  std::function<void()> wake_processor;  // InboundProcessor::Wake
  // Only while `inbox` is null (until the gateway wires the inbox): the
  // older direct path through the transport's events.
  EventRouter* events = nullptr;
  std::function<int64_t()> now_ms;  // required: ms since the epoch
};

void InstallSandboxRoutes(httplib::Server& server, const RouteContext& context,
                          SandboxRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_
