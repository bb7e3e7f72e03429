#include "worker/memory/memory_manager.h"

#include <algorithm>
#include <utility>

#include "worker/memory/malloc_tuning.h"

namespace dynoguard::worker {

std::string_view ToString(CleanupLevel level) {
  switch (level) {
    case CleanupLevel::kStandard:
      return "standard";
    case CleanupLevel::kEmergency:
      return "emergency";
  }
  return "unknown";
}

MemoryManager::MemoryManager(uint64_t limit_bytes, double emergency_percent,
                             std::function<uint64_t()> read_rss)
    : limit_bytes_(limit_bytes),
      emergency_percent_(emergency_percent),
      read_rss_(std::move(read_rss)) {}

void MemoryManager::Register(Cleanable* cleanable) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(cleanables_.begin(), cleanables_.end(), cleanable) ==
      cleanables_.end()) {
    cleanables_.push_back(cleanable);
  }
}

void MemoryManager::Unregister(Cleanable* cleanable) {
  // Taking cleanup_mu_ first waits for a cleanup in progress, which may hold a
  // copy of the pointer: after Unregister returns the caller may destroy it.
  std::lock_guard<std::mutex> cleanup_lock(cleanup_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  cleanables_.erase(
      std::remove(cleanables_.begin(), cleanables_.end(), cleanable),
      cleanables_.end());
}

void MemoryManager::AddCleanupStep(std::string name,
                                   std::function<void(CleanupLevel)> step) {
  std::lock_guard<std::mutex> cleanup_lock(cleanup_mu_);
  steps_.emplace_back(std::move(name), std::move(step));
}

CleanupReport MemoryManager::RunCleanup(CleanupLevel level) {
  std::lock_guard<std::mutex> cleanup_lock(cleanup_mu_);
  const auto start = std::chrono::steady_clock::now();

  // Trim outside mu_: a Cleanable may take its own lock for a while, and
  // CacheBytes() callers (the /health handler) must not wait on it.
  std::vector<Cleanable*> cleanables;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cleanables = cleanables_;
  }

  CleanupReport report;
  report.level = level;
  report.rss_before = read_rss_();
  for (const Cleanable* c : cleanables) report.cache_bytes_before += c->bytes();
  for (Cleanable* c : cleanables) c->Trim(level);
  for (auto& [name, step] : steps_) step(level);
  // What the caches freed sits in malloc's free lists until trimmed.
  ReleaseFreeHeap();
  for (const Cleanable* c : cleanables) report.cache_bytes_after += c->bytes();
  report.rss_after = read_rss_();
  last_rss_.store(report.rss_after);

  (level == CleanupLevel::kEmergency ? emergency_cleanups_ : standard_cleanups_)
      .fetch_add(1);
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return report;
}

uint64_t MemoryManager::CacheBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = 0;
  for (const Cleanable* c : cleanables_) total += c->bytes();
  return total;
}

std::vector<std::pair<std::string, uint64_t>> MemoryManager::CacheBreakdown()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, uint64_t>> breakdown;
  breakdown.reserve(cleanables_.size());
  for (const Cleanable* c : cleanables_) {
    breakdown.emplace_back(std::string(c->name()), c->bytes());
  }
  return breakdown;
}

void MemoryManager::UpdatePressure(uint64_t rss_bytes) {
  last_rss_.store(rss_bytes);
  // An unknown limit (0) never puts the worker under pressure.
  const bool on = limit_bytes_ > 0 &&
                  static_cast<double>(rss_bytes) * 100.0 >=
                      emergency_percent_ * static_cast<double>(limit_bytes_);
  under_pressure_.store(on);
}

uint64_t MemoryManager::cleanups(CleanupLevel level) const {
  return level == CleanupLevel::kEmergency ? emergency_cleanups_.load()
                                           : standard_cleanups_.load();
}

}  // namespace dynoguard::worker
