#include "worker/memory/malloc_tuning.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dynoguard::worker {

namespace {
constexpr int kArenaMax = 2;
constexpr int kMmapThresholdBytes = 128 * 1024;
}  // namespace

void TuneMallocForSmallFootprint() {
#if defined(__GLIBC__)
  // Both calls only fail on out-of-range values, which these are not.
  mallopt(M_ARENA_MAX, kArenaMax);
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
#endif
}

uint64_t ReleaseFreeHeap() {
#if defined(__GLIBC__)
  return malloc_trim(0) != 0 ? 1 : 0;
#else
  return 0;
#endif
}

}  // namespace dynoguard::worker
