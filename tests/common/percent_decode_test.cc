#include "common/percent_decode.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("percent decode: escapes in either case, malformed ones kept",
          "[percent-decode]") {
  CHECK(PercentDecode("p%40ss%3Aw%2fd") == "p@ss:w/d");
  CHECK(PercentDecode("plain") == "plain");
  CHECK(PercentDecode("100%") == "100%");
  CHECK(PercentDecode("%4") == "%4");
  CHECK(PercentDecode("%zz%41") == "%zzA");
  CHECK(PercentDecode("%00").size() == 1);
  CHECK(PercentDecode("") == "");
}

}  // namespace
}  // namespace dynoguard::common
