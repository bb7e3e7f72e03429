#include "worker/metrics/health_report.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <ctime>
#include <string_view>

namespace dynoguard::worker {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void String(JsonWriter& w, std::string_view value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Key(JsonWriter& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

}  // namespace

std::string IsoTimestamp(int64_t ms) {
  // Floor division so times before 1970 still format sensibly.
  int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int64_t millis = ms - seconds * 1000;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", buffer, millis);
}

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

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "status");
  String(w, f.database_connected ? "ok" : "degraded");
  Key(w, "timestamp");
  String(w, IsoTimestamp(f.now_ms));
  Key(w, "uptime");
  w.Double(f.uptime_s);

  Key(w, "memory");
  w.StartObject();
  Key(w, "raw");
  w.StartObject();
  Key(w, "rss");
  w.Uint64(f.rss);
  Key(w, "heapTotal");
  w.Uint64(f.heap_total);
  Key(w, "heapUsed");
  w.Uint64(f.heap_used);
  Key(w, "external");
  w.Uint64(f.external);
  Key(w, "arrayBuffers");
  w.Uint64(f.array_buffers);
  w.EndObject();

  Key(w, "formatted");
  w.StartObject();
  Key(w, "heapUsed");
  w.Uint64(RoundMegabytes(f.heap_used));
  Key(w, "heapTotal");
  w.Uint64(RoundMegabytes(f.heap_total));
  Key(w, "rss");
  w.Uint64(RoundMegabytes(f.rss));
  Key(w, "external");
  w.Uint64(RoundMegabytes(f.external));
  Key(w, "arrayBuffers");
  w.Uint64(RoundMegabytes(f.array_buffers));
  Key(w, "systemTotal");
  w.Uint64(RoundMegabytes(f.system_total));
  Key(w, "systemFree");
  w.Uint64(RoundMegabytes(f.system_free));
  Key(w, "systemUsed");
  w.Uint64(RoundMegabytes(system_used));
  w.EndObject();

  Key(w, "percentages");
  w.StartObject();
  Key(w, "heapUsage");
  w.Int64(RoundPercent(f.heap_used, f.heap_total));
  Key(w, "systemUsage");
  w.Int64(RoundPercent(system_used, f.system_total));
  Key(w, "limitUsage");
  w.Int64(RoundPercent(f.rss, f.limit));
  w.EndObject();

  Key(w, "limit");
  w.Uint64(f.limit);
  w.EndObject();  // memory

  Key(w, "memoryOptimizationEnabled");
  w.Bool(f.memory_optimization);
  Key(w, "databaseConnected");
  w.Bool(f.database_connected);

  Key(w, "session");
  w.StartObject();
  Key(w, "transport");
  String(w, f.transport);
  Key(w, "state");
  String(w, ToString(f.state));
  w.EndObject();

  Key(w, "queue");
  w.StartObject();
  Key(w, "depth");
  w.Int64(f.queue_depth);
  Key(w, "inFlight");
  w.Int64(f.queue_in_flight);
  Key(w, "deadLetters");
  w.Int64(f.dead_letters);
  w.EndObject();

  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string SessionStatusJson(const SessionStatus& s) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "transport");
  String(w, s.transport);
  Key(w, "state");
  String(w, ToString(s.state));
  Key(w, "startedAt");
  String(w, IsoTimestamp(s.started_ms));
  Key(w, "lastHeartbeat");
  if (s.last_heartbeat_ms) {
    String(w, IsoTimestamp(*s.last_heartbeat_ms));
  } else {
    w.Null();
  }
  Key(w, "lastBackup");
  if (s.last_backup) {
    w.StartObject();
    Key(w, "time");
    String(w, IsoTimestamp(s.last_backup->at_ms));
    Key(w, "store");
    String(w, s.last_backup->store);
    Key(w, "result");
    String(w, s.last_backup->result);
    w.EndObject();
  } else {
    w.Null();
  }
  Key(w, "restoredFrom");
  if (s.restored_from) {
    String(w, *s.restored_from);
  } else {
    w.Null();
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace dynoguard::worker
