// SessionStore: where a session snapshot (the document snapshot_codec.h
// makes: one JSON object, its payload compressed and maybe encrypted) is kept
// besides the local file: JSONBin, PostgreSQL, MongoDB — and the local file
// itself. One interface, chosen by SESSION_STORAGE_TYPE.
//
// Every method is called on the worker's loop thread and answers through its
// callback, later, on the loop thread (never from within the call). No method
// blocks the loop: a store whose driver blocks (libpq, libmongoc, fsync) does
// its work on a StoreThread of its own; JSONBin uses the worker's HttpClient.
// A store answers every call, also when its server is down or slow (its own
// timeouts are below WORKER_STOP_TIMEOUT_S), with one clear error message
// that names the store and never carries a secret (key, password, URI).
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_STORE_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

// Runs a task on the loop thread soon; thread-safe. False: the loop is
// closing and the task was dropped.
using PostToLoop = std::function<bool(std::function<void()>)>;

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // "file", "jsonbin", "postgres" or "mongodb" (logs, /session-status).
  virtual std::string_view kind() const = 0;

  // The stored document of this session (SESSION_NAME), or nullopt when the
  // store has none yet. Errors: Unavailable (server unreachable, timeout,
  // 5xx), PermissionDenied (authentication, quota), NotFound is never an
  // error (nullopt), InvalidArgument (the store refused the request).
  using LoadDone =
      std::function<void(common::Result<std::optional<std::string>>)>;
  virtual void Load(LoadDone done) = 0;

  // Stores `document`, whose snapshot sequence is `sequence`. A store that
  // can compare (PostgreSQL, MongoDB) never replaces a document of
  // a higher sequence: then it answers FailedPrecondition and keeps the
  // newer one. Errors as Load.
  using SaveDone = std::function<void(common::Status)>;
  virtual void Save(std::string document, uint64_t sequence, SaveDone done) = 0;

  // Ends the store's work: calls not started are answered with Unavailable,
  // the one in flight finishes or is cancelled; `done` runs on the loop once
  // nothing of the store runs any more (its thread joined). After Stop only
  // the destructor may be called.
  virtual void Stop(std::function<void()> done) = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_STORE_H_
