#include "tests/support/temp_dir.h"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace dynoguard::testing {

TempDir::TempDir() {
  char pattern[] = "/tmp/dg-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    std::fprintf(stderr, "TempDir: mkdtemp %s: %s\n", pattern,
                 std::strerror(errno));
    std::abort();
  }
  path_ = pattern;
}

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, std::string())) {}

TempDir::~TempDir() {
  if (path_.empty()) return;
  const char* keep = std::getenv("DYNOGUARD_KEEP_TEMP");
  if (keep != nullptr && std::strcmp(keep, "1") == 0) return;
  std::error_code ec;  // best effort: a leftover in /tmp fails no test
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::File(const std::string& name) const {
  return path_ + "/" + name;
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

std::optional<std::string> ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace dynoguard::testing
