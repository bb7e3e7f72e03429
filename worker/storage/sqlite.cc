#include "worker/storage/sqlite.h"

#include <utility>

#include "worker/storage/private_files.h"

namespace dynoguard::worker::storage {

using common::Result;
using common::Status;

void ConfigureSqliteMemory() {
  // pMem = NULL, N = 0: no bulk allocation (sqlite3_config,
  // SQLITE_CONFIG_PAGECACHE). SQLITE_MISUSE once SQLite has started: ignored.
  (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
}

Status SqlError(sqlite3* db, std::string_view context, std::string_view what) {
  return Status::IOError(std::string(context) + ": " + std::string(what),
                         db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

bool IsPermanentSqlFailure(const Status& status) {
  if (status.code() != Status::Code::kIOError) return false;
  const std::string& text = status.message();
  return text.find(sqlite3_errstr(SQLITE_CORRUPT)) != std::string::npos ||
         text.find(sqlite3_errstr(SQLITE_NOTADB)) != std::string::npos;
}

Result<sqlite3*> OpenPrivateDatabase(const std::string& path,
                                     std::string_view context,
                                     int busy_timeout_ms) {
  for (const std::string& file : {path + "-wal", path + "-shm"}) {
    if (Status status = RestrictIfExists(file); !status.ok()) return status;
  }
  if (Status status = EnsurePrivateFile(path); !status.ok()) return status;
  sqlite3* db = nullptr;
  // NOMUTEX: each owner serializes use of its connection itself.
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    Status status = SqlError(db, context, "open");
    sqlite3_close_v2(db);  // the handle must be closed even when open failed
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return db;
}

Result<sqlite3*> OpenDurableDatabase(const std::string& path,
                                     std::string_view context,
                                     int busy_timeout_ms, int cache_kib) {
  Result<sqlite3*> opened = OpenPrivateDatabase(path, context, busy_timeout_ms);
  if (!opened.ok()) return opened.status();
  const std::string cache = "PRAGMA cache_size = -" + std::to_string(cache_kib);
  for (const char* pragma : {"PRAGMA journal_mode = WAL",
                             "PRAGMA synchronous = FULL", cache.c_str()}) {
    if (Status status = Exec(*opened, context, pragma); !status.ok()) {
      sqlite3_close_v2(*opened);
      return status;
    }
  }
  return opened;
}

Result<int64_t> ReadSchemaVersion(sqlite3* db, std::string_view context,
                                  int64_t supported) {
  Result<Statement> stmt =
      Statement::Prepare(db, context, "PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  const int64_t version = *row ? stmt->Int(0) : 0;
  if (version > supported) {
    return Status::InvalidArgument(
        std::string(context) + ": schema version " + std::to_string(version) +
        " is newer than this worker's " + std::to_string(supported));
  }
  return version;
}

Result<sqlite3*> OpenReadOnlyDatabase(const std::string& path,
                                      std::string_view context,
                                      int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status status = SqlError(db, context, "open read-only");
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return db;
}

Status Exec(sqlite3* db, std::string_view context, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string detail = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return Status::IOError(std::string(context) + ": " + sql, detail);
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view context,
                                     std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqlError(db, context, "prepare");
  }
  return Statement(db, stmt, context);
}

Result<Statement> Statement::Prepare(StatementCache& cache,
                                     std::string_view context,
                                     std::string_view sql) {
  sqlite3_stmt* stmt = cache.Take(sql);
  if (stmt == nullptr) {
    // PERSISTENT: this one is kept, so SQLite allocates it for the long run.
    int rc =
        sqlite3_prepare_v3(cache.db(), sql.data(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqlError(cache.db(), context, "prepare");
    }
  }
  return Statement(cache.db(), stmt, context, &cache);
}

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view context,
                     StatementCache* cache)
    : db_(db), stmt_(stmt), context_(context), cache_(cache) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      context_(std::move(other.context_)),
      cache_(other.cache_),
      bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (cache_ != nullptr && stmt_ != nullptr) {
    cache_->Give(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

StatementCache::~StatementCache() { Clear(); }

void StatementCache::Clear() {
  for (auto& [sql, statements] : idle_) {
    for (sqlite3_stmt* stmt : statements) sqlite3_finalize(stmt);
  }
  idle_.clear();
}

sqlite3_stmt* StatementCache::Take(std::string_view sql) {
  auto it = idle_.find(sql);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  sqlite3_stmt* stmt = it->second.back();
  it->second.pop_back();
  return stmt;
}

void StatementCache::Give(sqlite3_stmt* stmt) {
  // The error of a failed step was reported by Step; reset repeats it.
  (void)sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  const std::string_view sql = sqlite3_sql(stmt);
  auto it = idle_.find(sql);
  if (it == idle_.end())
    it = idle_.emplace(std::string(sql), std::vector<sqlite3_stmt*>()).first;
  it->second.push_back(stmt);
}

Status Exec(StatementCache& cache, std::string_view context,
            std::string_view sql) {
  Result<Statement> stmt = Statement::Prepare(cache, context, sql);
  if (!stmt.ok()) return stmt.status();
  Status status = stmt->Run();
  if (status.ok()) return status;
  return Status::IOError(std::string(context) + ": " + std::string(sql),
                         sqlite3_errmsg(cache.db()));
}

void Statement::Check(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::Bind(int index, std::string_view text) {
  Check(sqlite3_bind_text64(stmt_, index, text.data(), text.size(),
                            SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Statement::Bind(int index, int64_t value) {
  Check(sqlite3_bind_int64(stmt_, index, value));
}

void Statement::BindNull(int index) { Check(sqlite3_bind_null(stmt_, index)); }

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return Status::IOError(context_ + ": bind", sqlite3_errstr(bind_rc_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, context_, "step");
}

Status Statement::Run() {
  Result<bool> row = Step();
  return row.ok() ? Status::Ok() : row.status();
}

int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

Result<std::unique_ptr<Transaction>> Transaction::Begin(
    sqlite3* db, std::string_view context) {
  Status status = Exec(db, context, "BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  return std::unique_ptr<Transaction>(new Transaction(db, context));
}

Transaction::Transaction(sqlite3* db, std::string_view context)
    : db_(db), context_(context) {}

Transaction::~Transaction() {
  if (!done_) (void)Exec(db_, context_, "ROLLBACK");
}

Status Transaction::Commit() {
  Status status = Exec(db_, context_, "COMMIT");
  if (status.ok()) done_ = true;
  return status;
}

}  // namespace dynoguard::worker::storage
