#include "worker/memory/unused_library_pages.h"

#include <openssl/sha.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::worker {
namespace {

constexpr char kMaps[] =
    "55d0c0a00000-55d0c0a1c000 r--p 00000000 08:01 1234   /work/build/worker\n"
    "7f10a0000000-7f10a0080000 r--p 00000000 08:01 2001   "
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
    "7f10a0080000-7f10a0300000 r-xp 00080000 08:01 2001   "
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
    "7f10a0300000-7f10a0340000 rw-p 00300000 08:01 2001   "
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
    "7f10a0400000-7f10a0420000 r-xp 00000000 08:01 2002   "
    "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
    "7f10a0500000-7f10a0520000 r-xs 00000000 08:01 2003   "
    "/usr/lib/x86_64-linux-gnu/libcrypto-shared.so\n"
    "7f10a0600000-7f10a0700000 r-xp 00000000 08:01 2004   "
    "/usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "7f10a0800000-7f10a0900000 rw-p 00000000 00:00 0 \n"
    "7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0      [stack]\n";

TEST_CASE("ParseMapsLine reads range, perms and path", "[unused_pages]") {
  auto m = ParseMapsLine(
      "7f10a0080000-7f10a0300000 r-xp 00080000 08:01 2001   "
      "/usr/lib/x86_64-linux-gnu/libcrypto.so.3");
  REQUIRE(m.has_value());
  CHECK(m->start == 0x7f10a0080000);
  CHECK(m->end == 0x7f10a0300000);
  CHECK(m->perms == "r-xp");
  CHECK(m->path == "/usr/lib/x86_64-linux-gnu/libcrypto.so.3");

  auto anonymous =
      ParseMapsLine("7f10a0800000-7f10a0900000 rw-p 00000000 00:00 0");
  REQUIRE(anonymous.has_value());
  CHECK(anonymous->path.empty());
  auto spaced = ParseMapsLine(
      "7f10a0800000-7f10a0900000 r--p 00000000 08:01 7   /tmp/a b.so");
  REQUIRE(spaced.has_value());
  CHECK(spaced->path == "/tmp/a b.so");
}

TEST_CASE("ParseMapsLine refuses lines of another shape", "[unused_pages]") {
  CHECK_FALSE(ParseMapsLine("").has_value());
  CHECK_FALSE(ParseMapsLine("garbage").has_value());
  CHECK_FALSE(ParseMapsLine("7f10a0800000 rw-p 00000000 00:00 0").has_value());
  CHECK_FALSE(
      ParseMapsLine("zz-7f10a0900000 rw-p 00000000 00:00 0").has_value());
  CHECK_FALSE(ParseMapsLine("7f10a0900000-7f10a0800000 rw-p 00000000 00:00 0")
                  .has_value());  // end before start
  CHECK_FALSE(ParseMapsLine("7f10a0800000-7f10a0900000 rw 0 00:00 0")
                  .has_value());  // perms not 4 characters
  CHECK_FALSE(ParseMapsLine("7f10a0800000-7f10a0900000 rw-p 00000000")
                  .has_value());  // truncated
}

TEST_CASE(
    "ReclaimableLibraryMappings keeps private read-only mappings of the named "
    "libraries",
    "[unused_pages]") {
  auto found = ReclaimableLibraryMappings(kMaps, {"libcrypto.so", "libssl.so"});
  REQUIRE(found.size() == 3);
  CHECK(found[0].start == 0x7f10a0000000);  // r--p libcrypto
  CHECK(found[1].perms == "r-xp");          // code of libcrypto
  CHECK(found[2].path == "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  // Left alone: the writable libcrypto data, the shared mapping, a name that
  // only shares a prefix with another library, libc, anonymous memory.
  CHECK(ReclaimableLibraryMappings(kMaps, {"libz.so"}).empty());
  CHECK(ReclaimableLibraryMappings("", {"libcrypto.so"}).empty());
  CHECK(ReclaimableLibraryMappings("not a maps file\n", {"libcrypto.so"})
            .empty());
}

TEST_CASE(
    "PageOutUnusedLibraries advises this process's libcrypto and the library "
    "still works",
    "[unused_pages]") {
  // This test binary links OpenSSL (cpp-httplib and the API's key check do).
  unsigned char before[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>("abc"), 3, before);
  auto report =
      PageOutUnusedLibraries(common::ProcFs(), {"libcrypto.so", "libssl.so"});
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->mappings > 0);
  CHECK(report->rss_before > 0);
  CHECK(report->rss_after > 0);
  // Paged-out code and data are read back on first touch.
  unsigned char after[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>("abc"), 3, after);
  CHECK(std::equal(before, before + SHA256_DIGEST_LENGTH, after));
}

TEST_CASE("PageOutUnusedLibraries reports an unreadable maps file",
          "[unused_pages]") {
  auto report = PageOutUnusedLibraries(common::ProcFs("/nonexistent-root"),
                                       {"libcrypto.so"});
  CHECK_FALSE(report.ok());
}

// One mapping's smaps entry: its maps line, then the fields the parser reads
// (and some it skips).
std::string SmapsEntry(std::string_view maps_line, int anonymous_kb,
                       int swap_kb) {
  std::string out(maps_line);
  out += "\nSize:                100 kB\nRss:                  40 kB\n";
  out += "Anonymous:     " + std::to_string(anonymous_kb) + " kB\n";
  out += "LazyFree:              0 kB\n";
  out += "Swap:          " + std::to_string(swap_kb) + " kB\n";
  out += "VmFlags: rd mr mw me sd\n";
  return out;
}

TEST_CASE(
    "UnmappableImageMappings keeps the clean read-only mappings of programs "
    "and libraries",
    "[unused_pages]") {
  const std::string smaps =
      SmapsEntry(
          "55d0c0a00000-55d0c0a1c000 r--p 00000000 08:01 1234   "
          "/work/build/worker",
          0, 0) +
      SmapsEntry(
          "55d0c0a1c000-55d0c0b00000 r-xp 0001c000 08:01 1234   "
          "/work/build/worker",
          0, 0) +
      // RELRO: relocated, so copied pages; one swapped out; the data.
      SmapsEntry(
          "55d0c0b00000-55d0c0b10000 r--p 00100000 08:01 1234   "
          "/work/build/worker",
          8, 0) +
      SmapsEntry(
          "7f10a0000000-7f10a0080000 r--p 00000000 08:01 2001   "
          "/usr/lib/x86_64-linux-gnu/libc.so.6",
          0, 4) +
      SmapsEntry(
          "7f10a0080000-7f10a0300000 r-xp 00080000 08:01 2001   "
          "/usr/lib/x86_64-linux-gnu/libc.so.6",
          0, 0) +
      SmapsEntry(
          "7f10a0300000-7f10a0340000 rw-p 00300000 08:01 2001   "
          "/usr/lib/x86_64-linux-gnu/libc.so.6",
          0, 0) +
      // A data file mapped read-only (no code of its own), a shared mapping,
      // anonymous memory, the vDSO.
      SmapsEntry(
          "7f10a0400000-7f10a0420000 r--p 00000000 08:01 2002   "
          "/usr/share/icu/icudt72l.dat",
          0, 0) +
      SmapsEntry(
          "7f10a0500000-7f10a0520000 r-xs 00000000 08:01 2003   "
          "/data/queue.db-shm",
          0, 0) +
      SmapsEntry("7f10a0800000-7f10a0900000 rw-p 00000000 00:00 0 ", 64, 0) +
      SmapsEntry("7ffd10100000-7ffd10102000 r-xp 00000000 00:00 0      [vdso]",
                 0, 0);
  auto found = UnmappableImageMappings(smaps);
  REQUIRE(found.size() == 3);
  CHECK(found[0].start == 0x55d0c0a00000);  // the worker's headers
  CHECK(found[1].perms == "r-xp");          // its code
  CHECK(found[2].start == 0x7f10a0080000);  // libc's code
  CHECK(UnmappableImageMappings("").empty());
  CHECK(
      UnmappableImageMappings("not an smaps file\nAnonymous: 0 kB\n").empty());
  // A mapping whose Swap line is missing (cut short) is not taken.
  CHECK(UnmappableImageMappings(
            "55d0c0a1c000-55d0c0b00000 r-xp 0001c000 08:01 1234 /w/worker\n"
            "Anonymous:             0 kB\n")
            .empty());
}

TEST_CASE(
    "UnmapIdleImagePages unmaps this process's clean code pages and the code "
    "still runs",
    "[unused_pages]") {
  unsigned char before[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>("abc"), 3, before);
  std::string text = std::to_string(12345);
  auto report = UnmapIdleImagePages(common::ProcFs());
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->mappings > 0);
  CHECK(report->rss_after > 0);
  CHECK(report->rss_after < report->rss_before);
  // Code and read-only data come back on first touch, relocations intact.
  unsigned char after[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>("abc"), 3, after);
  CHECK(std::equal(before, before + SHA256_DIGEST_LENGTH, after));
  CHECK(std::to_string(12345) == text);
  // Twice in a row is harmless.
  CHECK(UnmapIdleImagePages(common::ProcFs()).ok());
}

TEST_CASE("UnmapIdleImagePages reports an unreadable smaps file",
          "[unused_pages]") {
  CHECK_FALSE(UnmapIdleImagePages(common::ProcFs("/nonexistent-root")).ok());
}

}  // namespace
}  // namespace dynoguard::worker
