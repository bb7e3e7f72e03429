// Maintenance and debug routes, protected. GET|POST /cleanup?level=
// standard|emergency runs a cleanup through the same CleanupRunner as
// SIGUSR1/SIGUSR2 and answers memory before and after. DEBUG_ENDPOINTS only
// (else the paths are unknown, 404): GET|POST|DELETE /debug/ballast (?mb=N
// grows it by N MiB, 1–4096, &pinned=1 for a leak no cleanup frees; DELETE or
// ?release=1 releases it; answers {"ballastMb"}), POST /debug/stall?ms=N (the
// event loop blocks for N ms, 1–600000, as in a hung worker; 202).
#ifndef DYNOGUARD_WORKER_HTTP_MAINTENANCE_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_MAINTENANCE_ROUTES_H_

#include <httplib.h>

#include <chrono>
#include <functional>

#include "worker/http/route.h"
#include "worker/memory/ballast.h"
#include "worker/memory/cleanup_runner.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct MaintenanceRouteDeps {
  CleanupRunner* cleanup = nullptr;  // required
  Ballast* ballast = nullptr;        // null unless DEBUG_ENDPOINTS
  // Blocks the worker's event loop for the given time; empty unless
  // DEBUG_ENDPOINTS.
  std::function<void(std::chrono::milliseconds)> stall_loop;
};

void InstallMaintenanceRoutes(httplib::Server& server,
                              const RouteContext& context,
                              MaintenanceRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_MAINTENANCE_ROUTES_H_
