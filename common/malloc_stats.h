// MallocStats: what this process's allocator (glibc malloc, via mallinfo2)
// holds, so the worker can tell heap growth from other memory and report it.
#ifndef DYNOGUARD_COMMON_MALLOC_STATS_H_
#define DYNOGUARD_COMMON_MALLOC_STATS_H_

#include <cstdint>

namespace dynoguard::common {

// Bytes, summed over all malloc arenas of the process.
struct MallocStats {
  // Address space malloc has obtained from the kernel and not returned: the
  // sbrk/mmap'ed arenas (mallinfo2 arena) plus the chunks too large for an
  // arena, each in its own mmap (hblkhd). Not all of it need be resident.
  uint64_t heap_total = 0;
  // Of that, bytes in allocated (not yet freed) chunks: uordblks + hblkhd.
  // heap_total - heap_used is free memory malloc keeps for reuse (what
  // malloc_trim() may give back).
  uint64_t heap_used = 0;
  // The separately mmap'ed large chunks alone (hblkhd); freeing one unmaps it
  // at once.
  uint64_t mmapped = 0;
};

// The current figures. Cost: mallinfo2 walks every arena's free lists under its
// lock, so it is O(free chunks) — fine once per poll, not per request.
// Thread-safe. Without glibc (or under a sanitizer, which replaces malloc) the
// figures are all 0 or do not track the program's allocations.
MallocStats ReadMallocStats();

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_MALLOC_STATS_H_
