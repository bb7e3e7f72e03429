// TempDir: a fresh directory under /tmp for one test (a DATA_DIR), removed
// with everything in it when the TempDir goes away. Names stay short
// (/tmp/dg-XXXXXX) because unix socket paths inside it are limited to 108
// bytes.
#ifndef DYNOGUARD_TESTS_SUPPORT_TEMP_DIR_H_
#define DYNOGUARD_TESTS_SUPPORT_TEMP_DIR_H_

#include <cstddef>
#include <optional>
#include <string>

namespace dynoguard::testing {

// Not thread-safe; move-only. Set DYNOGUARD_KEEP_TEMP=1 to keep the
// directories of a run for inspection.
class TempDir {
 public:
  // Creates the directory; aborts the test binary when /tmp is unusable (a
  // test cannot run without it).
  TempDir();
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const;

 private:
  std::string path_;
};

// How many entries `dir` holds (dot files not counted); 0 when it cannot be
// read.
size_t FilesIn(const std::string& dir);

// The whole contents of `path`, or nullopt when it cannot be read.
std::optional<std::string> ReadFileText(const std::string& path);

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_TEMP_DIR_H_
