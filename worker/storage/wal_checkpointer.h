// WalCheckpointer: copies a WAL database's committed pages back into the
// database file from a thread of its own, with PASSIVE checkpoints (they never
// take the write lock and never wait for readers), so that a writer's commit
// does not also pay for a checkpoint and its fsync of the database file.
#ifndef DYNOGUARD_WORKER_STORAGE_WAL_CHECKPOINTER_H_
#define DYNOGUARD_WORKER_STORAGE_WAL_CHECKPOINTER_H_

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace dynoguard::worker::storage {

// Thread-safe. Usage: Start() once the database is a WAL file; the writer
// installs a wal hook (sqlite3_wal_hook, which replaces SQLite's automatic
// checkpoints on that connection) that calls Notify() after every commit;
// Stop() (or the destructor) before the writer closes.
class WalCheckpointer {
 public:
  // Opens a connection of its own to `path` (an existing WAL database) and
  // starts the thread. A checkpoint runs once a commit reports at least
  // `threshold_pages` pages in the WAL. Errors: IOError naming `context`.
  static common::Result<std::unique_ptr<WalCheckpointer>> Start(
      const std::string& path, std::string_view context, int threshold_pages);

  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;
  ~WalCheckpointer();

  // After a commit: the WAL now holds `wal_pages` pages. Wakes the thread
  // when that reaches the threshold; never blocks on a checkpoint.
  void Notify(int wal_pages);

  // True once after each checkpoint this thread completed. A PASSIVE
  // checkpoint beside a writer that never pauses copies what was committed
  // when it began, never the frames appended meanwhile, so the WAL can never
  // start over and grows until the writer's own fallback (80 MB), which then
  // runs at every commit. The writer therefore finishes each one inline,
  // right after its next commit (wal hook): only the frames appended during
  // this thread's run are left to copy, and the next write rewinds the WAL.
  bool TakeFinished() { return finished_.exchange(false); }

  // Checkpoints run so far (successful or not).
  int64_t checkpoints() const;

  // Ends the thread after the checkpoint in progress, if any, and closes the
  // connection. Later Notify() calls do nothing; a second Stop() is a no-op.
  void Stop();

 private:
  WalCheckpointer(sqlite3* db, int threshold_pages);
  void Run();

  const int threshold_pages_;  // constant after construction
  sqlite3* db_;                // used by the thread only, then by Stop()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;      // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  int64_t checkpoints_ = 0;  // guarded by mu_
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace dynoguard::worker::storage

#endif  // DYNOGUARD_WORKER_STORAGE_WAL_CHECKPOINTER_H_
