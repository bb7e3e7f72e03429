// DataDirLock: one worker per DATA_DIR. A second worker on the same directory
// would requeue the first one's message in flight (a duplicate send) and race
// it for every message, so start-up takes an exclusive flock(2) on
// DATA_DIR/worker.lock, as leveldb does with its LOCK file. The kernel drops
// the lock when the process dies, however it dies: no stale lock to clean up.
#ifndef DYNOGUARD_WORKER_STORAGE_DATA_DIR_LOCK_H_
#define DYNOGUARD_WORKER_STORAGE_DATA_DIR_LOCK_H_

#include <memory>
#include <string>

#include "common/status.h"

namespace dynoguard::worker::storage {

class DataDirLock {
 public:
  static constexpr const char* kFileName = "worker.lock";

  // Takes the lock on `data_dir`/worker.lock (created 0600 if missing)
  // without waiting, and writes this process's pid into it for operators.
  // Unavailable "DATA_DIR <dir> is in use by another worker (pid N holds
  // <dir>/worker.lock)" when another process holds it; IOError otherwise.
  // The descriptor is close-on-exec: children do not keep the lock.
  static common::Result<std::unique_ptr<DataDirLock>> Acquire(
      const std::string& data_dir);

  ~DataDirLock();  // releases the lock
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DataDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  const int fd_;
  const std::string path_;
};

}  // namespace dynoguard::worker::storage

#endif  // DYNOGUARD_WORKER_STORAGE_DATA_DIR_LOCK_H_
