#include "common/ascii.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("ascii: case-insensitive equality, lower case, trimming", "[ascii]") {
  CHECK(EqualsIgnoreCase("Bearer", "bEARER"));
  CHECK_FALSE(EqualsIgnoreCase("Bearer", "Bearer "));
  CHECK_FALSE(EqualsIgnoreCase("a", "b"));
  CHECK(AsciiLower(std::string_view("Content-Type: \xC3\x89")) ==
        "content-type: \xC3\x89");
  CHECK(TrimSpaces(" \t x y \t") == "x y");
  CHECK(TrimSpaces(" \t ").empty());
}

}  // namespace
}  // namespace dynoguard::common
