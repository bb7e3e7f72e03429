#include "worker/storage/private_files.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/temp_dir.h"
#include "worker/storage/data_dir_lock.h"

namespace dynoguard::worker::storage {
namespace {

using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets the umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST_CASE("private files: directories 0700, files 0600 under umask 022",
          "[storage][permissions]") {
  ScopedUmask umask(022);
  TempDir dir;
  const std::string data = dir.File("a/b/data");
  REQUIRE(EnsurePrivateDirectory(data).ok());
  CHECK(ModeOf(data) == 0700);
  CHECK(ModeOf(dir.File("a")) == 0700);  // created parents too

  // An existing directory with a looser mode is tightened.
  REQUIRE(::chmod(data.c_str(), 0755) == 0);
  REQUIRE(EnsurePrivateDirectory(data).ok());
  CHECK(ModeOf(data) == 0700);

  const std::string file = data + "/f";
  REQUIRE(EnsurePrivateFile(file).ok());
  CHECK(ModeOf(file) == 0600);
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  REQUIRE(EnsurePrivateFile(file).ok());
  CHECK(ModeOf(file) == 0600);

  CHECK(RestrictIfExists(data + "/missing").ok());
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  REQUIRE(RestrictIfExists(file).ok());
  CHECK(ModeOf(file) == 0600);

  CHECK_FALSE(EnsurePrivateDirectory(file).ok());  // a file, not a directory
}

TEST_CASE("DataDirLock: one holder per directory, released on destruction",
          "[storage][lock]") {
  ScopedUmask umask(022);
  TempDir dir;
  auto first = DataDirLock::Acquire(dir.path());
  REQUIRE(first.ok());
  CHECK(ModeOf(dir.File("worker.lock")) == 0600);
  CHECK(ReadFileText(dir.File("worker.lock")).value_or("") ==
        std::to_string(::getpid()) + "\n");

  // flock locks belong to the open file: a second open conflicts even in
  // the same process, as a second worker's would.
  auto second = DataDirLock::Acquire(dir.path());
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == common::Status::Code::kUnavailable);
  CHECK(second.status().message().find("DATA_DIR " + dir.path()) !=
        std::string::npos);
  CHECK(second.status().message().find(std::to_string(::getpid())) !=
        std::string::npos);

  first->reset();
  auto third = DataDirLock::Acquire(dir.path());
  CHECK(third.ok());
}

}  // namespace
}  // namespace dynoguard::worker::storage
