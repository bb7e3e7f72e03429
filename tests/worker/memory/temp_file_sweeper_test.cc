#include "worker/memory/temp_file_sweeper.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace dynoguard::worker {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "dynoguard-sweep-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& path, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out << std::string(size, 'x');
  REQUIRE(out.good());
}

// Sets the modification time of `path` itself (not a link's target).
void SetMtime(const fs::path& path, system_clock::time_point when) {
  const auto since_epoch = when.time_since_epoch();
  const auto secs = std::chrono::duration_cast<seconds>(since_epoch);
  timespec times[2];
  times[0].tv_sec = secs.count();
  times[0].tv_nsec = 0;
  times[1] = times[0];
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

TEST_CASE("stale files are removed and fresh ones kept",
          "[temp_file_sweeper]") {
  TempDir dir;
  const auto now = system_clock::now();
  WriteFile(dir.path() / "old-a", 100);
  WriteFile(dir.path() / "old-b", 50);
  WriteFile(dir.path() / "fresh", 10);
  WriteFile(dir.path() / "recent", 10);
  SetMtime(dir.path() / "old-a", now - hours(2));
  SetMtime(dir.path() / "old-b", now - hours(1) - seconds(1));
  SetMtime(dir.path() / "recent", now - hours(1) + seconds(5));

  const auto result = SweepStaleFiles(dir.path().string(), hours(1), now);

  REQUIRE(result.ok());
  CHECK(result->files_removed == 2);
  CHECK(result->bytes_removed == 150);
  CHECK(result->files_failed == 0);
  CHECK_FALSE(fs::exists(dir.path() / "old-a"));
  CHECK_FALSE(fs::exists(dir.path() / "old-b"));
  CHECK(fs::exists(dir.path() / "fresh"));
  CHECK(fs::exists(dir.path() / "recent"));
}

TEST_CASE("subdirectories and their contents are left alone",
          "[temp_file_sweeper]") {
  TempDir dir;
  const auto now = system_clock::now();
  fs::create_directory(dir.path() / "sub");
  WriteFile(dir.path() / "sub" / "inner", 10);
  SetMtime(dir.path() / "sub" / "inner", now - hours(5));
  SetMtime(dir.path() / "sub", now - hours(5));

  const auto result = SweepStaleFiles(dir.path().string(), hours(1), now);

  REQUIRE(result.ok());
  CHECK(result->files_removed == 0);
  CHECK(fs::is_directory(dir.path() / "sub"));
  CHECK(fs::exists(dir.path() / "sub" / "inner"));
}

TEST_CASE("a stale symlink is removed but its target is untouched",
          "[temp_file_sweeper]") {
  TempDir dir;
  TempDir outside;
  const auto now = system_clock::now();
  const fs::path target = outside.path() / "precious";
  WriteFile(target, 1000);
  SetMtime(target, now - hours(5));
  fs::create_symlink(target, dir.path() / "link");
  SetMtime(dir.path() / "link", now - hours(5));
  // A fresh link to an old target: judged by the link's own time, kept.
  fs::create_symlink(target, dir.path() / "fresh-link");

  const auto result = SweepStaleFiles(dir.path().string(), hours(1), now);

  REQUIRE(result.ok());
  CHECK(result->files_removed == 1);
  CHECK(result->bytes_removed == 0);
  CHECK_FALSE(fs::exists(fs::symlink_status(dir.path() / "link")));
  CHECK(fs::is_symlink(dir.path() / "fresh-link"));
  CHECK(fs::exists(target));
  CHECK(fs::file_size(target) == 1000);
}

TEST_CASE("a missing directory is OK with nothing removed",
          "[temp_file_sweeper]") {
  TempDir dir;
  const auto result = SweepStaleFiles((dir.path() / "no-such").string(),
                                      hours(1), system_clock::now());
  REQUIRE(result.ok());
  CHECK(result->files_removed == 0);
  CHECK(result->bytes_removed == 0);
}

TEST_CASE("a path that is not a directory is an error", "[temp_file_sweeper]") {
  TempDir dir;
  WriteFile(dir.path() / "plain", 1);
  const auto result = SweepStaleFiles((dir.path() / "plain").string(), hours(1),
                                      system_clock::now());
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == common::Status::Code::kIOError);
  CHECK(result.status().message().find("plain") != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker
