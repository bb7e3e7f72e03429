// GET /dashboard (SPEC §5): a page for people — memory over time with the
// threshold lines, cleanups and restarts marked, the queue, the connection
// and the session — public like /health and showing no message content.
// The memory series is the supervisor's (its `history` over the control
// socket, asked at most once a second), else the worker's own samples.
#ifndef DYNOGUARD_WORKER_HTTP_DASHBOARD_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_DASHBOARD_ROUTES_H_

#include <httplib.h>

#include <chrono>
#include <string>

#include "common/memory_history.h"
#include "worker/http/health_routes.h"
#include "worker/http/route.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct DashboardRouteDeps {
  // The figures /health reads (memory, queue, session_status, now_ms are
  // required; dispatcher_status, read_rss may be empty).
  HealthRouteDeps health;
  // The worker's own samples and cleanups, shown when no supervisor answers;
  // required.
  const common::MemoryHistory* own_history = nullptr;
  // The supervisor's control socket; "": DATA_DIR/supervisor.sock.
  std::string supervisor_socket;
  // How long one `history` request may take (on the HTTP thread).
  std::chrono::milliseconds supervisor_timeout{1000};
};

// `?window=10m|1h|6h|24h` picks the span (default: since the oldest sample,
// 1 minute to 1 hour); another value is 400 invalid_field. Answers
// text/html with no-store caching and a Content-Security-Policy that allows
// no request at all (the page needs none).
void InstallDashboardRoutes(httplib::Server& server,
                            const RouteContext& context,
                            DashboardRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_DASHBOARD_ROUTES_H_
