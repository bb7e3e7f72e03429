// SessionManager: the session's life on the worker's loop — restore at
// start, autosave, a backup after an emergency cleanup, the final backup on
// SIGTERM — over the local file (always written: the fallback) and the
// configured remote store (JSONBin, PostgreSQL, MongoDB).
//
// Restore (before the dispatcher starts): loads the file and the remote
// store at once, decodes both, and takes the valid one with the higher
// sequence. When DATA_DIR still holds the state a previous instance left
// (the marker `session.local` is there: a worker restart, not a new dyno)
// the local stores are the truth and nothing is merged; otherwise the
// chosen snapshot is merged (session_merge.h) and the marker written. Every
// outcome is one log line and shows in Report().
//
// Saving: every `autosave_period` the state is collected and its digest
// compared with the last one written; when it changed, a new snapshot (the
// next sequence, cut to SESSION_MAX_BYTES, encrypted with the key) goes to
// the file, then — when the remote policy allows (debounce, backoff after a
// failure) — to the remote store. Collecting and encoding run on the
// manager's own thread, never the loop or an HTTP thread; a store that is
// down never blocks anything (the next tick tries again).
//
// Loop thread only, except Report() and RequestBackup() (any thread).
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_MANAGER_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_MANAGER_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/log.h"
#include "worker/session/backup_policy.h"
#include "worker/session/session_key.h"
#include "worker/session/session_sources.h"
#include "worker/session/session_state.h"
#include "worker/session/session_store.h"
#include "worker/session/store_thread.h"

namespace dynoguard::worker {

// What /session-status, /health and /dashboard show of the session.
struct SessionReport {
  std::string name;     // SESSION_NAME
  std::string storage;  // SESSION_STORAGE_TYPE ("file" when no remote)
  bool encrypted = false;
  bool backup_enabled = true;  // ENABLE_SESSION_BACKUP
  // "file", "jsonbin", "postgres", "mongodb" (a snapshot was merged),
  // "local" (DATA_DIR kept the state), "fresh" (nothing valid found);
  // nullopt until the restore has run.
  std::optional<std::string> restored_from;
  std::string restore_detail;  // one line: what was found, what failed
  uint64_t sequence = 0;       // the last snapshot made
  struct Backup {
    int64_t at_ms = 0;
    std::string store;
    std::string result;  // "ok" or the error
    size_t bytes = 0;
    uint64_t sequence = 0;
  };
  std::optional<Backup> last_file;
  std::optional<Backup> last_remote;
  // The last remote store call failed (restore or save): /health's
  // databaseConnected turns false.
  bool remote_failing = false;
  // The pending messages alone exceed SESSION_MAX_BYTES: no snapshot is
  // made (or, when only the header tips them over, it is kept whole in the
  // local file only).
  bool over_cap = false;
  SessionCounts dropped;  // left out of the last snapshot to fit the cap
};

class SessionManager {
 public:
  struct Options {
    std::string name = "default";
    std::string transport;  // "sandbox" / "cloud", into every snapshot
    std::string storage = "file";
    std::optional<SnapshotKey> key;
    size_t max_bytes = 524288;
    bool backup_enabled = true;  // false: the remote store is not used
    std::chrono::milliseconds autosave_period{10000};
    // The remote store's debounce and backoff (JSONBin: ≥ 6 s apart).
    RemoteBackupPolicy::Options remote_policy;
    // How long Restore waits for the remote store before it starts from the
    // file (the store's own timeout is normally shorter).
    std::chrono::milliseconds restore_timeout{20000};
    std::string marker_path;          // DATA_DIR/session.local, required
    std::function<int64_t()> now_ms;  // required
  };

  // `file` is required; `remote` may be null (SESSION_STORAGE_TYPE=file).
  // `post` runs a task on the loop (the manager's thread answers through
  // it). REQUIRES: `loop`, `sources`' parts and `log` outlive the manager.
  SessionManager(uv_loop_t* loop, Options options, SessionSources sources,
                 std::unique_ptr<SessionStore> file,
                 std::unique_ptr<SessionStore> remote, PostToLoop post,
                 const common::Logger& log);
  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // Restores as described above; `done` runs on the loop once the local
  // stores hold the restored state (or the restore gave up), always.
  void Restore(std::function<void()> done);
  // Starts the autosave timer.
  void StartAutosave();
  // A backup soon (after an emergency cleanup), without waiting for the
  // timer; thread-safe.
  void RequestBackup(std::string_view why);
  // The final backup (SIGTERM): stops the timer, waits for a save in
  // progress, then writes a new snapshot to the file and — ignoring the
  // debounce — to the remote store; `done` runs on the loop after that (or
  // at once when Close already ran).
  void FinalBackup(std::function<void()> done);
  // Stops everything now: the timer, the stores (a remote call in flight is
  // cancelled or finished), the thread joined. Callbacks not yet run are
  // dropped. Idempotent; the destructor calls it.
  void Close();

  SessionReport Report() const;

 private:
  struct Loaded;
  struct Encoded;
  void FinishLoads();
  void OnRestored(const Loaded& result);
  // One save: collect, compare, encode, file, remote. `final`: ignore the
  // debounce and the digest for the remote store when it is behind.
  void Cycle(bool final, std::function<void()> done);
  void OnEncoded(std::shared_ptr<Encoded> encoded, bool final,
                 std::function<void()> done);
  // The pending messages alone are over SESSION_MAX_BYTES: reported (and
  // logged once per spell); nothing is written.
  void OnPendingOverCap(const Encoded& encoded);
  void SaveRemote(std::shared_ptr<Encoded> encoded, std::function<void()> done);
  void CycleDone(std::function<void()> done);
  bool Post(std::function<void()> task);

  uv_loop_t* const loop_;
  const Options options_;
  const SessionSources sources_;
  std::unique_ptr<SessionStore> file_;
  std::unique_ptr<SessionStore> remote_;  // null: none (or backup disabled)
  const PostToLoop post_;
  const common::Logger& log_;
  // Collecting, encoding, decoding and merging run here.
  std::unique_ptr<StoreThread> thread_;

  // Loop thread only.
  uv_timer_t* timer_ = nullptr;  // autosave; freed in its close callback
  uv_timer_t* restore_timer_ = nullptr;
  uv_async_t* request_async_ = nullptr;
  bool closed_ = false;
  bool busy_ = false;                 // a Cycle is running
  std::function<void()> after_busy_;  // a FinalBackup waiting for it
  RemoteBackupPolicy remote_policy_;
  std::string file_digest_;    // of the state last written to the file
  std::string remote_digest_;  // of the state last written to the remote
  uint64_t next_sequence_ = 1;
  bool over_cap_logged_ = false;
  bool remote_ok_logged_ = false;  // the first remote success was logged
  bool collect_failing_ = false;   // the last snapshot could not be taken
  // Restore in progress.
  std::shared_ptr<Loaded> loading_;
  std::function<void()> restore_done_;

  mutable std::mutex mu_;
  SessionReport report_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_MANAGER_H_
