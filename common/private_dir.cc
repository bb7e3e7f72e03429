#include "common/private_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace dynoguard::common {

Status CreatePrivateDirectory(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IOError("create " + path, ec.message());
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::IOError("stat " + path, std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return Status::IOError("create " + path, "not a directory");
  if (st.st_uid == ::geteuid() && (st.st_mode & 0077) != 0 &&
      ::chmod(path.c_str(), 0700) != 0) {
    return Status::IOError("chmod 0700 " + path, std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace dynoguard::common
