#include "worker/inbound/inbound_policy.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

constexpr int64_t kT = 1'700'000'000'000;

TEST_CASE("inbound policy: the window is open for 24 h after the last inbound",
          "[inbound]") {
  CHECK_FALSE(WindowOpenAt(std::nullopt, kT));
  CHECK(WindowOpenAt(kT, kT));
  CHECK(WindowOpenAt(kT, kT + 24 * kHourMs - 1));
  CHECK_FALSE(WindowOpenAt(kT, kT + 24 * kHourMs));
  CHECK_FALSE(WindowOpenAt(kT, kT + 24 * kHourMs + 1));
  CHECK(WindowClosesAtMs(kT) == kT + 24 * kHourMs);
}

TEST_CASE(
    "inbound policy: the window starts at the message, never later than "
    "its receipt",
    "[inbound]") {
  CHECK(WindowStartMs(kT - 5000, kT) == kT - 5000);  // redelivered late
  CHECK(WindowStartMs(kT + 5000, kT) == kT);         // sender's clock ahead
  CHECK(WindowStartMs(0, kT) == kT);                 // no timestamp
}

TEST_CASE("inbound policy: seen keys are kept 7 days, processed rows 24 h",
          "[inbound]") {
  CHECK(SeenPruneCutoffMs(kT) == kT - 7 * 24 * kHourMs);
  CHECK(InboxPruneCutoffMs(kT) == kT - 24 * kHourMs);
}

TEST_CASE("inbound policy: dedup keys keep messages, statuses and errors apart",
          "[inbound]") {
  CHECK(SeenMessageKey("wamid.A") != SeenStatusKey("wamid.A", "read"));
  CHECK(SeenStatusKey("wamid.A", "read") != SeenStatusKey("wamid.A", "sent"));
  CHECK(SeenStatusKey("wamid.A", "read") == SeenStatusKey("wamid.A", "read"));
  CHECK(SeenErrorKey(1, 2) != SeenErrorKey(12, 0));
  CHECK(SeenErrorKey(1, 2) == SeenErrorKey(1, 2));
}

}  // namespace
}  // namespace dynoguard::worker
