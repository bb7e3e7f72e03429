#include "worker/memory/temp_file_sweeper.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace dynoguard::worker {

namespace {

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

std::chrono::system_clock::time_point ModificationTime(const struct stat& st) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) +
          std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

}  // namespace

common::Result<SweepResult> SweepStaleFiles(
    const std::string& dir, std::chrono::seconds older_than,
    std::chrono::system_clock::time_point now) {
  SweepResult result;
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return result;
    return common::Status::IOError("open " + dir, std::strerror(errno));
  }
  // fdopendir owns fd from here on (closedir closes it).
  UniqueDir stream(fdopendir(fd));
  if (!stream) {
    const int err = errno;
    close(fd);
    return common::Status::IOError("opendir " + dir, std::strerror(err));
  }

  const auto cutoff = now - older_than;
  // Every check and removal is relative to the directory fd and never follows
  // a link, so a renamed directory or a planted symlink cannot redirect us.
  while (true) {
    errno = 0;
    const dirent* entry = readdir(stream.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return common::Status::IOError("readdir " + dir, std::strerror(errno));
      }
      break;
    }
    const char* name = entry->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;

    struct stat st;
    if (fstatat(dirfd(stream.get()), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;  // vanished meanwhile
    }
    const bool regular = S_ISREG(st.st_mode);
    if (!regular && !S_ISLNK(st.st_mode)) continue;
    if (ModificationTime(st) >= cutoff) continue;

    if (unlinkat(dirfd(stream.get()), name, 0) != 0) {
      if (errno != ENOENT) ++result.files_failed;
      continue;
    }
    ++result.files_removed;
    if (regular) result.bytes_removed += static_cast<uint64_t>(st.st_size);
  }
  return result;
}

}  // namespace dynoguard::worker
