// FileSessionStore: the session snapshot in a local file,
// DATA_DIR/session.snapshot — the store of SESSION_STORAGE_TYPE=file and the
// local fallback kept whatever the remote store. Written atomically (temp
// file, fsync, rename, fsync of the directory; storage/atomic_file.h), mode
// 0600; read and written on a thread of its own ("session-file") so that the
// loop never waits on the disk.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_FILE_STORE_H_
#define DYNOGUARD_WORKER_SESSION_STORES_FILE_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/session/session_store.h"
#include "worker/session/store_thread.h"

namespace dynoguard::worker {

class FileSessionStore : public SessionStore {
 public:
  // The largest file Load reads and Save writes (a larger one is refused
  // with InvalidArgument; SESSION_MAX_BYTES is far below it).
  static constexpr uint64_t kMaxDocumentBytes = 64ull * 1024 * 1024;

  // The snapshot sequence of a stored document, nullopt when it has none
  // (not a snapshot, garbage). The session manager passes the codec's header
  // reader (snapshot_codec.h ReadSnapshotHeader); called on the store's
  // thread.
  using SequenceOf = std::function<std::optional<uint64_t>(std::string_view)>;

  // DATA_DIR + "/session.snapshot".
  static std::string PathIn(const std::string& data_dir);

  // A store of the file `path` (its directory must exist). `post` hands the
  // answers to the loop. With `sequence_of`, Save never replaces a file
  // whose document has a higher sequence (it reads the file's sequence once,
  // on the first Save or Load, then tracks what it wrote); without it, only
  // the sequences this object saved are compared. Starts the thread.
  FileSessionStore(std::string path, PostToLoop post,
                   SequenceOf sequence_of = nullptr);
  // Joins the thread (after the job in flight). Answers not posted yet are
  // dropped.
  ~FileSessionStore() override;
  FileSessionStore(const FileSessionStore&) = delete;
  FileSessionStore& operator=(const FileSessionStore&) = delete;

  std::string_view kind() const override { return "file"; }
  const std::string& path() const { return path_; }

  // The file's contents; nullopt when it does not exist. Errors: IOError
  // naming the path (unreadable), InvalidArgument (larger than
  // kMaxDocumentBytes, not a regular file), Unavailable after Stop.
  void Load(LoadDone done) override;
  // Replaces the file atomically with `document` (mode 0600). Errors:
  // IOError naming the path and errno (ENOSPC, EFBIG, EACCES…; the old file
  // is then intact), InvalidArgument (larger than kMaxDocumentBytes),
  // FailedPrecondition (the file holds a higher sequence; kept), Unavailable
  // after Stop.
  void Save(std::string document, uint64_t sequence, SaveDone done) override;
  // Calls not started yet are answered Unavailable; the one in flight
  // finishes (a write is never cut half-way); `done` runs on the loop once
  // the thread has ended.
  void Stop(std::function<void()> done) override;

 private:
  // On the store's thread.
  common::Result<std::optional<std::string>> DoLoad();
  common::Status DoSave(const std::string& document, uint64_t sequence);
  // Posts `task` to the loop; dropped when the loop is closing.
  void Answer(std::function<void()> task) const;

  // Constant after construction.
  const std::string path_;
  const PostToLoop post_;
  const SequenceOf sequence_of_;

  std::atomic<bool> stopping_{false};  // set by Stop (loop), read by jobs
  // Loop thread only: false once destroyed (read by Stop's posted answer).
  const std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  // Store thread only.
  bool sequence_known_ = false;
  std::optional<uint64_t> stored_sequence_;  // of the file's document

  StoreThread thread_;  // last: joined before the members above go
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_FILE_STORE_H_
