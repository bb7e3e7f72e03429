// PostgresSessionStore: the session snapshot in PostgreSQL (DATABASE_URL,
// Heroku's convention), one row per SESSION_NAME in the table
//   dynoguard_sessions (name text PRIMARY KEY, sequence bigint NOT NULL,
//                       document text NOT NULL,
//                       updated_at timestamptz NOT NULL DEFAULT now())
// created on first use. libpq's calls run on a StoreThread of the store's
// own, never on the loop or an HTTP thread.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_STORE_H_
#define DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/status.h"
#include "worker/session/session_store.h"
#include "worker/session/store_thread.h"
#include "worker/session/stores/postgres_conninfo.h"

namespace dynoguard::worker {

struct PostgresOptions {
  // DATABASE_URL: postgres://user:password@host:port/database[?sslmode=...]
  // (or postgresql://, or a libpq key=value string). TLS is what it asks
  // for (sslmode; libpq's default "prefer" uses TLS when the server offers
  // it; PGSSLMODE in the environment applies when the URL says nothing).
  // Default: empty, which every call answers with InvalidArgument.
  std::string url;
  // SESSION_NAME: the row's key. Default: empty (a valid, if odd, name).
  std::string session_name;
  // The budget of one call (connect, create the table, the statement):
  // past it the call answers Unavailable and the connection is dropped.
  // The server's statement_timeout is 3/4 of it. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  // Where connects, reconnects and dropped connections are logged (debug,
  // warn); nothing is logged when null. Default: null.
  const common::Logger* log = nullptr;
};

// Thread-safety: every method on the loop thread (SessionStore's contract);
// callbacks run there through `post`, later, never from within the call.
// One connection, made on the store's thread on first use and reused; a
// connection that failed is dropped and made again by the next call. A call
// whose reused connection turns out broken (the server restarted while it
// was idle) is tried once more on a new connection within its budget (a
// Save retried after it was in fact written is answered OK: the row holds
// the same sequence and document). Every statement binds its parameters
// (PQsendQueryParams), none is formatted into SQL.
//
// Errors (one line, "postgres: ...", never the password or the URL):
//   bad DATABASE_URL → InvalidArgument; authentication (28P01, 28000) or a
//   missing password → PermissionDenied naming DATABASE_URL; server
//   unreachable, timeout, connection lost → Unavailable; Save of a sequence
//   not newer than the stored one → FailedPrecondition; other server errors
//   → Internal with the SQLSTATE (see postgres_errors.h).
class PostgresSessionStore final : public SessionStore {
 public:
  // Starts the store's thread; connects only on the first call. `post` must
  // stay callable until Stop's callback ran (or the store is destroyed).
  PostgresSessionStore(PostgresOptions options, PostToLoop post);
  // Joins the store's thread: waits for the call in flight (at most its
  // timeout) and closes the connection; calls still queued are answered
  // Unavailable through `post` at once (a closed loop drops them). Calling
  // Stop first and waiting for it keeps the loop from waiting here.
  ~PostgresSessionStore() override;
  PostgresSessionStore(const PostgresSessionStore&) = delete;
  PostgresSessionStore& operator=(const PostgresSessionStore&) = delete;

  // DATABASE_URL checked as the store will on its first call (no I/O), for
  // a refusal at start: OK, or InvalidArgument "postgres: DATABASE_URL ..."
  // without the password (see MakePostgresConnInfo).
  static common::Status CheckUrl(std::string_view url);

  std::string_view kind() const override { return "postgres"; }

  // SELECT document FROM dynoguard_sessions WHERE name = SESSION_NAME:
  // the document, or nullopt when the row (or the table) is not there yet.
  void Load(LoadDone done) override;

  // INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE stored sequence <
  // `sequence`. A row of a higher sequence is kept: FailedPrecondition
  // "postgres: session '<name>' holds sequence N, newer than M; not
  // replaced". The same sequence with the same document is OK (a retry);
  // with another document, FailedPrecondition too. A sequence above
  // bigint's range is InvalidArgument.
  void Save(std::string document, uint64_t sequence, SaveDone done) override;

  // Calls queued and not started are answered Unavailable ("stopped"); the
  // one in flight finishes (within its timeout); then the connection is
  // closed, the thread joined and `done` runs on the loop. Load and Save
  // after Stop are answered Unavailable.
  void Stop(std::function<void()> done) override;

  class Connection;  // a PGconn and what was set up on it (the .cc)

 private:
  // Store thread only.
  common::Result<std::optional<std::string>> DoLoad();
  common::Status DoSave(const std::string& document, uint64_t sequence);
  // Runs `step` on a connection (made when there is none), within the call's
  // deadline; on a broken reused connection once more on a new one.
  using Deadline = std::chrono::steady_clock::time_point;
  common::Status WithConnection(
      const std::function<common::Status(Connection&, Deadline)>& step);

  // Constant after construction.
  const PostgresOptions options_;
  const PostToLoop post_;
  const common::Result<PostgresConnInfo> conninfo_;

  std::atomic<bool> stopped_{false};        // set on the loop, read anywhere
  std::unique_ptr<Connection> connection_;  // store thread only
  // Shared with Stop's last task, which joins it on the loop; declared last
  // so that it goes first.
  std::shared_ptr<StoreThread> thread_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_STORE_H_
