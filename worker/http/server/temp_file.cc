#include "worker/http/server/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace dynoguard::worker::http_server {

TempFile::~TempFile() { Remove(); }

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::exchange(other.path_, {})),
      bytes_(std::exchange(other.bytes_, 0)) {}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    Remove();
    fd_ = std::move(other.fd_);
    path_ = std::exchange(other.path_, {});
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

common::Result<TempFile> TempFile::Create(const std::string& dir,
                                          std::string_view prefix) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return common::Status::IOError("mkdir " + dir, std::strerror(errno));
  }
  std::string name = dir + "/" + std::string(prefix) + "XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  // mkostemp creates the file 0600 with O_EXCL.
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) {
    return common::Status::IOError("create a file in " + dir,
                                   std::strerror(errno));
  }
  TempFile file;
  file.fd_.Reset(fd);
  file.path_ = buf.data();
  return file;
}

common::Status TempFile::Write(std::string_view data) {
  if (!fd_) return common::Status::Internal("temp file is not open");
  while (!data.empty()) {
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return common::Status::IOError("write " + path_, std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
    bytes_ += static_cast<uint64_t>(n);
  }
  return common::Status::Ok();
}

void TempFile::Remove() {
  fd_.Reset();
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
  bytes_ = 0;
}

std::string TempFile::Release() {
  fd_.Reset();
  bytes_ = 0;
  return std::exchange(path_, {});
}

}  // namespace dynoguard::worker::http_server
