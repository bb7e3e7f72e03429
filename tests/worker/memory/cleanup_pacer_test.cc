#include "worker/memory/cleanup_pacer.h"

#include <catch2/catch.hpp>
#include <optional>

namespace dynoguard::worker {
namespace {

using Level = CleanupLevel;

TEST_CASE("cleanup pacer: nothing pending, nothing to run", "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  CHECK_FALSE(pacer.DelayMs(0).has_value());
  CHECK_FALSE(pacer.TakeDue(0).has_value());
}

TEST_CASE("cleanup pacer: the first request runs at once", "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kStandard);
  CHECK(pacer.DelayMs(1000) == std::optional<int64_t>(0));
  CHECK(pacer.TakeDue(1000) == std::optional<Level>(Level::kStandard));
  CHECK(pacer.taken_requests() == 1);
  CHECK_FALSE(pacer.TakeDue(1000).has_value());  // taken: no longer pending
}

TEST_CASE("cleanup pacer: requests within the spacing merge into one",
          "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kStandard);
  REQUIRE(pacer.TakeDue(1000).has_value());
  for (int i = 0; i < 40; ++i) pacer.Request(Level::kStandard);
  CHECK(pacer.DelayMs(1100) == std::optional<int64_t>(400));
  CHECK_FALSE(pacer.TakeDue(1100).has_value());
  CHECK_FALSE(pacer.TakeDue(1499).has_value());
  CHECK(pacer.TakeDue(1500) == std::optional<Level>(Level::kStandard));
  CHECK(pacer.taken_requests() == 40);
}

TEST_CASE("cleanup pacer: a request after the spacing runs at once",
          "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kEmergency);
  REQUIRE(pacer.TakeDue(1000).has_value());
  pacer.Request(Level::kStandard);
  CHECK(pacer.DelayMs(2000) == std::optional<int64_t>(0));
  CHECK(pacer.TakeDue(2000) == std::optional<Level>(Level::kStandard));
}

TEST_CASE("cleanup pacer: an emergency after a standard cleanup runs at once",
          "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kStandard);
  REQUIRE(pacer.TakeDue(1000).has_value());
  pacer.Request(Level::kEmergency);
  CHECK(pacer.DelayMs(1001) == std::optional<int64_t>(0));
  CHECK(pacer.TakeDue(1001) == std::optional<Level>(Level::kEmergency));
  // An emergency after an emergency waits like any other request.
  pacer.Request(Level::kEmergency);
  CHECK(pacer.DelayMs(1002) == std::optional<int64_t>(499));
}

TEST_CASE("cleanup pacer: a standard request after an emergency waits",
          "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kEmergency);
  REQUIRE(pacer.TakeDue(1000).has_value());
  pacer.Request(Level::kStandard);
  CHECK(pacer.DelayMs(1200) == std::optional<int64_t>(300));
}

TEST_CASE("cleanup pacer: merged requests run at the highest level asked for",
          "[cleanup_pacer]") {
  CleanupPacer pacer(500);
  pacer.Request(Level::kEmergency);
  REQUIRE(pacer.TakeDue(1000).has_value());
  pacer.Request(Level::kStandard);
  pacer.Request(Level::kEmergency);
  pacer.Request(Level::kStandard);
  CHECK(pacer.TakeDue(1500) == std::optional<Level>(Level::kEmergency));
  CHECK(pacer.taken_requests() == 3);
}

}  // namespace
}  // namespace dynoguard::worker
