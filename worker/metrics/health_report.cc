#include "worker/metrics/health_report.h"

#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <string_view>
#include <utility>

#include "common/json_writer.h"
#include "common/time_format.h"

namespace dynoguard::worker {
namespace {}  // namespace

uint64_t RoundMegabytes(uint64_t bytes) {
  constexpr uint64_t kMiB = 1024 * 1024;
  return (bytes + kMiB / 2) / kMiB;
}

int64_t RoundPercent(uint64_t part, uint64_t whole) {
  if (whole == 0) return 0;
  return static_cast<int64_t>(std::llround(100.0 * static_cast<double>(part) /
                                           static_cast<double>(whole)));
}

std::string HealthJson(const HealthFigures& f) {
  uint64_t system_used =
      f.system_total > f.system_free ? f.system_total - f.system_free : 0;

  common::JsonWriter w;
  w.StartObject();
  w.Key("status");
  w.String(f.queue_ok ? "ok" : "degraded");
  w.Key("timestamp");
  w.String(common::FormatIsoUtc(f.now_ms));
  w.Key("uptime");
  w.Double(f.uptime_s);

  w.Key("memory");
  w.StartObject();
  w.Key("raw");
  w.StartObject();
  w.Key("rss");
  w.Uint(f.rss);
  w.Key("heapTotal");
  w.Uint(f.heap_total);
  w.Key("heapUsed");
  w.Uint(f.heap_used);
  w.Key("external");
  w.Uint(f.external);
  w.Key("arrayBuffers");
  w.Uint(f.array_buffers);
  w.EndObject();

  w.Key("formatted");
  w.StartObject();
  w.Key("heapUsed");
  w.Uint(RoundMegabytes(f.heap_used));
  w.Key("heapTotal");
  w.Uint(RoundMegabytes(f.heap_total));
  w.Key("rss");
  w.Uint(RoundMegabytes(f.rss));
  w.Key("external");
  w.Uint(RoundMegabytes(f.external));
  w.Key("arrayBuffers");
  w.Uint(RoundMegabytes(f.array_buffers));
  w.Key("systemTotal");
  w.Uint(RoundMegabytes(f.system_total));
  w.Key("systemFree");
  w.Uint(RoundMegabytes(f.system_free));
  w.Key("systemUsed");
  w.Uint(RoundMegabytes(system_used));
  w.EndObject();

  w.Key("percentages");
  w.StartObject();
  w.Key("heapUsage");
  w.Int(RoundPercent(f.heap_used, f.heap_total));
  w.Key("systemUsage");
  w.Int(RoundPercent(system_used, f.system_total));
  w.Key("limitUsage");
  w.Int(RoundPercent(f.rss, f.limit));
  w.EndObject();

  w.Key("limit");
  w.Uint(f.limit);
  w.EndObject();  // memory

  w.Key("memoryOptimizationEnabled");
  w.Bool(f.memory_optimization);
  w.Key("databaseConnected");
  w.Bool(f.database_connected);

  w.Key("session");
  w.StartObject();
  w.Key("transport");
  w.String(f.transport);
  w.Key("state");
  w.String(ToString(f.state));
  if (!f.reason.empty()) {
    w.Key("reason");
    w.String(f.reason);
  }
  w.Key("store");
  w.String(f.backup_store);
  w.Key("lastBackup");
  if (f.backup_result.empty()) {
    w.Null();
  } else {
    w.String(f.backup_result);
  }
  w.Key("restoredFrom");
  if (f.restored_from) {
    w.String(*f.restored_from);
  } else {
    w.Null();
  }
  w.EndObject();

  w.Key("queue");
  w.StartObject();
  w.Key("depth");
  w.Int(f.queue_depth);
  w.Key("inFlight");
  w.Int(f.queue_in_flight);
  w.Key("deadLetters");
  w.Int(f.dead_letters);
  w.Key("paused");
  w.Bool(f.queue_paused);
  if (f.queue_paused && !f.pause_reason.empty()) {
    w.Key("pauseReason");
    w.String(f.pause_reason);
  }
  w.EndObject();

  w.EndObject();
  return w.str();
}

std::string SessionStatusJson(const SessionStatus& s) {
  common::JsonWriter w;
  w.StartObject();
  w.Key("transport");
  w.String(s.transport);
  w.Key("state");
  w.String(ToString(s.state));
  w.Key("reason");
  if (!s.reason.empty()) {
    w.String(s.reason);
  } else {
    w.Null();
  }
  w.Key("startedAt");
  w.String(common::FormatIsoUtc(s.started_ms));
  for (auto [key, value] : {std::pair{"lastHeartbeat", s.last_heartbeat_ms},
                            {"lastInbound", s.last_inbound_ms},
                            {"lastOutbound", s.last_outbound_ms}}) {
    w.Key(key);
    if (value) {
      w.String(common::FormatIsoUtc(*value));
    } else {
      w.Null();
    }
  }
  w.Key("forwarding");
  w.Bool(s.forwarding);
  w.Key("sendsPaused");
  w.Bool(s.sends_paused);
  w.Key("pauseReason");
  if (s.sends_paused && !s.pause_reason.empty()) {
    w.String(s.pause_reason);
  } else {
    w.Null();
  }
  auto backup = [&w](const std::optional<SessionStatus::Backup>& b) {
    if (!b) {
      w.Null();
      return;
    }
    w.StartObject();
    w.Key("time");
    w.String(common::FormatIsoUtc(b->at_ms));
    w.Key("store");
    w.String(b->store);
    w.Key("result");
    w.String(b->result);
    w.Key("bytes");
    w.Uint(b->bytes);
    w.Key("sequence");
    w.Uint(b->sequence);
    w.EndObject();
  };
  w.Key("lastBackup");
  backup(s.last_backup);
  w.Key("restoredFrom");
  if (s.restored_from) {
    w.String(*s.restored_from);
  } else {
    w.Null();
  }
  w.Key("sessionStore");
  w.StartObject();
  w.Key("name");
  w.String(s.session_name);
  w.Key("storage");
  w.String(s.storage);
  w.Key("encrypted");
  w.Bool(s.encrypted);
  w.Key("backupEnabled");
  w.Bool(s.backup_enabled);
  w.Key("connected");
  w.Bool(s.store_ok);
  w.Key("sequence");
  w.Uint(s.sequence);
  w.Key("overCap");
  w.Bool(s.over_cap);
  w.Key("restoreDetail");
  w.String(s.restore_detail);
  w.Key("lastFileBackup");
  backup(s.last_file_backup);
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace dynoguard::worker
