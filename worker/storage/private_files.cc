#include "worker/storage/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dynoguard::worker::storage {

using common::Status;

namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path, std::strerror(errno));
}

}  // namespace

Status EnsurePrivateDirectory(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  // Parents first (mkdir -p), each created 0700; existing ones are left
  // alone: only `path` is ours to tighten.
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string parent = path.substr(0, slash);
    if (::mkdir(parent.c_str(), kPrivateDirMode) != 0 && errno != EEXIST)
      return Errno("create directory", parent);
  }
  if (::mkdir(path.c_str(), kPrivateDirMode) != 0 && errno != EEXIST)
    return Errno("create directory", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Errno("stat", path);
  if (!S_ISDIR(st.st_mode))
    return Status::IOError("directory " + path, "not a directory");
  // mkdir's mode is filtered by the umask; chmod is not. A directory owned
  // by someone else (a volume mounted for us) cannot be tightened: that is
  // not an error, the files inside are still 0600.
  if ((st.st_mode & 07777) != kPrivateDirMode &&
      ::chmod(path.c_str(), kPrivateDirMode) != 0 &&
      !(errno == EPERM && st.st_uid != ::geteuid()))
    return Errno("chmod 0700", path);
  return Status::Ok();
}

Status EnsurePrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                  kPrivateFileMode);
  if (fd < 0) return Errno("create", path);
  Status status;
  if (::fchmod(fd, kPrivateFileMode) != 0) status = Errno("chmod 0600", path);
  ::close(fd);
  return status;
}

Status RestrictIfExists(const std::string& path) {
  if (::chmod(path.c_str(), kPrivateFileMode) == 0 || errno == ENOENT)
    return Status::Ok();
  return Errno("chmod 0600", path);
}

}  // namespace dynoguard::worker::storage
