// Ballast: memory held on purpose (DEBUG_ENDPOINTS only: /debug/ballast?mb=N)
// so tests and benchmarks can drive the supervisor's thresholds with the real
// worker. Allocated in 1 MiB chunks, every page touched so it counts in RSS. A
// Cleanable: standard cleanup releases half, emergency releases all. Pinned
// chunks stand for a leak no cleanup can reach: only Release() frees them, so
// a test can drive the worker past the restart threshold deterministically.
#ifndef DYNOGUARD_WORKER_MEMORY_BALLAST_H_
#define DYNOGUARD_WORKER_MEMORY_BALLAST_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "worker/memory/memory_manager.h"

namespace dynoguard::worker {

// Thread-safe (one mutex).
class Ballast : public Cleanable {
 public:
  Ballast() = default;
  ~Ballast() override;

  // Adds `megabytes` MiB (touched), pinned or not. Returns the total held
  // (both kinds), in MiB.
  uint64_t Grow(uint64_t megabytes, bool pinned = false);
  // Releases everything. Returns the MiB released.
  uint64_t Release();
  uint64_t megabytes() const;

  std::string_view name() const override { return "ballast"; }
  uint64_t bytes() const override;
  uint64_t Trim(CleanupLevel level) override;

 private:
  static constexpr uint64_t kChunkBytes = 1024 * 1024;

  // Unmaps the newest `count` chunks of `chunks`. REQUIRES: mu_ held.
  static uint64_t ReleaseChunksLocked(std::vector<void*>& chunks, size_t count);

  mutable std::mutex mu_;
  // Guarded by mu_; each kChunkBytes, mmapped.
  std::vector<void*> chunks_;  // trimmed by cleanups
  std::vector<void*> pinned_;  // released only by Release()
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_BALLAST_H_
