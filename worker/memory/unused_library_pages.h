// Unused library pages: hands back to the kernel the pages the worker's start
// touched but the running worker does not use.
//  - Libraries the running configuration never calls: Debian's cpp-httplib is
//    built with OpenSSL support and initialises OpenSSL (error strings,
//    providers) from a static constructor, which leaves ~3 MB of libcrypto
//    resident in every process that links it, TLS or not; libcurl's protocol
//    and auth libraries (GnuTLS, Kerberos, LDAP…) run constructors too. Their
//    clean, file-backed pages are reclaimed (MADV_PAGEOUT), and any page that
//    is needed after all is read back on first touch.
//  - The program's and every library's clean pages: the start runs code the
//    worker never runs again, and each page fault maps its neighbours too
//    (fault-around), so RSS holds whole files' worth of code. Unmapping those
//    pages (MADV_DONTNEED) keeps them in the page cache; what the worker
//    still runs is mapped back on its next touch, without I/O.
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

// The mappings of this program and its shared libraries whose every resident
// page is a clean copy of the file: private, not writable, no anonymous page
// (smaps "Anonymous: 0 kB") — code, read-only data, symbol tables. A program
// or library is a file `smaps` maps executable ("r-xp"); a read-only data file
// mapped on its own is not one. Relocated read-only data (RELRO) holds
// anonymous pages and is left alone: dropping them would lose the relocations.
// `smaps` is /proc/<pid>/smaps. Pure.
std::vector<Mapping> UnmappableImageMappings(std::string_view smaps);

// What PageOutUnusedLibraries and UnmapIdleImagePages did.
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

// Unmaps (MADV_DONTNEED) the resident pages of this process's
// UnmappableImageMappings. A file-backed page stays in the page cache: a page
// still in use is mapped again on its next touch (a minor fault, no I/O), so
// what stays resident afterwards is what the worker actually runs, not every
// page starting it touched — and not the neighbours the kernel maps around
// each fault. Unlike MADV_PAGEOUT this works on pages other processes share
// and on files the worker may not write (a non-root user's libraries).
// Errors: IOError when /proc/self/smaps cannot be read or the kernel rejects
// the advice.
common::Result<PageOutReport> UnmapIdleImagePages(const common::ProcFs& procfs);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_UNUSED_LIBRARY_PAGES_H_
