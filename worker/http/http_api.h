// The worker's HTTP API (SPEC §5): every route, installed in one call. The
// routes live in one file per group, each with the few parts it borrows:
//   health_routes       GET /health, GET /session-status, GET /metrics (public)
//   message_routes      POST /api/messages, GET /api/messages/{id},
//                       GET /api/queue
//   sandbox_routes      /api/sandbox/inbound, /outbox, /fail
//   webhook_routes      GET /webhook, POST /webhook (public)
//   chat_routes         GET /api/chats/{waId}/messages
//   media_routes        POST /api/media, GET /api/media/{id}
//   read_routes         POST /api/read
//   maintenance_routes  /cleanup, /debug/ballast, /debug/stall
//   dashboard_routes    GET /dashboard (public, HTML)
// and route.h for what they share: auth (API_KEY, or a local caller when none
// is set: api_auth.h), the per-route body limit (body_limit.h), JSON errors
// (api_error.h), 405 with Allow for another method on a known path. Every
// handler answers JSON (Prometheus text for /metrics, HTML for /dashboard)
// and never throws.
// worker/app/gateway.h builds an ApiRoutes from the worker's parts.
#ifndef DYNOGUARD_WORKER_HTTP_HTTP_API_H_
#define DYNOGUARD_WORKER_HTTP_HTTP_API_H_

#include <httplib.h>

#include "common/config.h"
#include "common/log.h"
#include "worker/http/chat_routes.h"
#include "worker/http/dashboard_routes.h"
#include "worker/http/health_routes.h"
#include "worker/http/maintenance_routes.h"
#include "worker/http/media_routes.h"
#include "worker/http/message_routes.h"
#include "worker/http/read_routes.h"
#include "worker/http/sandbox_routes.h"
#include "worker/http/webhook_routes.h"

namespace dynoguard::worker {

// What each route group borrows.
struct ApiRoutes {
  HealthRouteDeps health;
  MessageRouteDeps messages;
  SandboxRouteDeps sandbox;
  MaintenanceRouteDeps maintenance;
  WebhookRouteDeps webhook;
  ChatRouteDeps chats;
  MediaRouteDeps media;
  ReadRouteDeps read;
  // GET /dashboard; its `health` is filled from `health` by InstallRoutes.
  DashboardRouteDeps dashboard;
};

// Installs every route on `server`. `config` and `log` must outlive it.
// REQUIRES: the required members of each group are set; before the server
// serves.
void InstallRoutes(httplib::Server& server, const common::Config& config,
                   const common::Logger& log, ApiRoutes routes);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_HTTP_API_H_
