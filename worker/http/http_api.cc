#include "worker/http/http_api.h"

#include <utility>

namespace dynoguard::worker {

void InstallRoutes(httplib::Server& server, const common::Config& config,
                   const common::Logger& log, ApiRoutes routes) {
  const RouteContext context{&config, &log};
  routes.dashboard.health = routes.health;
  InstallDashboardRoutes(server, context, std::move(routes.dashboard));
  InstallHealthRoutes(server, context, std::move(routes.health));
  InstallMaintenanceRoutes(server, context, std::move(routes.maintenance));
  InstallMessageRoutes(server, context, std::move(routes.messages));
  InstallSandboxRoutes(server, context, std::move(routes.sandbox));
  InstallWebhookRoutes(server, context, std::move(routes.webhook));
  InstallChatRoutes(server, context, std::move(routes.chats));
  InstallMediaRoutes(server, context, std::move(routes.media));
  InstallReadRoutes(server, context, std::move(routes.read));
}

}  // namespace dynoguard::worker
