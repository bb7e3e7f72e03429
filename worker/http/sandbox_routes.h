// The sandbox transport's helpers (SPEC §5), protected; 404 not_found when the
// sandbox is not in use: POST /api/sandbox/inbound {"from","text"} (a
// simulated user writing, through the same inbound path as a webhook; 202
// {"id"}), GET /api/sandbox/outbox ({"messages":[{"id","to","type","text",
// "sentAt","content"?}]}, oldest first; text is the summary, content the
// message's Cloud "<type>" object), POST /api/sandbox/fail {"count","code","message"?} (the next
// `count` sends fail with Graph error `code`: 131000 retryable, 131026 final).
#ifndef DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_

#include <httplib.h>

#include <cstdint>
#include <functional>

#include "worker/http/route.h"
#include "worker/inbound/event_router.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct SandboxRouteDeps {
  SandboxTransport* sandbox = nullptr;  // null unless TRANSPORT=sandbox
  EventRouter* events = nullptr;        // where simulated messages go
  std::function<int64_t()> now_ms;      // required: ms since the epoch
};

void InstallSandboxRoutes(httplib::Server& server, const RouteContext& context,
                          SandboxRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_SANDBOX_ROUTES_H_
