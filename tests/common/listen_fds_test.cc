#include "common/listen_fds.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("ParseListenFds: unset LISTEN_FDS means none", "[listen_fds]") {
  Result<int> n = ParseListenFds("", "", 42);
  REQUIRE(n.ok());
  CHECK(*n == 0);
  Result<int> with_pid = ParseListenFds("", "42", 42);
  REQUIRE(with_pid.ok());
  CHECK(*with_pid == 0);
}

TEST_CASE("ParseListenFds: count for this process", "[listen_fds]") {
  Result<int> n = ParseListenFds("1", "42", 42);
  REQUIRE(n.ok());
  CHECK(*n == 1);
  Result<int> two = ParseListenFds("2", "42", 42);
  REQUIRE(two.ok());
  CHECK(*two == 2);
  Result<int> zero = ParseListenFds("0", "42", 42);
  REQUIRE(zero.ok());
  CHECK(*zero == 0);
}

TEST_CASE("ParseListenFds: unset LISTEN_PID does not restrict",
          "[listen_fds]") {
  Result<int> n = ParseListenFds("3", "", 42);
  REQUIRE(n.ok());
  CHECK(*n == 3);
}

TEST_CASE("ParseListenFds: another process's fds are not ours",
          "[listen_fds]") {
  Result<int> n = ParseListenFds("1", "41", 42);
  REQUIRE(n.ok());
  CHECK(*n == 0);
}

TEST_CASE("ParseListenFds: bad numbers are invalid", "[listen_fds]") {
  for (auto [fds, pid] :
       {std::pair{"x", "42"}, std::pair{"-1", "42"}, std::pair{"1 ", "42"},
        std::pair{"+1", "42"}, std::pair{"99999999999", "42"},
        std::pair{"1", "abc"}, std::pair{"1", "0"}, std::pair{"1", "-42"}}) {
    Result<int> n = ParseListenFds(fds, pid, 42);
    CHECK_FALSE(n.ok());
    CHECK(n.status().code() == Status::Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace dynoguard::common
