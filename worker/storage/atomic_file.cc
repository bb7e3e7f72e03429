#include "worker/storage/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/unique_fd.h"

namespace dynoguard::worker::storage {

using common::Result;
using common::Status;
using common::UniqueFd;

namespace {

Status Errno(const std::string& what, const std::string& path, int err) {
  return Status::IOError(what + " " + path, std::strerror(err));
}

// The directory part of `path` ("." for a bare name), for the temp file and
// the directory fsync.
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A name no other writer uses at the same time: pid, a process-wide counter
// and a random number, so that O_EXCL practically never collides (and when
// it does, the caller tries the next one).
std::string TempNameFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 random{std::random_device{}()};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + "-" +
         std::to_string(random() % 1000000);
}

Status WriteAll(int fd, std::string_view bytes, const std::string& name) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", name, errno);
    }
    // A short write is retried: the next write reports ENOSPC/EFBIG.
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  if (path.empty() || path.back() == '/')
    return Status::InvalidArgument("atomic write: not a file path: '" + path +
                                   "'");
  std::string temp;
  UniqueFd fd;
  for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
    temp = TempNameFor(path);
    fd.Reset(::open(temp.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    0600));
    if (!fd && errno != EEXIST) return Errno("create", temp, errno);
  }
  if (!fd) return Errno("create", temp, EEXIST);

  // From here on every failure removes the temp file: the old `path` is
  // untouched until the rename.
  auto fail = [&temp](Status status) {
    ::unlink(temp.c_str());
    return status;
  };
  // The umask may have taken bits off 0600 (never added any); fchmod makes
  // it exactly 0600.
  if (::fchmod(fd.get(), 0600) != 0)
    return fail(Errno("chmod 0600", temp, errno));
  if (Status s = WriteAll(fd.get(), bytes, temp); !s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0) return fail(Errno("fsync", temp, errno));
  // close() can report a deferred write error (NFS); do not ignore it.
  if (::close(fd.Release()) != 0) return fail(Errno("close", temp, errno));
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return fail(Errno("rename over", path, errno));

  // The rename is durable only once the directory entry is on disk.
  const std::string dir = DirectoryOf(path);
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return Errno("open directory", dir, errno);
  if (::fsync(dir_fd.get()) != 0 && errno != EINVAL)  // EINVAL: no dir fsync
    return Errno("fsync directory", dir, errno);
  return Status::Ok();
}

Result<std::optional<std::string>> ReadWholeFile(const std::string& path,
                                                 uint64_t max_bytes) {
  // O_NONBLOCK: a FIFO at `path` must not hang the open (it is refused
  // below); regular files ignore the flag.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Errno("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno("stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return Status::InvalidArgument("read " + path + ": not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    return Status::InvalidArgument("read " + path + ": " +
                                   std::to_string(size) + " bytes, more than " +
                                   std::to_string(max_bytes));
  // Read to the end rather than to the size fstat saw: a file that grew
  // meanwhile is refused past max_bytes rather than cut.
  std::string contents;
  contents.reserve(size);
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read", path, errno);
    }
    if (n == 0) break;
    if (contents.size() + static_cast<uint64_t>(n) > max_bytes)
      return Status::InvalidArgument("read " + path + ": more than " +
                                     std::to_string(max_bytes) + " bytes");
    contents.append(buffer, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(contents));
}

}  // namespace dynoguard::worker::storage
