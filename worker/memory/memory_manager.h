// MemoryManager: the worker's one cleanup mechanism. Every component that holds
// memory (history cache, status index, buffers, the debug ballast) registers as
// a Cleanable; a cleanup trims them all by level, then returns freed heap to
// the kernel (malloc_trim). It also tracks whether the worker is above the
// emergency threshold, when new sends are refused (SPEC §6).
#ifndef DYNOGUARD_WORKER_MEMORY_MEMORY_MANAGER_H_
#define DYNOGUARD_WORKER_MEMORY_MEMORY_MANAGER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dynoguard::worker {

enum class CleanupLevel { kStandard, kEmergency };
std::string_view ToString(CleanupLevel level);

// A component that holds memory it can give back. Implementations are
// thread-safe.
class Cleanable {
 public:
  virtual ~Cleanable() = default;
  virtual std::string_view name() const = 0;
  // Bytes held now (an honest estimate: payload plus container overhead).
  virtual uint64_t bytes() const = 0;
  // Standard: give back about half; emergency: give back everything that can be
  // rebuilt. Returns the bytes released (estimate).
  virtual uint64_t Trim(CleanupLevel level) = 0;
};

struct CleanupReport {
  CleanupLevel level = CleanupLevel::kStandard;
  uint64_t rss_before = 0;
  uint64_t rss_after = 0;
  uint64_t cache_bytes_before = 0;
  uint64_t cache_bytes_after = 0;
  std::chrono::milliseconds took{0};
  // Freed: rss_before - rss_after, or 0 when RSS grew meanwhile.
  uint64_t freed() const {
    return rss_before > rss_after ? rss_before - rss_after : 0;
  }
};

// Thread-safe. Cleanables must outlive the manager or be unregistered first.
class MemoryManager {
 public:
  // `read_rss` returns the worker's current resident bytes (the whole process
  // tree). `limit_bytes`: the budget (from MEMORY_LIMIT_MB the supervisor
  // passes, or detected).
  MemoryManager(uint64_t limit_bytes, double emergency_percent,
                std::function<uint64_t()> read_rss);

  // Registering twice is a no-op.
  void Register(Cleanable* cleanable);
  // Waits for a cleanup in progress, so the caller may destroy `cleanable`
  // once this returns. REQUIRES: not called from a Cleanable's Trim().
  void Unregister(Cleanable* cleanable);

  // A cleanup step for what is not a cache with a byte count: stale temp
  // files now, idle outbound connections with the Cloud API transport. Steps
  // run after the Cleanables, in the order added, at every level. Add them
  // before the first RunCleanup.
  void AddCleanupStep(std::string name, std::function<void(CleanupLevel)> step);

  // Trims every Cleanable at `level`, runs the cleanup steps, then
  // malloc_trim(0); measures RSS before and after. Cleanups are serialized.
  CleanupReport RunCleanup(CleanupLevel level);

  // Sum of bytes() over the Cleanables (/health's arrayBuffers).
  uint64_t CacheBytes() const;
  // Per-component figures, for /metrics.
  std::vector<std::pair<std::string, uint64_t>> CacheBreakdown() const;

  // Feeds a fresh RSS sample: pressure is on while rss >= emergency_percent of
  // the limit.
  void UpdatePressure(uint64_t rss_bytes);
  // Force pressure on (an emergency cleanup signal) until the next sample says
  // otherwise.
  void SetPressure(bool on) { under_pressure_.store(on); }
  bool under_pressure() const { return under_pressure_.load(); }

  uint64_t limit_bytes() const { return limit_bytes_; }
  uint64_t ReadRss() const { return read_rss_(); }
  uint64_t last_rss() const { return last_rss_.load(); }
  uint64_t cleanups(CleanupLevel level) const;

 private:
  const uint64_t limit_bytes_;
  const double emergency_percent_;
  const std::function<uint64_t()> read_rss_;

  mutable std::mutex mu_;
  std::vector<Cleanable*> cleanables_;  // guarded by mu_
  std::mutex cleanup_mu_;               // serializes RunCleanup
  // Guarded by cleanup_mu_.
  std::vector<std::pair<std::string, std::function<void(CleanupLevel)>>> steps_;
  std::atomic<bool> under_pressure_{false};
  std::atomic<uint64_t> last_rss_{0};
  std::atomic<uint64_t> standard_cleanups_{0};
  std::atomic<uint64_t> emergency_cleanups_{0};
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_MEMORY_MANAGER_H_
