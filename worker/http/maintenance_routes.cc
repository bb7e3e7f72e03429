#include "worker/http/maintenance_routes.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/number.h"
#include "worker/http/api_error.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;
using Json = common::JsonWriter;

constexpr uint64_t kMaxBallastStepMb = 4096;
constexpr uint64_t kMaxStallMs = 600000;

class MaintenanceRoutes {
 public:
  MaintenanceRoutes(const RouteContext& context, MaintenanceRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void Cleanup(const Request& req, Response& res);
  void BallastRoute(const Request& req, Response& res);
  void StallRoute(const Request& req, Response& res);

 private:
  const RouteContext ctx_;
  const MaintenanceRouteDeps d_;
};

void MaintenanceRoutes::Cleanup(const Request& req, Response& res) {
  std::string level_text = req.has_param("level") ? req.get_param_value("level")
                                                  : std::string("standard");
  CleanupLevel level;
  if (level_text == "standard") {
    level = CleanupLevel::kStandard;
  } else if (level_text == "emergency") {
    level = CleanupLevel::kEmergency;
  } else {
    SendError(res, 400, api_error::kInvalidField,
              "level must be standard or emergency", "level");
    return;
  }
  CleanupReport report = d_.cleanup->Run(level, "http");
  Json j;
  j.StartObject();
  j.Key("level").String(ToString(level));
  j.Key("before").StartObject();
  j.Key("rss").Uint(report.rss_before);
  j.Key("cacheBytes").Uint(report.cache_bytes_before);
  j.EndObject();
  j.Key("after").StartObject();
  j.Key("rss").Uint(report.rss_after);
  j.Key("cacheBytes").Uint(report.cache_bytes_after);
  j.EndObject();
  j.Key("freed").Uint(report.freed());
  j.Key("tookMs").Int(report.took.count());
  j.EndObject();
  SendJson(res, 200, j);
}

void MaintenanceRoutes::BallastRoute(const Request& req, Response& res) {
  Ballast& ballast = *d_.ballast;
  Json j;
  if (req.method == "DELETE" ||
      (req.has_param("release") && req.get_param_value("release") != "0")) {
    uint64_t released = ballast.Release();
    ctx_.log->Info("ballast-released", {{"mb", released}});
    j.StartObject().Key("ballastMb").Uint(ballast.megabytes());
    j.Key("releasedMb").Uint(released).EndObject();
    SendJson(res, 200, j);
    return;
  }
  if (req.has_param("mb")) {
    std::optional<uint64_t> mb = common::ParseDecimalInRange<uint64_t>(
        req.get_param_value("mb"), 1, kMaxBallastStepMb);
    if (!mb) {
      SendError(res, 400, api_error::kInvalidField,
                "mb must be an integer from 1 to 4096", "mb");
      return;
    }
    const bool pinned =
        req.has_param("pinned") && req.get_param_value("pinned") != "0";
    uint64_t total = ballast.Grow(*mb, pinned);
    ctx_.log->Info("ballast-grown",
                   {{"mb", *mb}, {"pinned", pinned}, {"total_mb", total}});
    j.StartObject().Key("ballastMb").Uint(total).EndObject();
    SendJson(res, 200, j);
    return;
  }
  if (req.method == "POST") {
    SendError(res, 400, api_error::kInvalidField,
              "give ?mb=N (1-4096) or ?release=1", "mb");
    return;
  }
  j.StartObject().Key("ballastMb").Uint(ballast.megabytes()).EndObject();
  SendJson(res, 200, j);
}

void MaintenanceRoutes::StallRoute(const Request& req, Response& res) {
  std::optional<uint64_t> ms = common::ParseDecimalInRange<uint64_t>(
      req.get_param_value("ms"), 1, kMaxStallMs);
  if (!ms) {
    SendError(res, 400, api_error::kInvalidField,
              "ms must be an integer from 1 to 600000", "ms");
    return;
  }
  d_.stall_loop(std::chrono::milliseconds(*ms));
  Json j;
  j.StartObject().Key("stallMs").Uint(*ms).EndObject();
  SendJson(res, 202, j);
}

}  // namespace

void InstallMaintenanceRoutes(httplib::Server& server,
                              const RouteContext& context,
                              MaintenanceRouteDeps deps) {
  const bool ballast = deps.ballast != nullptr;
  const bool stall = static_cast<bool>(deps.stall_loop);
  auto routes = std::make_shared<MaintenanceRoutes>(context, std::move(deps));
  AddRoute(server, context, "/cleanup", kGet | kPost, Access::kProtected,
           Bind(routes, &MaintenanceRoutes::Cleanup));
  if (ballast) {
    AddRoute(server, context, "/debug/ballast", kGet | kPost | kDelete,
             Access::kProtected,
             Bind(routes, &MaintenanceRoutes::BallastRoute));
  }
  if (stall) {
    AddRoute(server, context, "/debug/stall", kPost, Access::kProtected,
             Bind(routes, &MaintenanceRoutes::StallRoute));
  }
}

}  // namespace dynoguard::worker
