#include "common/private_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"

namespace dynoguard::common {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("private dir: created 0700 whatever the umask", "[private_dir]") {
  testing::TempDir root;
  mode_t old = ::umask(0);
  Status status = CreatePrivateDirectory(root.File("a/data"));
  ::umask(old);
  REQUIRE(status.ok());
  CHECK(ModeOf(root.File("a/data")) == 0700);
}

TEST_CASE("private dir: an existing loose directory is tightened",
          "[private_dir]") {
  testing::TempDir root;
  std::string dir = root.File("data");
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  REQUIRE(::chmod(dir.c_str(), 0755) == 0);
  REQUIRE(CreatePrivateDirectory(dir).ok());
  CHECK(ModeOf(dir) == 0700);
}

TEST_CASE("private dir: a file in the way is an error naming it",
          "[private_dir]") {
  testing::TempDir root;
  std::string file = root.File("data");
  REQUIRE(::close(::creat(file.c_str(), 0600)) == 0);
  Status status = CreatePrivateDirectory(file);
  REQUIRE_FALSE(status.ok());
  CHECK(status.message().find(file) != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::common
