#include "worker/outbound/message_id.h"

#include <catch2/catch.hpp>
#include <set>

namespace dynoguard::worker {
namespace {

bool IsLowerHex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_CASE("message id: msg_, the time's 12 hex digits, 12 random ones",
          "[message-id]") {
  const std::array<unsigned char, 6> random = {0x01, 0x23, 0x45,
                                               0x67, 0x89, 0xab};
  CHECK(FormatMessageId(0x0123456789ab, random) ==
        "msg_0123456789ab0123456789ab");
  CHECK(FormatMessageId(-5, random) == "msg_0000000000000123456789ab");
  const std::string id = FormatMessageId(1'796'146'060'674, random);
  REQUIRE(id.size() == 28);
  CHECK(id.rfind("msg_", 0) == 0);
  CHECK(IsLowerHex(id.substr(4)));
}

TEST_CASE("message id: later milliseconds sort after earlier ones",
          "[message-id]") {
  const std::array<unsigned char, 6> high = {0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff};
  const std::array<unsigned char, 6> low = {0, 0, 0, 0, 0, 0};
  for (int64_t t :
       {int64_t{0}, int64_t{1'700'000'000'000}, int64_t{0xfffffffffffe}}) {
    CHECK(FormatMessageId(t, high) < FormatMessageId(t + 1, low));
  }
}

TEST_CASE("message id: ids of one millisecond differ", "[message-id]") {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = NewMessageId(1'796'146'060'674);
    REQUIRE(id.ok());
    CHECK(id->rfind("msg_01a232a5dd82", 0) == 0);
    ids.insert(*id);
  }
  CHECK(ids.size() == 1000);
}

}  // namespace
}  // namespace dynoguard::worker
