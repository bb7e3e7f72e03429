#include "worker/memory/ballast.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace dynoguard::worker {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// This process's VmRSS in bytes, from /proc/self/status.
uint64_t ReadVmRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  FAIL("no VmRSS in /proc/self/status");
  return 0;
}

TEST_CASE("Grow adds touched megabytes that count in RSS", "[ballast]") {
  Ballast ballast;
  const uint64_t rss_before = ReadVmRss();
  CHECK(ballast.Grow(8) == 8);
  CHECK(ballast.megabytes() == 8);
  CHECK(ballast.bytes() == 8 * kMiB);
  CHECK(ReadVmRss() >= rss_before + 7 * kMiB);

  CHECK(ballast.Grow(2) == 10);
  CHECK(ballast.megabytes() == 10);
}

TEST_CASE("standard trim releases half the ballast, rounded up", "[ballast]") {
  Ballast ballast;
  ballast.Grow(8);
  CHECK(ballast.Trim(CleanupLevel::kStandard) == 4 * kMiB);
  CHECK(ballast.megabytes() == 4);

  ballast.Release();
  ballast.Grow(5);
  CHECK(ballast.Trim(CleanupLevel::kStandard) == 3 * kMiB);
  CHECK(ballast.megabytes() == 2);
  ballast.Trim(CleanupLevel::kStandard);
  ballast.Trim(CleanupLevel::kStandard);
  CHECK(ballast.megabytes() == 0);
}

TEST_CASE("emergency trim releases everything and RSS drops", "[ballast]") {
  Ballast ballast;
  ballast.Grow(8);
  const uint64_t rss_grown = ReadVmRss();
  CHECK(ballast.Trim(CleanupLevel::kEmergency) == 8 * kMiB);
  CHECK(ballast.megabytes() == 0);
  CHECK(ballast.bytes() == 0);
  CHECK(ReadVmRss() + 7 * kMiB <= rss_grown);
}

TEST_CASE("pinned chunks survive every cleanup, Release frees them",
          "[ballast]") {
  Ballast ballast;
  ballast.Grow(4);
  CHECK(ballast.Grow(6, /*pinned=*/true) == 10);
  CHECK(ballast.bytes() == 10 * kMiB);
  CHECK(ballast.Trim(CleanupLevel::kEmergency) == 4 * kMiB);
  CHECK(ballast.megabytes() == 6);
  CHECK(ballast.Trim(CleanupLevel::kStandard) == 0);
  CHECK(ballast.Trim(CleanupLevel::kEmergency) == 0);
  CHECK(ballast.megabytes() == 6);
  const uint64_t rss_pinned = ReadVmRss();
  CHECK(ballast.Release() == 6);
  CHECK(ballast.megabytes() == 0);
  CHECK(ReadVmRss() + 5 * kMiB <= rss_pinned);
}

TEST_CASE("Release returns the megabytes released", "[ballast]") {
  Ballast ballast;
  CHECK(ballast.Release() == 0);
  ballast.Grow(3);
  CHECK(ballast.Release() == 3);
  CHECK(ballast.megabytes() == 0);
}

TEST_CASE("destroying the ballast gives its memory back", "[ballast]") {
  uint64_t rss_grown = 0;
  {
    Ballast ballast;
    ballast.Grow(8);
    rss_grown = ReadVmRss();
  }
  CHECK(ReadVmRss() + 7 * kMiB <= rss_grown);
}

TEST_CASE("ballast reports its name", "[ballast]") {
  Ballast ballast;
  CHECK(ballast.name() == "ballast");
}

}  // namespace
}  // namespace dynoguard::worker
