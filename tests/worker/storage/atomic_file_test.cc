#include "worker/storage/atomic_file.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace dynoguard::worker::storage {
namespace {

using common::Status;
using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The names in `dir`, without "." and "..".
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

// Lowers this process's file size limit (RLIMIT_FSIZE) for one scope, with
// SIGXFSZ ignored so that a write past it fails with EFBIG instead of killing
// the process: a full disk, as far as the writer can tell.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit_) == 0);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = old_limit_;
    limit.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~ScopedFileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_limit_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  struct rlimit old_limit_ {};
  void (*old_handler_)(int) = SIG_DFL;
};

TEST_CASE("atomic file: writes, replaces and reads back", "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("session.snapshot");
  REQUIRE(WriteFileAtomically(path, "first").ok());
  CHECK(ReadFileText(path) == "first");
  REQUIRE(WriteFileAtomically(path, std::string(100000, 'x')).ok());
  auto read = ReadWholeFile(path, 1 << 20);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK(**read == std::string(100000, 'x'));
  // Nothing but the file is left in the directory (no temp files).
  CHECK(Entries(dir.path()) == std::vector<std::string>{"session.snapshot"});
}

TEST_CASE("atomic file: empty contents and binary bytes", "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("f");
  REQUIRE(WriteFileAtomically(path, "").ok());
  auto empty = ReadWholeFile(path, 10);
  REQUIRE(empty.ok());
  REQUIRE(empty->has_value());
  CHECK((*empty)->empty());
  const std::string binary("a\0b\xff\n", 5);
  REQUIRE(WriteFileAtomically(path, binary).ok());
  auto read = ReadWholeFile(path, 10);
  REQUIRE(read.ok());
  CHECK(**read == binary);
}

TEST_CASE("atomic file: mode 0600 whatever the umask, old mode tightened",
          "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("f");
  {
    ScopedUmask umask(0);
    REQUIRE(WriteFileAtomically(path, "a").ok());
  }
  CHECK(ModeOf(path) == 0600);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  {
    ScopedUmask umask(022);
    REQUIRE(WriteFileAtomically(path, "b").ok());
  }
  CHECK(ModeOf(path) == 0600);
}

TEST_CASE("atomic file: an absent file reads as nullopt", "[atomic-file]") {
  TempDir dir;
  auto read = ReadWholeFile(dir.File("absent"), 100);
  REQUIRE(read.ok());
  CHECK_FALSE(read->has_value());
}

TEST_CASE("atomic file: a file larger than max_bytes is refused",
          "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("big");
  REQUIRE(WriteFileAtomically(path, std::string(1001, 'y')).ok());
  auto read = ReadWholeFile(path, 1000);
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(read.status().message(),
             Catch::Contains(path) && Catch::Contains("1001"));
  auto exact = ReadWholeFile(path, 1001);
  REQUIRE(exact.ok());
  CHECK((*exact)->size() == 1001);
}

TEST_CASE("atomic file: a directory or a FIFO is not read", "[atomic-file]") {
  TempDir dir;
  auto read = ReadWholeFile(dir.path(), 100);
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == Status::Code::kInvalidArgument);
  const std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto from_fifo = ReadWholeFile(fifo, 100);  // must not hang
  REQUIRE_FALSE(from_fifo.ok());
  CHECK(from_fifo.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("atomic file: a missing directory is an IOError naming the path",
          "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/f");
  Status status = WriteFileAtomically(path, "a");
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kIOError);
  CHECK_THAT(status.message(),
             Catch::Contains(path) && Catch::Contains("No such file"));
  CHECK_FALSE(WriteFileAtomically("", "a").ok());
  CHECK_FALSE(WriteFileAtomically(dir.path() + "/", "a").ok());
}

TEST_CASE("atomic file: a full disk keeps the old file and leaves no temp",
          "[atomic-file]") {
  TempDir dir;
  const std::string path = dir.File("session.snapshot");
  REQUIRE(WriteFileAtomically(path, "the old snapshot").ok());
  Status status;
  {
    ScopedFileSizeLimit limit(64 * 1024);
    status = WriteFileAtomically(path, std::string(1 << 20, 'n'));
  }
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kIOError);
  // errno EFBIG, and the temp file's name (the path plus a suffix).
  CHECK_THAT(status.message(), Catch::Contains("File too large") &&
                                   Catch::Contains(path + ".tmp-"));
  CHECK(ReadFileText(path) == "the old snapshot");
  CHECK(Entries(dir.path()) == std::vector<std::string>{"session.snapshot"});
  // Once there is room again, the write goes through.
  REQUIRE(WriteFileAtomically(path, std::string(1 << 20, 'n')).ok());
  CHECK(ReadFileText(path)->size() == (1u << 20));
}

TEST_CASE("atomic file: a read-only directory fails cleanly", "[atomic-file]") {
  if (::geteuid() == 0) return;  // root writes anyway
  TempDir dir;
  const std::string sub = dir.File("ro");
  REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
  const std::string path = sub + "/f";
  REQUIRE(WriteFileAtomically(path, "old").ok());
  REQUIRE(::chmod(sub.c_str(), 0500) == 0);
  Status status = WriteFileAtomically(path, "new");
  ::chmod(sub.c_str(), 0700);
  REQUIRE_FALSE(status.ok());
  CHECK_THAT(status.message(), Catch::Contains("Permission denied"));
  CHECK(ReadFileText(path) == "old");
}

TEST_CASE("atomic file: a symlink at the path is replaced, not followed",
          "[atomic-file]") {
  TempDir dir;
  const std::string target = dir.File("target");
  const std::string link = dir.File("link");
  REQUIRE(WriteFileAtomically(target, "target").ok());
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  REQUIRE(WriteFileAtomically(link, "new").ok());
  CHECK(ReadFileText(target) == "target");
  CHECK(ReadFileText(link) == "new");
  struct stat st {};
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace dynoguard::worker::storage
