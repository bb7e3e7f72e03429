#include "common/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "common/unique_fd.h"

namespace dynoguard::common {
namespace {

// A process that exits between open() and read() makes some /proc files fail
// with ESRCH; for the caller that is the same as the file not being there.
Status ErrnoStatus(const std::string& context, const std::string& path,
                   int error) {
  if (error == ENOENT || error == ESRCH) {
    return Status::NotFound(context + " " + path + ": " + std::strerror(error));
  }
  return Status::IOError(context + " " + path, std::strerror(error));
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

ProcFs::ProcFs(std::string root) : root_(std::move(root)) {}

std::string ProcFs::Resolve(const std::string& absolute_path) const {
  return root_ + absolute_path;
}

Result<std::string> ProcFs::ReadFile(const std::string& absolute_path) const {
  if (absolute_path.empty() || absolute_path.front() != '/') {
    return Status::InvalidArgument("ProcFs: not an absolute path: '" +
                                   absolute_path + "'");
  }
  const std::string path = Resolve(absolute_path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open", path, errno);
  std::string contents;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

Result<std::vector<int>> ProcFs::ListNumericEntries(
    const std::string& absolute_dir) const {
  const std::string path = Resolve(absolute_dir);
  UniqueDir dir(::opendir(path.c_str()));
  if (!dir) return ErrnoStatus("opendir", path, errno);
  std::vector<int> ids;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return ErrnoStatus("readdir", path, errno);
      break;
    }
    const std::string_view name = entry->d_name;
    int id = 0;
    auto [ptr, ec] =
        std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec == std::errc() && ptr == name.data() + name.size() && id > 0)
      ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::vector<int>> ProcFs::ListPids() const {
  return ListNumericEntries("/proc");
}

Result<std::vector<int>> ProcFs::ListTasks(int pid) const {
  return ListNumericEntries("/proc/" + std::to_string(pid) + "/task");
}

bool ProcFs::Exists(const std::string& absolute_path) const {
  struct stat st;
  return ::stat(Resolve(absolute_path).c_str(), &st) == 0;
}

}  // namespace dynoguard::common
