#include "common/number.h"

#include <catch2/catch.hpp>
#include <cstdint>

namespace dynoguard::common {
namespace {

TEST_CASE("number: whole-string decimals", "[number]") {
  CHECK(ParseDecimal<int>("0") == 0);
  CHECK(ParseDecimal<int>("42") == 42);
  CHECK(ParseDecimal<uint64_t>("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "abc",
                          "18446744073709551616"}) {
    INFO(bad);
    CHECK_FALSE(ParseDecimal<uint64_t>(bad).has_value());
  }
  CHECK_FALSE(ParseDecimal<int>("2147483648").has_value());
}

TEST_CASE("number: signed integers", "[number]") {
  CHECK(ParseInteger<int>("-5") == -5);
  CHECK(ParseInteger<int>("7") == 7);
  CHECK_FALSE(ParseInteger<int>("-").has_value());
  CHECK_FALSE(ParseInteger<int>("--5").has_value());
  CHECK_FALSE(ParseInteger<int>("+5").has_value());
  CHECK_FALSE(ParseInteger<unsigned>("-5").has_value());
}

TEST_CASE("number: a range", "[number]") {
  CHECK(ParseDecimalInRange<uint64_t>("1", 1, 4096) == 1u);
  CHECK(ParseDecimalInRange<uint64_t>("4096", 1, 4096) == 4096u);
  CHECK_FALSE(ParseDecimalInRange<uint64_t>("0", 1, 4096).has_value());
  CHECK_FALSE(ParseDecimalInRange<uint64_t>("4097", 1, 4096).has_value());
}

}  // namespace
}  // namespace dynoguard::common
