// MemoryHistory: a bounded record of memory samples and of the events that
// moved them (worker starts, cleanups, restarts, crashes), for GET /dashboard.
// The supervisor keeps one across worker restarts and serves it through its
// control socket (`history`); a worker that runs alone keeps its own.
//
// Fixed memory, allocated once at construction (FootprintBytes(), about
// 25 KB): three
// rings of time buckets, each sample going into all three —
//   1 s buckets × 600 (the last 10 minutes),
//   10 s buckets × 360 (the last hour),
//   5 min buckets × 288 (the last 24 hours) —
// each bucket keeping the lowest and highest sample in it (a cleanup inside
// one bucket shows as its drop), and a ring of the last 128 events.
#ifndef DYNOGUARD_COMMON_MEMORY_HISTORY_H_
#define DYNOGUARD_COMMON_MEMORY_HISTORY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynoguard::common {

enum class MemoryEventKind {
  kWorkerStart,       // a worker was spawned (detail: "" or "restart")
  kStandardCleanup,   // detail: the trigger ("memory", "control", "http", …)
  kEmergencyCleanup,  // detail: the trigger
  kRestart,           // detail: the reason ("memory", "emergency-grace", …)
  kExit,              // an exit nobody asked for (detail: "code=3", "SIGKILL")
};

// "start", "cleanup-standard", "cleanup-emergency", "restart", "exit".
std::string_view ToString(MemoryEventKind kind);
// The inverse of ToString; nullopt for anything else.
std::optional<MemoryEventKind> MemoryEventKindFromString(std::string_view name);

// One bucket: the samples taken in [time_ms, time_ms + width_ms) (time_ms is
// the bucket's start, or the first sample ever when that came later).
struct MemoryPoint {
  int64_t time_ms = 0;  // ms since the epoch
  int64_t width_ms = 0;
  uint64_t min_bytes = 0;
  uint64_t max_bytes = 0;
};

struct MemoryEvent {
  int64_t time_ms = 0;
  MemoryEventKind kind = MemoryEventKind::kWorkerStart;
  std::string detail;  // at most kMaxDetail bytes, [a-zA-Z0-9=._-] only
  uint64_t bytes = 0;  // the last sample when the event happened (0: none)
};

// What a history holds, copied out; plain values. The owner fills the
// fields after `events` (the history does not know them).
struct MemoryHistorySnapshot {
  // Every bucket, oldest first: the coarser rings only where the finer ones
  // no longer reach.
  std::vector<MemoryPoint> points;
  std::vector<MemoryEvent> events;  // oldest first
  int64_t now_ms = 0;
  uint64_t limit_bytes = 0;  // the budget; 0 unknown
  std::string source;        // what was measured: "rss", "pss", "cgroup"
  // Where it was kept: "supervisor" or "worker".
  std::string keeper;
  // The thresholds in percent of limit_bytes.
  double standard_percent = 70;
  double emergency_percent = 85;
  double restart_percent = 95;
};

// Thread-safe (one mutex): the worker samples on its loop and records
// cleanups on any thread while HTTP threads read.
class MemoryHistory {
 public:
  struct Ring {
    int64_t width_ms;
    size_t capacity;
  };
  static constexpr std::array<Ring, 3> kRings = {
      Ring{1000, 600}, Ring{10000, 360}, Ring{300000, 288}};
  static constexpr size_t kMaxEvents = 128;
  static constexpr size_t kMaxDetail = 23;

  MemoryHistory();
  MemoryHistory(const MemoryHistory&) = delete;
  MemoryHistory& operator=(const MemoryHistory&) = delete;

  // Records `bytes` measured at `now_ms`. A clock that stepped back is
  // clamped to the newest bucket (the series never goes backwards).
  void AddSample(int64_t now_ms, uint64_t bytes);
  // Records an event; `detail` is cut to kMaxDetail bytes and anything but
  // [a-zA-Z0-9=._-] becomes '_'. `bytes` 0: the last sample's highest figure.
  // The oldest event goes when kMaxEvents are held.
  void AddEvent(int64_t now_ms, MemoryEventKind kind, std::string_view detail,
                uint64_t bytes = 0);

  // The points and events; the owner sets the other fields.
  MemoryHistorySnapshot Snapshot() const;

  // The bytes this object holds (sizeof and its fixed buffers): what the
  // bound costs.
  static size_t FootprintBytes();

 private:
  // 16 bytes: KiB in 32 bits is 4 TiB.
  struct Bucket {
    int64_t start_ms;
    uint32_t min_kib;
    uint32_t max_kib;
  };
  struct StoredEvent {
    int64_t time_ms;
    uint32_t kib;
    MemoryEventKind kind;
    uint8_t detail_size;
    char detail[kMaxDetail];
  };
  struct RingState {
    std::vector<Bucket> buckets;  // capacity fixed at construction
    size_t head = 0;              // index of the oldest
    size_t size = 0;
  };

  mutable std::mutex mu_;
  std::array<RingState, kRings.size()> rings_;  // guarded by mu_
  std::vector<StoredEvent> events_;             // guarded by mu_
  size_t events_head_ = 0;                      // guarded by mu_
  size_t events_size_ = 0;                      // guarded by mu_
  uint32_t last_kib_ = 0;                       // guarded by mu_
  // The first sample: no bucket is reported to begin before it.
  std::optional<int64_t> first_sample_ms_;  // guarded by mu_
};

// The snapshot as one JSON object (the control socket's `history` answer):
// {"ok":true,"keeper","source","now","limit",
//  "thresholds":{"standard","emergency","restart"},
//  "points":[[time_ms,width_ms,min_bytes,max_bytes],…],
//  "events":[{"time","kind","detail","bytes"},…]}. Pure.
std::string MemoryHistoryJson(const MemoryHistorySnapshot& snapshot);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_MEMORY_HISTORY_H_
