// Small RAII helpers over SQLite's C API, shared by every table the worker
// keeps in DATA_DIR: a prepared Statement, Exec of plain SQL, and a write
// Transaction. Errors come back as Status values whose message starts with the
// caller's `context` (e.g. "message queue ./data/queue.db").
//
// Not thread-safe on their own: use them on the connection's owning thread or
// under its owner's lock.
#ifndef DYNOGUARD_WORKER_STORAGE_SQLITE_H_
#define DYNOGUARD_WORKER_STORAGE_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynoguard::worker::storage {

// The process-wide SQLite settings, before any connection opens (a call after
// SQLite has started changes nothing): no initial bulk page-cache allocation
// per connection. SQLite's default gives each connection 20 pages up front on
// its first read (~90 KiB); the worker holds six to eight connections, most
// of them idle, and a page cache then grows page by page as it is used.
void ConfigureSqliteMemory();

// Opens (creating when missing) the SQLite database at `path` as a private
// file: created 0600 whatever the umask, an older 0644 file and its -wal/-shm
// tightened (SQLite gives -wal and -shm the main file's mode), extended result
// codes on, `busy_timeout_ms` for another connection's write lock. The caller
// owns the handle (sqlite3_close_v2). Errors: IOError naming `context`; the
// handle is closed then.
common::Result<sqlite3*> OpenPrivateDatabase(const std::string& path,
                                             std::string_view context,
                                             int busy_timeout_ms);

// OpenPrivateDatabase, then the mode every durable store of the worker uses:
// journal_mode=WAL (a reader connection runs beside the writer; a commit is
// one append), synchronous=FULL (that append is fsynced at every commit, so
// "committed" survives power loss, not only a killed process) and a page
// cache of `cache_kib` KiB (SQLite's default is 2 MiB; the worker lives inside
// a memory budget). Errors as OpenPrivateDatabase, or the pragma's; the handle
// is closed then.
common::Result<sqlite3*> OpenDurableDatabase(const std::string& path,
                                             std::string_view context,
                                             int busy_timeout_ms,
                                             int cache_kib);

// The database's PRAGMA user_version (0 for a new file). InvalidArgument
// naming `context` when it is newer than `supported` (a newer worker wrote
// the file and this one cannot read it safely). Read it inside the
// transaction that migrates, so two connections cannot both migrate.
common::Result<int64_t> ReadSchemaVersion(sqlite3* db, std::string_view context,
                                          int64_t supported);

// Opens an existing database at `path` read-only (a second connection beside
// a writer: in WAL mode its reads see every committed transaction and never
// wait for the writer), extended result codes on, `busy_timeout_ms` for the
// rare moments a reader must wait (WAL recovery). The caller owns the handle
// (sqlite3_close_v2). Errors: IOError naming `context`; the handle is closed
// then.
common::Result<sqlite3*> OpenReadOnlyDatabase(const std::string& path,
                                              std::string_view context,
                                              int busy_timeout_ms);

// "<context>: <what>: <sqlite's message for db>".
common::Status SqlError(sqlite3* db, std::string_view context,
                        std::string_view what);

// True when `status` (from SqlError or Exec) reports a damaged database that
// retrying will not fix: SQLite's "database disk image is malformed"
// (SQLITE_CORRUPT) or "file is not a database" (SQLITE_NOTADB). Matched on
// SQLite's fixed English messages, which Status carries.
bool IsPermanentSqlFailure(const common::Status& status);

// Runs SQL that returns no rows (several statements allowed).
common::Status Exec(sqlite3* db, std::string_view context, const char* sql);

class StatementCache;

// A prepared statement that finalizes itself. Bind errors are remembered and
// reported by Step, so call sites read as a list of binds followed by one
// checked step.
class Statement {
 public:
  static common::Result<Statement> Prepare(sqlite3* db,
                                           std::string_view context,
                                           std::string_view sql);
  // The same from `cache`: a statement prepared earlier for the same SQL text
  // is reused (reset, bindings cleared), and this one goes back to the cache
  // instead of being finalized. REQUIRES: `cache` outlives the statement.
  static common::Result<Statement> Prepare(StatementCache& cache,
                                           std::string_view context,
                                           std::string_view sql);

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  void Bind(int index, std::string_view text);
  void Bind(int index, int64_t value);
  void BindNull(int index);

  // True when a row is available, false when done.
  common::Result<bool> Step();
  // Steps a statement that returns no rows.
  common::Status Run();

  int64_t Int(int column) const;
  bool IsNull(int column) const;
  std::string Text(int column) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view context,
            StatementCache* cache = nullptr);
  void Check(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string context_;
  StatementCache* cache_;  // where it goes back to, or null: finalized
  int bind_rc_ = SQLITE_OK;
};

// Prepared statements of one connection, kept for reuse: a hot path (the
// queue's writes, the dispatcher's NextDue) then compiles each SQL text once
// instead of at every call. Statements come from Statement::Prepare(cache,
// …) and return here when destroyed.
//
// Not thread-safe: use it where its connection is used (under the owner's
// lock). Destroy (or Clear) it before closing the connection, after every
// statement taken from it is gone.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache();
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  sqlite3* db() const { return db_; }
  // Finalizes every idle statement (sqlite3_close then finds none).
  void Clear();

 private:
  friend class Statement;
  // An idle statement for `sql`, or null.
  sqlite3_stmt* Take(std::string_view sql);
  // Resets `stmt`, clears its bindings and keeps it for its SQL text.
  void Give(sqlite3_stmt* stmt);

  sqlite3* db_;
  std::map<std::string, std::vector<sqlite3_stmt*>, std::less<>> idle_;
};

// Exec for one statement without rows through `cache` (BEGIN, SAVEPOINT…).
common::Status Exec(StatementCache& cache, std::string_view context,
                    std::string_view sql);

// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write sequence
// cannot be interleaved with another connection's write. Rolls back unless
// committed.
class Transaction {
 public:
  static common::Result<std::unique_ptr<Transaction>> Begin(
      sqlite3* db, std::string_view context);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  common::Status Commit();

 private:
  Transaction(sqlite3* db, std::string_view context);

  sqlite3* db_;
  std::string context_;
  bool done_ = false;
};

}  // namespace dynoguard::worker::storage

#endif  // DYNOGUARD_WORKER_STORAGE_SQLITE_H_
