// Ballast: memory held on purpose (DEBUG_ENDPOINTS only: /debug/ballast?mb=N)
// so tests and benchmarks can drive the supervisor's thresholds with the real
// worker. Allocated in 1 MiB chunks, every page touched so it counts in RSS. A
// Cleanable: standard cleanup releases half, emergency releases all.
#ifndef DYNOGUARD_WORKER_BALLAST_H_
#define DYNOGUARD_WORKER_BALLAST_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "worker/memory_manager.h"

namespace dynoguard::worker {

// Thread-safe (one mutex).
class Ballast : public Cleanable {
 public:
  Ballast() = default;
  ~Ballast() override;

  // Adds `megabytes` MiB (touched). Returns the total held, in MiB.
  uint64_t Grow(uint64_t megabytes);
  // Releases everything. Returns the MiB released.
  uint64_t Release();
  uint64_t megabytes() const;

  std::string_view name() const override { return "ballast"; }
  uint64_t bytes() const override;
  uint64_t Trim(CleanupLevel level) override;

 private:
  static constexpr uint64_t kChunkBytes = 1024 * 1024;

  // Unmaps the newest `count` chunks. REQUIRES: mu_ held.
  uint64_t ReleaseChunksLocked(size_t count);

  mutable std::mutex mu_;
  std::vector<void*> chunks_;  // guarded by mu_; each kChunkBytes, mmapped
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_BALLAST_H_
