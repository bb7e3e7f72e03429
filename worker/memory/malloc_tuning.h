// Malloc tuning: glibc settings that keep a multi-threaded worker's heap small
// and let freed memory go back to the kernel.
//
// Why: glibc gives each thread that contends on malloc its own arena (up to
// 8 x cores), and every arena keeps its own free memory, so RSS grows with the
// thread count even when live data does not. Two arenas are plenty for the
// worker. glibc also raises its mmap threshold dynamically after a large block
// is freed, so later large buffers land on the heap and stay resident; setting
// the threshold explicitly turns that adjustment off, and blocks of 128 KiB or
// more are mmapped and returned to the kernel as soon as they are freed.
#ifndef DYNOGUARD_WORKER_MEMORY_MALLOC_TUNING_H_
#define DYNOGUARD_WORKER_MEMORY_MALLOC_TUNING_H_

#include <cstdint>

namespace dynoguard::worker {

// Sets M_ARENA_MAX to 2 and M_MMAP_THRESHOLD to 128 KiB. Call once at the start
// of main, before any thread is created. Harmless when the C library is not
// glibc (no-op).
void TuneMallocForSmallFootprint();

// malloc_trim(0): returns free heap pages (top of the heap and whole free pages
// inside it, every arena) to the kernel. Returns 1 when memory was released,
// else 0. Thread-safe; cost grows with the heap size (milliseconds).
uint64_t ReleaseFreeHeap();

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_MALLOC_TUNING_H_
