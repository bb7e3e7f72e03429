#include "common/time_format.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("time format: ISO 8601 UTC with milliseconds", "[time_format]") {
  CHECK(FormatIsoUtc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatIsoUtc(1700000000123) == "2023-11-14T22:13:20.123Z");
  CHECK(FormatIsoUtc(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatIsoUtc(-1000) == "1969-12-31T23:59:59.000Z");
}

TEST_CASE("time format: the wall clock is after 2020", "[time_format]") {
  CHECK(WallClockMs() > 1577836800000);
}

}  // namespace
}  // namespace dynoguard::common
