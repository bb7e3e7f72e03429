#include "common/byte_size.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * kKiB;

TEST_CASE("ParseByteSize reads plain bytes and binary units", "[byte_size]") {
  CHECK(ParseByteSize("0") == 0u);
  CHECK(ParseByteSize("65536") == 65536u);
  CHECK(ParseByteSize("256B") == 256u);
  CHECK(ParseByteSize("16k") == 16 * kKiB);
  CHECK(ParseByteSize("16K") == 16 * kKiB);
  CHECK(ParseByteSize("16kb") == 16 * kKiB);
  CHECK(ParseByteSize("16KiB") == 16 * kKiB);
  CHECK(ParseByteSize("64M") == 64 * kMiB);
  CHECK(ParseByteSize("64MB") == 64 * kMiB);
  CHECK(ParseByteSize("64mib") == 64 * kMiB);
  CHECK(ParseByteSize("1G") == 1024 * kMiB);
  CHECK(ParseByteSize("1.5MiB") == 3 * kMiB / 2);
  CHECK(ParseByteSize("0.5k") == 512u);
}

TEST_CASE("ParseByteSize refuses what is not a size", "[byte_size]") {
  for (const char* bad :
       {"", "k", "-1", "-1k", "1.5", "1.5B", "12 k", " 12", "12x", "1.2.3M",
        "MB", "0x10", "1e3", "99999999999999999999", "20000000000T", "16kk"}) {
    INFO(bad);
    CHECK_FALSE(ParseByteSize(bad).has_value());
  }
}

TEST_CASE("FormatByteSize writes the largest exact unit", "[byte_size]") {
  CHECK(FormatByteSize(0) == "0 B");
  CHECK(FormatByteSize(256) == "256 B");
  CHECK(FormatByteSize(1536) == "1536 B");
  CHECK(FormatByteSize(16 * kKiB) == "16 KiB");
  CHECK(FormatByteSize(64 * kMiB) == "64 MiB");
  CHECK(FormatByteSize(2048 * kMiB) == "2 GiB");
}

}  // namespace
}  // namespace dynoguard::common
