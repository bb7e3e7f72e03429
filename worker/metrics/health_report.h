// Health report: the JSON bodies of GET /health and GET /session-status
// (SPEC §5), built from plain figures so the shapes are unit-tested without a
// running worker. /health keeps the shape of the Node.js bot's example (seed
// 003) and adds memory.limit, memory.percentages.limitUsage, session, queue.
#ifndef DYNOGUARD_WORKER_METRICS_HEALTH_REPORT_H_
#define DYNOGUARD_WORKER_METRICS_HEALTH_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "worker/model/runtime_status.h"

namespace dynoguard::worker {

// Everything /health shows; bytes unless noted.
struct HealthFigures {
  int64_t now_ms = 0;          // "timestamp", ms since the epoch
  double uptime_s = 0;         // "uptime", seconds since the worker started
  uint64_t rss = 0;            // worker RSS
  uint64_t heap_total = 0;     // mallinfo2: arena + mmapped
  uint64_t heap_used = 0;      // mallinfo2: allocated chunks
  uint64_t external = 0;       // mmapped malloc chunks
  uint64_t array_buffers = 0;  // bytes held by the worker's caches
  uint64_t system_total = 0;   // MemTotal
  uint64_t system_free = 0;    // MemAvailable (MemFree on old kernels)
  uint64_t limit = 0;          // the memory budget
  bool memory_optimization = true;  // ENABLE_MEMORY_OPTIMIZATION
  // The queue database is usable and the session store's last call
  // succeeded; `status` follows the queue alone (queue_ok).
  bool database_connected = false;
  bool queue_ok = false;
  std::string transport;  // "sandbox" or "cloud"
  ConnectionState state = ConnectionState::kStarting;
  std::string reason;  // why not connected; "" when connected
  // The session's backup: the store and its last result ("" when none yet).
  std::string backup_store;
  std::string backup_result;
  std::optional<std::string> restored_from;
  int64_t queue_depth = 0;
  bool queue_paused = false;  // no send starts (the dispatcher's pause)
  std::string pause_reason;   // why, when paused
  int64_t queue_in_flight = 0;
  int64_t dead_letters = 0;
};

// The /health body:
// "status" is "ok", or "degraded" when the queue database is not usable
// (database_connected false).
// {"status":"ok","timestamp":"2025-04-05T17:13:32.189Z","uptime":4.17,
//  "memory":{"raw":{rss,heapTotal,heapUsed,external,arrayBuffers},
//            "formatted":{heapUsed,heapTotal,rss,external,arrayBuffers,
//                         systemTotal,systemFree,systemUsed},   (MiB, rounded)
//            "percentages":{heapUsage,systemUsage,limitUsage},  (rounded)
//            "limit":bytes},
//  "memoryOptimizationEnabled":true,"databaseConnected":true,
//  "session":{"transport","state","reason"?},
//  "queue":{"depth","inFlight","deadLetters","paused","pauseReason"?}}
// A percentage whose denominator is 0 is 0. Pure.
std::string HealthJson(const HealthFigures& figures);

// The /session-status body:
// {"transport","state","reason":string|null,"startedAt",
//  "lastHeartbeat":iso|null,"lastInbound":iso|null,"lastOutbound":iso|null,
//  "forwarding":bool,"sendsPaused":bool,"pauseReason":string|null,
//  "lastBackup":{"time","store","result"}|null,
//  "restoredFrom":string|null}.
// Pure.
std::string SessionStatusJson(const SessionStatus& status);

// round(bytes / MiB), as the seed's formatted figures. Pure.
uint64_t RoundMegabytes(uint64_t bytes);

// round(100 * part / whole), 0 when whole is 0. Pure.
int64_t RoundPercent(uint64_t part, uint64_t whole);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_METRICS_HEALTH_REPORT_H_
