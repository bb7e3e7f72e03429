// Unused library pages: hands back to the kernel the pages that libraries the
// running configuration never uses touched while loading. Debian's
// cpp-httplib is built with OpenSSL support and initialises OpenSSL (error
// strings, providers) from a static constructor, which leaves ~3 MB of
// libcrypto resident in every process that links it, TLS or not. On the
// sandbox transport nothing speaks TLS, so the worker asks the kernel to
// reclaim those clean, file-backed pages (MADV_PAGEOUT): its RSS drops by that
// much, and any page that is needed after all is read back on first touch.
#ifndef DYNOGUARD_WORKER_MEMORY_UNUSED_LIBRARY_PAGES_H_
#define DYNOGUARD_WORKER_MEMORY_UNUSED_LIBRARY_PAGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proc_fs.h"
#include "common/status.h"

namespace dynoguard::worker {

// One line of /proc/<pid>/maps.
struct Mapping {
  uintptr_t start = 0;
  uintptr_t end = 0;
  std::string perms;  // e.g. "r-xp"
  std::string path;   // empty for anonymous mappings
};

// Parses "start-end perms offset dev inode [path]". Nullopt for a line that
// does not have that shape. Pure.
std::optional<Mapping> ParseMapsLine(std::string_view line);

// The private (copy-on-write), non-writable mappings of `maps` whose file name
// starts with one of `library_prefixes` ("libcrypto.so" matches
// ".../libcrypto.so.3"): code and read-only data, clean pages the kernel can
// drop and read back. Writable mappings (relocated data, .bss) are left alone:
// their pages are dirty or anonymous. Pure.
std::vector<Mapping> ReclaimableLibraryMappings(
    std::string_view maps, const std::vector<std::string>& library_prefixes);

// What PageOutUnusedLibraries did.
struct PageOutReport {
  uint64_t mappings = 0;    // mappings advised
  uint64_t rss_before = 0;  // this process's VmRSS, bytes
  uint64_t rss_after = 0;
};

// Advises MADV_PAGEOUT on this process's ReclaimableLibraryMappings. Errors:
// IOError when /proc/self/maps cannot be read or the kernel rejects the
// advice (MADV_PAGEOUT needs Linux 5.4).
common::Result<PageOutReport> PageOutUnusedLibraries(
    const common::ProcFs& procfs,
    const std::vector<std::string>& library_prefixes);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_UNUSED_LIBRARY_PAGES_H_
