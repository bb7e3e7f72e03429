#include "worker/http/dashboard_routes.h"

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "worker/http/api_error.h"
#include "worker/metrics/dashboard_svg.h"
#include "worker/metrics/supervisor_history.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;
using Clock = std::chrono::steady_clock;

// The supervisor is asked at most this often, however many viewers refresh:
// a public page must not keep the supervisor's loop busy.
constexpr auto kSupervisorTtl = std::chrono::seconds(1);
// After a failed request (no supervisor: the worker runs alone) the own
// samples are shown this long before the supervisor is asked again.
constexpr auto kRetryAfterFailure = std::chrono::seconds(5);
// A failed request after a successful one keeps showing that answer this
// long (a slow moment of the supervisor is not "no supervisor").
constexpr auto kKeepAfterFailure = std::chrono::seconds(30);

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

class DashboardRoutes {
 public:
  DashboardRoutes(const RouteContext& context, DashboardRouteDeps deps)
      : d_(std::move(deps)) {
    if (d_.supervisor_socket.empty()) {
      d_.supervisor_socket = context.config->data_dir + "/supervisor.sock";
    }
    standard_percent_ = context.config->standard_percent;
    emergency_percent_ = context.config->emergency_percent;
    restart_percent_ = context.config->restart_percent;
    source_ = std::string(common::ToString(context.config->memory_source));
  }

  void Page(const Request& req, Response& res) {
    DashboardView view;
    if (req.has_param("window")) {
      std::optional<int64_t> window =
          ParseDashboardWindow(req.get_param_value("window"));
      if (!window) {
        SendError(res, 400, api_error::kInvalidField,
                  "window must be one of 10m, 1h, 6h, 24h", "window");
        return;
      }
      view.window_ms = *window;
    }
    const int64_t now_ms = d_.health.now_ms();
    Memory(now_ms, view);
    Figures(view);
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_header("Content-Security-Policy",
                   std::string(kContentSecurityPolicy));
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(RenderDashboardHtml(view), "text/html; charset=utf-8");
  }

 private:
  // The supervisor's history when it answers (cached kSupervisorTtl), else
  // the worker's own.
  void Memory(int64_t now_ms, DashboardView& view) {
    const Clock::time_point now = Clock::now();
    std::optional<common::MemoryHistorySnapshot> from_supervisor;
    std::string failure;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool fresh = fetched_at_ && now - *fetched_at_ < kSupervisorTtl;
      bool resting = failed_at_ && now - *failed_at_ < kRetryAfterFailure;
      if (!fresh && !resting) {
        auto fetched =
            FetchSupervisorHistory(d_.supervisor_socket, d_.supervisor_timeout);
        if (fetched.ok()) {
          cached_ = std::move(fetched.value());
          fetched_at_ = now;
          failed_at_.reset();
        } else if (cached_ && fetched_at_ &&
                   now - *fetched_at_ < kKeepAfterFailure) {
          // A supervisor that answered a moment ago and is slow now (a busy
          // box): its last answer is still the truer picture.
          failed_at_ = now;
        } else {
          cached_.reset();
          fetched_at_.reset();
          failed_at_ = now;
          failure_ =
              fetched.status().code() == common::Status::Code::kUnavailable
                  ? "no supervisor"
                  : "the supervisor did not answer";
        }
      }
      from_supervisor = cached_;
      failure = failure_;
    }
    if (from_supervisor) {
      view.memory = std::move(*from_supervisor);
      // The supervisor's clock and ours are the same machine's; the chart
      // ends at the worker's now so that a cached answer still ends at now.
      view.memory.now_ms = std::max(view.memory.now_ms, now_ms);
      view.supervisor_restarts = static_cast<int64_t>(
          d_.health.metrics != nullptr ? d_.health.metrics->restarts_seen()
                                       : 0);
      return;
    }
    if (d_.own_history != nullptr) view.memory = d_.own_history->Snapshot();
    view.memory.now_ms = now_ms;
    view.memory.limit_bytes = d_.health.memory->limit_bytes();
    view.memory.source = source_;
    view.memory.keeper = "worker";
    view.memory.standard_percent = standard_percent_;
    view.memory.emergency_percent = emergency_percent_;
    view.memory.restart_percent = restart_percent_;
    view.fallback_reason = failure.empty() ? "no supervisor" : failure;
  }

  void Figures(DashboardView& view) {
    view.rss_bytes =
        d_.health.read_rss ? d_.health.read_rss() : d_.health.memory->ReadRss();
    view.under_pressure = d_.health.memory->under_pressure();
    SessionStatus session = d_.health.session_status();
    view.transport = session.transport;
    view.state = session.state;
    view.reason = session.reason;
    view.last_backup = session.last_backup;
    view.restored_from = session.restored_from;
    common::Result<QueueStats> stats = d_.health.queue->Stats();
    view.queue_known = stats.ok();
    if (stats.ok()) {
      view.queue_depth = stats->depth;
      view.queue_in_flight = stats->in_flight;
      view.dead_letters = stats->dead_letters;
    }
    if (d_.health.dispatcher_status) {
      DispatcherStatus dispatcher = d_.health.dispatcher_status();
      view.queue_paused = dispatcher.paused;
      view.pause_reason = dispatcher.pause_reason;
    }
  }

  DashboardRouteDeps d_;
  double standard_percent_ = 70;
  double emergency_percent_ = 85;
  double restart_percent_ = 95;
  std::string source_;

  std::mutex mu_;
  std::optional<common::MemoryHistorySnapshot> cached_;  // guarded by mu_
  std::optional<Clock::time_point> fetched_at_;          // guarded by mu_
  std::optional<Clock::time_point> failed_at_;           // guarded by mu_
  std::string failure_;                                  // guarded by mu_
};

}  // namespace

void InstallDashboardRoutes(httplib::Server& server,
                            const RouteContext& context,
                            DashboardRouteDeps deps) {
  auto routes = std::make_shared<DashboardRoutes>(context, std::move(deps));
  AddRoute(server, context, "/dashboard", kGet, Access::kPublic,
           Bind(routes, &DashboardRoutes::Page));
}

}  // namespace dynoguard::worker
