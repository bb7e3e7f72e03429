// ProcFs: the one place dynoguard reads /proc and /sys. Every absolute path can
// be redirected below a root directory, so tests run the memory probe on a fake
// tree built on disk.
#ifndef DYNOGUARD_COMMON_PROC_FS_H_
#define DYNOGUARD_COMMON_PROC_FS_H_

#include <string>
#include <vector>

#include "common/status.h"

namespace dynoguard::common {

// Stateless apart from the root; thread-safe (every call is independent system
// calls).
class ProcFs {
 public:
  // `root` "" reads the real filesystem; otherwise "/proc/1/stat" is read as
  // "<root>/proc/1/stat". Default: the real filesystem.
  explicit ProcFs(std::string root = "");

  const std::string& root() const { return root_; }

  // The whole contents of `absolute_path` (read to EOF: /proc files report size
  // 0). Returns NotFound for ENOENT/ESRCH (a file or process that is not or no
  // longer there), IOError otherwise, InvalidArgument when the path is not
  // absolute; messages name the path.
  Result<std::string> ReadFile(const std::string& absolute_path) const;

  // The numeric entries of /proc (every process visible to us), ascending.
  // Returns IOError (or NotFound) when /proc cannot be listed.
  Result<std::vector<int>> ListPids() const;

  // The numeric entries of /proc/<pid>/task (the process's threads), ascending.
  // Returns NotFound when the process is gone.
  Result<std::vector<int>> ListTasks(int pid) const;

  // Whether `absolute_path` exists (any file type). False on any error.
  bool Exists(const std::string& absolute_path) const;

 private:
  std::string Resolve(const std::string& absolute_path) const;
  Result<std::vector<int>> ListNumericEntries(
      const std::string& absolute_dir) const;

  const std::string root_;
};

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_PROC_FS_H_
