#include "worker/storage/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "worker/storage/private_files.h"

namespace dynoguard::worker::storage {

using common::Result;
using common::Status;

namespace {

// The pid the holder wrote, or "unknown".
std::string ReadHolder(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text.empty() ? "unknown" : text;
}

}  // namespace

Result<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(
    const std::string& data_dir) {
  const std::string path = data_dir + "/" + kFileName;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                  kPrivateFileMode);
  if (fd < 0)
    return Status::IOError("open lock file " + path, std::strerror(errno));
  (void)::fchmod(fd, kPrivateFileMode);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    std::string holder = ReadHolder(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Unavailable("DATA_DIR " + data_dir +
                                 " is in use by another worker (pid " + holder +
                                 " holds " + path + ")");
    }
    return Status::IOError("lock " + path, std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd, path));
}

DataDirLock::~DataDirLock() {
  // Closing the last descriptor of the open file description releases the
  // flock. The file stays: removing it would race a new worker's open.
  ::close(fd_);
}

}  // namespace dynoguard::worker::storage
