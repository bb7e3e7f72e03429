#include "worker/session/backup_policy.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;

TEST_CASE("backup policy: writes at most once per min_interval", "[session]") {
  RemoteBackupPolicy p(
      {milliseconds(6000), milliseconds(5000), milliseconds(300000)});
  CHECK(p.Due(0));
  p.OnAttempt(1000);
  CHECK_FALSE(p.Due(1000));
  p.OnSuccess();
  CHECK_FALSE(p.Due(6999));
  CHECK(p.Due(7000));
}

TEST_CASE(
    "backup policy: failures back off exponentially up to the max, a "
    "success resets",
    "[session]") {
  RemoteBackupPolicy p(
      {milliseconds(0), milliseconds(5000), milliseconds(40000)});
  int64_t now = 0;
  const int64_t expected[] = {5000, 10000, 20000, 40000, 40000};
  for (int64_t wait : expected) {
    p.OnAttempt(now);
    p.OnFailure(now);
    CHECK(p.next_allowed_ms() == now + wait);
    CHECK_FALSE(p.Due(now + wait - 1));
    now += wait;
    CHECK(p.Due(now));
  }
  CHECK(p.failures() == 5);
  p.OnAttempt(now);
  p.OnSuccess();
  CHECK(p.failures() == 0);
  CHECK(p.Due(now));
}

TEST_CASE("backup policy: the backoff never undercuts min_interval",
          "[session]") {
  RemoteBackupPolicy p(
      {milliseconds(6000), milliseconds(1000), milliseconds(2000)});
  p.OnAttempt(0);
  p.OnFailure(100);
  CHECK(p.next_allowed_ms() == 6000);
}

}  // namespace
}  // namespace dynoguard::worker
