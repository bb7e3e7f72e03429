// The worker's HTTP API routes (SPEC §5): health, session status, cleanup,
// metrics, the message API, the sandbox helpers and the debug ballast.
// Handlers borrow the worker's parts through ApiDeps; every handler answers
// JSON (errors in the shape of worker/api_error.h) and never throws.
//
// Route summary (auth = API_KEY, or loopback only when no key is set):
//   GET  /health                   public; 200 while serving
//   GET  /session-status           public
//   GET|POST /cleanup?level=standard|emergency     auth
//   GET  /metrics                  public; Prometheus text
//   POST /api/messages             auth; 202 {"id","status":"queued"} once
//        durable. A repeated idempotencyKey answers 200 (not 202) with the
//        existing message's id and its current status, and sends nothing.
//        503 memory_pressure (Retry-After: 5) while memory is above the
//        emergency threshold. Content-Type must be absent or JSON (415
//        otherwise: a browser cannot send JSON cross-site without a CORS
//        preflight, so loopback-only mode is not open to CSRF).
//   GET  /api/messages/{id}        auth; 404 not_found for an unknown id
//   GET  /api/queue                auth
//   POST /api/sandbox/inbound      auth; sandbox transport only (else 404)
//   GET  /api/sandbox/outbox       auth; sandbox transport only
//   POST /api/sandbox/fail         auth; sandbox transport only: the next
//        `count` sends fail with Graph error `code` — how tests make sends
//        fail or retry: {"count":2,"code":131000} (retryable),
//        {"count":1,"code":131026} (final).
//   GET|POST|DELETE /debug/ballast auth; DEBUG_ENDPOINTS only (else 404):
//        ?mb=N grows the ballast by N MiB (1–4096; &pinned=1: a leak no
//        cleanup frees, only a release or a restart), DELETE or ?release=1
//        releases it, no parameter reports it; answers {"ballastMb"}.
//   POST /debug/stall?ms=N         auth; DEBUG_ENDPOINTS only: the event loop
//        (sends, timers, WATCHDOG=1) blocks for N ms (1–600000) while HTTP
//        keeps answering, as in a hung worker; 202 {"stallMs":N}.
// Another method on a known path answers 405 method_not_allowed with Allow.
#ifndef DYNOGUARD_WORKER_HTTP_HTTP_API_H_
#define DYNOGUARD_WORKER_HTTP_HTTP_API_H_

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/config.h"
#include "common/log.h"
#include "worker/inbound/event_router.h"
#include "worker/memory/ballast.h"
#include "worker/memory/cleanup_runner.h"
#include "worker/memory/memory_manager.h"
#include "worker/metrics/metrics.h"
#include "worker/model/runtime_status.h"
#include "worker/outbound/message_queue.h"
#include "worker/transport/sandbox/sandbox_transport.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// What the handlers use. Pointers are borrowed and must outlive the server;
// every part is thread-safe (handlers run on the server's pool threads).
struct ApiDeps {
  const common::Config* config = nullptr;  // required
  const common::Logger* log = nullptr;     // required
  MessageQueue* queue = nullptr;           // required
  MemoryManager* memory = nullptr;         // required
  Metrics* metrics = nullptr;              // required
  // The cleanup path SIGUSR1/SIGUSR2 use too; null: one is made from
  // `memory`, `log` and `metrics` (the same class, the same behaviour).
  CleanupRunner* cleanup = nullptr;
  SandboxTransport* sandbox = nullptr;  // null unless TRANSPORT=sandbox
  EventRouter* events = nullptr;        // where simulated inbound messages go
  Ballast* ballast = nullptr;           // null unless DEBUG_ENDPOINTS
  // Called after a message was queued, so the dispatcher looks at once.
  std::function<void()> wake_dispatcher;
  // Blocks the worker's event loop for the given time (DEBUG_ENDPOINTS only,
  // else empty): /debug/stall, a hung worker for watchdog tests.
  std::function<void(std::chrono::milliseconds)> stall_loop;
  std::function<SessionStatus()> session_status;        // required
  std::function<DispatcherStatus()> dispatcher_status;  // may be empty
  std::function<int64_t()> now_ms;  // required: ms since the epoch
  std::chrono::system_clock::time_point started =
      std::chrono::system_clock::now();  // for /health's uptime
};

// Installs every route above on `server`. REQUIRES: the required members of
// `deps` are set; called before the server serves.
void InstallRoutes(httplib::Server& server, ApiDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_HTTP_API_H_
