// Metrics: the worker's counters (HTTP requests, sends, cleanups, restarts
// seen) and their Prometheus text rendering for
// GET /metrics (SPEC §5), together with gauges sampled at scrape time.
#ifndef DYNOGUARD_WORKER_METRICS_METRICS_H_
#define DYNOGUARD_WORKER_METRICS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/memory/memory_manager.h"

namespace dynoguard::worker {

// The outcome of one send attempt, as the dispatcher sees it.
enum class SendOutcome {
  kSent,    // the provider accepted the message
  kRetry,   // a retryable failure; the message goes back to the queue
  kFailed,  // a final failure; the message is a dead letter
};
std::string_view ToString(SendOutcome outcome);

// Gauges read at scrape time by the /metrics handler.
struct MetricsSnapshot {
  uint64_t rss_bytes = 0;
  uint64_t heap_used_bytes = 0;
  uint64_t cache_bytes = 0;  // MemoryManager::CacheBytes()
  uint64_t memory_limit_bytes = 0;
  bool memory_pressure = false;  // new sends refused
  int64_t queue_depth = 0;
  int64_t queue_in_flight = 0;
  int64_t dead_letters = 0;
  // Inbound messages accepted after deduplication (EventRouter's counter; a
  // counter in the exposition, read at scrape time).
  uint64_t inbound_total = 0;
  // Parts of webhook bodies left out for their shape (InboundCounters::
  // malformed_parts; a counter in the exposition).
  uint64_t webhook_parts_skipped = 0;
  // The transport's connection state (SPEC §5 names) and the dispatcher's
  // pause (no send starts) with its reason.
  std::string connection_state = "connected";
  bool queue_paused = false;
  std::string pause_reason;
  uint64_t slowed_recipients = 0;
  // The forwarding outbox (WEBHOOK_URL); all 0 and `forwarding` false
  // without one.
  bool forwarding = false;
  int64_t forward_pending = 0;
  int64_t forward_dead_letters = 0;
  int64_t forward_delivered_total = 0;
  // Per-component cache bytes (MemoryManager::CacheBreakdown()).
  std::vector<std::pair<std::string, uint64_t>> cache_breakdown;
};

// Thread-safe: counters are atomics; Render* reads them without locks (a
// scrape may see one counter a request ahead of another).
class Metrics {
 public:
  // `restarts_seen`: how many times the supervisor has restarted the worker
  // before this process (DYNOGUARD_RESTARTS; see RestartsFromEnv).
  explicit Metrics(uint64_t restarts_seen = 0);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One HTTP request answered with `status` (100–599; others count as 0).
  void CountHttp(int status);
  // One send attempt's outcome (called by the dispatcher).
  void CountSend(SendOutcome outcome);
  // One cleanup run (called by whoever runs MemoryManager::RunCleanup:
  // signals, the periodic trim policy, POST /cleanup).
  void CountCleanup(CleanupLevel level);

  uint64_t http_requests(int status) const;
  uint64_t sends(SendOutcome outcome) const;
  uint64_t cleanups(CleanupLevel level) const;
  uint64_t restarts_seen() const { return restarts_seen_; }

  // Prometheus text exposition format 0.0.4: for each metric a # HELP and a
  // # TYPE line, then its samples; names start with "dynoguard_". Gauges
  // come from `gauges`, counters from this object.
  std::string RenderPrometheus(const MetricsSnapshot& gauges) const;

  // The value of DYNOGUARD_RESTARTS (a decimal count the supervisor sets);
  // 0 when `value` is null, empty or not a number.
  static uint64_t RestartsFromEnv(const char* value);

 private:
  static constexpr int kMaxStatus = 600;

  const uint64_t restarts_seen_;
  std::array<std::atomic<uint64_t>, kMaxStatus> http_{};  // index: status
  std::array<std::atomic<uint64_t>, 3> sends_{};          // by SendOutcome
  std::array<std::atomic<uint64_t>, 2> cleanups_{};       // by CleanupLevel
};

// The content type of RenderPrometheus's output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_METRICS_METRICS_H_
