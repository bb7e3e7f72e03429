#include "worker/http/health_routes.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/malloc_stats.h"
#include "common/memory_probe.h"
#include "common/proc_fs.h"
#include "worker/metrics/health_report.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

// How old /health's memory and queue figures may be.
constexpr auto kHealthSampleTtl = std::chrono::milliseconds(250);

class HealthRoutes {
 public:
  explicit HealthRoutes(HealthRouteDeps deps) : d_(std::move(deps)) {
    if (!d_.read_rss) {
      MemoryManager* memory = d_.memory;
      d_.read_rss = [memory] { return memory->ReadRss(); };
    }
  }

  void Health(const Request&, Response& res) {
    HealthFigures f;
    SampleHealth(f);
    f.now_ms = d_.now_ms();
    f.uptime_s = std::chrono::duration<double>(
                     std::chrono::system_clock::now() - d_.started)
                     .count();
    f.limit = d_.memory->limit_bytes();
    f.memory_optimization = d_.memory_optimization;
    SessionStatus session = d_.session_status();
    f.transport = session.transport;
    f.state = session.state;
    f.reason = session.reason;
    f.database_connected = f.queue_ok && session.store_ok;
    f.backup_store = session.storage;
    if (session.last_backup) f.backup_result = session.last_backup->result;
    f.restored_from = session.restored_from;
    if (d_.dispatcher_status) {
      DispatcherStatus dispatcher = d_.dispatcher_status();
      f.queue_paused = dispatcher.paused;
      f.pause_reason = dispatcher.pause_reason;
    }
    res.status = 200;
    res.set_content(HealthJson(f), "application/json");
  }

  void Session(const Request&, Response& res) {
    SessionStatus status = d_.session_status();
    if (d_.dispatcher_status) {
      DispatcherStatus dispatcher = d_.dispatcher_status();
      status.sends_paused = dispatcher.paused;
      status.pause_reason = dispatcher.pause_reason;
    }
    res.status = 200;
    res.set_content(SessionStatusJson(status), "application/json");
  }

  void Prometheus(const Request&, Response& res) {
    MetricsSnapshot g;
    g.rss_bytes = d_.read_rss();
    g.heap_used_bytes = common::ReadMallocStats().heap_used;
    g.cache_bytes = d_.memory->CacheBytes();
    g.cache_breakdown = d_.memory->CacheBreakdown();
    g.memory_limit_bytes = d_.memory->limit_bytes();
    g.memory_pressure = d_.memory->under_pressure();
    if (d_.inbound_total) g.inbound_total = d_.inbound_total();
    if (d_.webhook_parts_skipped) {
      g.webhook_parts_skipped = d_.webhook_parts_skipped();
    }
    g.connection_state = ToString(d_.session_status().state);
    if (d_.dispatcher_status) {
      DispatcherStatus dispatcher = d_.dispatcher_status();
      g.queue_paused = dispatcher.paused;
      g.pause_reason = dispatcher.pause_reason;
      g.slowed_recipients = dispatcher.slowed_recipients;
    }
    if (d_.forwarding_stats) {
      if (std::optional<OutboxStats> f = d_.forwarding_stats()) {
        g.forwarding = true;
        g.forward_pending = f->pending;
        g.forward_dead_letters = f->dead;
        g.forward_delivered_total = f->delivered_total;
      }
    }
    common::Result<QueueStats> stats = d_.queue->Stats();
    if (stats.ok()) {
      g.queue_depth = stats->depth;
      g.queue_in_flight = stats->in_flight;
      g.dead_letters = stats->dead_letters;
    }
    res.status = 200;
    res.set_content(d_.metrics->RenderPrometheus(g),
                    std::string(kPrometheusContentType));
  }

 private:
  // Refreshes the sampled figures when older than kHealthSampleTtl; fills `f`.
  void SampleHealth(HealthFigures& f) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!sampled_at_ || now - *sampled_at_ >= kHealthSampleTtl) {
      HealthFigures& s = sample_;
      s.rss = d_.read_rss();
      if (s.rss == 0) s.rss = d_.memory->last_rss();
      common::MallocStats malloc_stats = common::ReadMallocStats();
      s.heap_total = malloc_stats.heap_total;
      s.heap_used = malloc_stats.heap_used;
      s.external = malloc_stats.mmapped;
      s.array_buffers = d_.memory->CacheBytes();
      common::Result<common::MemInfo> meminfo =
          common::ReadMeminfo(common::ProcFs());
      if (meminfo.ok()) {
        s.system_total = meminfo->total_bytes;
        s.system_free = meminfo->available_bytes != 0 ? meminfo->available_bytes
                                                      : meminfo->free_bytes;
      }
      common::Result<QueueStats> stats = d_.queue->Stats();
      s.queue_ok = stats.ok();
      if (stats.ok()) {
        s.queue_depth = stats->depth;
        s.queue_in_flight = stats->in_flight;
        s.dead_letters = stats->dead_letters;
      }
      sampled_at_ = now;
    }
    f = sample_;
  }

  HealthRouteDeps d_;
  std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point>
      sampled_at_;        // guarded by mu_
  HealthFigures sample_;  // guarded by mu_
};

}  // namespace

void InstallHealthRoutes(httplib::Server& server, const RouteContext& context,
                         HealthRouteDeps deps) {
  auto routes = std::make_shared<HealthRoutes>(std::move(deps));
  AddRoute(server, context, "/health", kGet, Access::kPublic,
           Bind(routes, &HealthRoutes::Health));
  AddRoute(server, context, "/session-status", kGet, Access::kPublic,
           Bind(routes, &HealthRoutes::Session));
  AddRoute(server, context, "/metrics", kGet, Access::kPublic,
           Bind(routes, &HealthRoutes::Prometheus));
}

}  // namespace dynoguard::worker
