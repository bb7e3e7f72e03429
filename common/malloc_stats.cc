#include "common/malloc_stats.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dynoguard::common {

MallocStats ReadMallocStats() {
  MallocStats stats;
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  // mallinfo2 (glibc 2.33+) has size_t fields; the older mallinfo's ints wrap
  // past 2 GiB.
  const struct mallinfo2 info = ::mallinfo2();
  stats.mmapped = info.hblkhd;
  stats.heap_total = info.arena + info.hblkhd;
  stats.heap_used = info.uordblks + info.hblkhd;
#endif
  return stats;
}

}  // namespace dynoguard::common
