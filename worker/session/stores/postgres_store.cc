#include "worker/session/stores/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "worker/session/stores/postgres_errors.h"

namespace dynoguard::worker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kTableExists =
    "SELECT to_regclass('dynoguard_sessions') IS NOT NULL";
constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS dynoguard_sessions ("
    "name text PRIMARY KEY, "
    "sequence bigint NOT NULL, "
    "document text NOT NULL, "
    "updated_at timestamptz NOT NULL DEFAULT now())";
constexpr const char* kSetStatementTimeout =
    "SELECT set_config('statement_timeout', $1, false)";
constexpr const char* kLoad =
    "SELECT document FROM dynoguard_sessions WHERE name = $1";
constexpr const char* kUpsert =
    "INSERT INTO dynoguard_sessions (name, sequence, document, updated_at) "
    "VALUES ($1, $2::bigint, $3, now()) "
    "ON CONFLICT (name) DO UPDATE SET sequence = EXCLUDED.sequence, "
    "document = EXCLUDED.document, updated_at = now() "
    "WHERE dynoguard_sessions.sequence < EXCLUDED.sequence";
constexpr const char* kStored =
    "SELECT sequence, document = $2 FROM dynoguard_sessions WHERE name = $1";

struct ResultFree {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultFree>;

// Notices ("relation already exists, skipping") are not errors; libpq's
// default prints them to stderr.
void IgnoreNotice(void*, const char*) {}

int64_t MillisecondsLeft(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : left + 1;  // round up: never wake just before it
}

}  // namespace

// A PGconn in non-blocking mode whose every wait is a poll(2) bounded by the
// call's deadline, so that neither a silent server nor a slow statement holds
// the store's thread past its budget. Store thread only.
class PostgresSessionStore::Connection {
 public:
  Connection(PGconn* conn, const std::vector<std::string>* secrets,
             milliseconds timeout)
      : conn_(conn), secrets_(secrets), timeout_(timeout) {
    PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
    // The server's message with its SQLSTATE ("FATAL:  28P01: ..."), also
    // for errors while connecting, which carry no PGresult to ask.
    PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);
  }
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static common::Result<std::unique_ptr<Connection>> Open(
      const PostgresConnInfo& info, milliseconds timeout,
      Clock::time_point deadline) {
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [key, value] : info.params) {
      keys.push_back(key.c_str());
      values.push_back(value.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    // Name resolution happens in here and is not bounded by our deadline
    // (getaddrinfo has no timeout); it delays only this thread.
    PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 1);
    if (conn == nullptr) {
      return common::Status::Internal("postgres: connect: out of memory");
    }
    auto connection =
        std::make_unique<Connection>(conn, &info.secrets, timeout);
    common::Status status = connection->Handshake(deadline);
    if (!status.ok()) return status;
    status =
        connection->SetStatementTimeout(info.statement_timeout_ms, deadline);
    if (!status.ok()) return status;
    return connection;
  }

  // One statement with its parameters bound (text format): its result
  // (command or tuples), or the failure as a Status. A failure that leaves
  // the connection unusable marks it broken().
  common::Result<PgResult> Exec(std::string_view what, const char* sql,
                                const std::vector<std::string>& params,
                                Clock::time_point deadline) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const std::string& p : params) {
      values.push_back(p.c_str());
      lengths.push_back(static_cast<int>(p.size()));
    }
    if (PQsendQueryParams(conn_, sql, static_cast<int>(params.size()), nullptr,
                          values.data(), lengths.data(), nullptr, 0) == 0) {
      return ConnectionFailure(what);
    }
    // A 512 KB document does not fit a socket buffer: flush in steps,
    // reading what the server sends meanwhile (libpq's documented loop).
    for (;;) {
      int flushed = PQflush(conn_);
      if (flushed == 0) break;
      if (flushed < 0) return ConnectionFailure(what);
      common::Status waited = Wait(what, true, true, deadline);
      if (!waited.ok()) return waited;
      if (PQconsumeInput(conn_) == 0) return ConnectionFailure(what);
    }
    PgResult kept;
    common::Status error;
    for (;;) {
      while (PQisBusy(conn_) != 0) {
        common::Status waited = Wait(what, true, false, deadline);
        if (!waited.ok()) return waited;
        if (PQconsumeInput(conn_) == 0) return ConnectionFailure(what);
      }
      PgResult result(PQgetResult(conn_));
      if (!result) break;
      ExecStatusType type = PQresultStatus(result.get());
      if (type == PGRES_COMMAND_OK || type == PGRES_TUPLES_OK) {
        kept = std::move(result);
      } else if (error.ok()) {
        error = ResultFailure(what, result.get());
      }
    }
    if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    if (!error.ok()) return error;
    if (!kept) {
      broken_ = true;
      return common::Status::Internal("postgres: " + std::string(what) +
                                      ": the server sent no result");
    }
    return kept;
  }

  bool broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

  // "host:port/database tls=yes|no" for the connect log line.
  std::string Describe() const {
    return std::string(PQhost(conn_)) + ":" + PQport(conn_) + "/" + PQdb(conn_);
  }
  bool tls() const { return PQsslInUse(conn_) != 0; }

  bool table_ready = false;  // the table was seen or made on this connection
  bool used = false;         // a call has finished on it before

 private:
  common::Status Handshake(Clock::time_point deadline) {
    if (PQstatus(conn_) == CONNECTION_BAD) return ConnectFailure();
    // PQconnectPoll starts as if it had last answered "writing".
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    for (;;) {
      if (state == PGRES_POLLING_OK) break;
      if (state == PGRES_POLLING_FAILED) return ConnectFailure();
      common::Status waited = Wait("connect", state == PGRES_POLLING_READING,
                                   state == PGRES_POLLING_WRITING, deadline);
      if (!waited.ok()) return waited;
      state = PQconnectPoll(conn_);
    }
    if (PQsetnonblocking(conn_, 1) != 0) return ConnectFailure();
    return common::Status::Ok();
  }

  common::Status SetStatementTimeout(int64_t ms, Clock::time_point deadline) {
    auto result = Exec("connect", kSetStatementTimeout,
                       {std::to_string(ms) + "ms"}, deadline);
    return result.ok() ? common::Status::Ok() : result.status();
  }

  // Waits until the socket is ready as asked, or the deadline: then the
  // connection is given up (broken) with Unavailable.
  common::Status Wait(std::string_view what, bool read, bool write,
                      Clock::time_point deadline) {
    int fd = PQsocket(conn_);
    if (fd < 0) {
      broken_ = true;
      return common::Status::Unavailable("postgres: " + std::string(what) +
                                         ": the connection is closed");
    }
    pollfd p{};
    p.fd = fd;
    p.events = static_cast<short>((read ? POLLIN : 0) | (write ? POLLOUT : 0));
    for (;;) {
      int64_t left = MillisecondsLeft(deadline);
      if (Clock::now() >= deadline) break;
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n > 0) return common::Status::Ok();
      if (n < 0 && errno != EINTR) {
        broken_ = true;
        return common::Status::Unavailable("postgres: " + std::string(what) +
                                           ": poll: " + std::strerror(errno));
      }
    }
    broken_ = true;
    return common::Status::Unavailable("postgres: " + std::string(what) +
                                       ": no answer from the server within " +
                                       std::to_string(timeout_.count()) + "ms");
  }

  common::Status ConnectFailure() {
    broken_ = true;
    if (PQconnectionNeedsPassword(conn_) != 0) {
      return common::Status::PermissionDenied(
          "postgres: connect: the server asks for a password and "
          "DATABASE_URL has none");
    }
    LibpqMessage message =
        ParseLibpqMessage(ScrubSecrets(PQerrorMessage(conn_), *secrets_));
    return PostgresFailure("connect", message.sqlstate, message.text);
  }

  common::Status ConnectionFailure(std::string_view what) {
    broken_ = true;
    LibpqMessage message =
        ParseLibpqMessage(ScrubSecrets(PQerrorMessage(conn_), *secrets_));
    return PostgresFailure(what, message.sqlstate, message.text);
  }

  common::Status ResultFailure(std::string_view what, const PGresult* result) {
    const char* field = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    LibpqMessage message = ParseLibpqMessage(
        ScrubSecrets(PQresultErrorMessage(result), *secrets_));
    std::string sqlstate = field != nullptr ? field : message.sqlstate;
    return PostgresFailure(what, sqlstate, message.text);
  }

  PGconn* const conn_;
  const std::vector<std::string>* const secrets_;
  const milliseconds timeout_;
  bool broken_ = false;
};

PostgresSessionStore::PostgresSessionStore(PostgresOptions options,
                                           PostToLoop post)
    : options_(std::move(options)),
      post_(std::move(post)),
      conninfo_(MakePostgresConnInfo(options_.url, options_.timeout)),
      thread_(std::make_shared<StoreThread>("dg-postgres")) {}

PostgresSessionStore::~PostgresSessionStore() {
  // Queued calls then answer "stopped" at once instead of each waiting for
  // the server. The thread uses `this`: it must be gone before any member.
  stopped_.store(true);
  thread_->Join();
}

common::Status PostgresSessionStore::CheckUrl(std::string_view url) {
  auto info = MakePostgresConnInfo(url, std::chrono::milliseconds(10000));
  return info.ok() ? common::Status::Ok() : info.status();
}

void PostgresSessionStore::Load(LoadDone done) {
  auto stopped = [this, done] {
    post_([done] {
      done(common::Status::Unavailable("postgres: the store is stopped"));
    });
  };
  if (stopped_.load()) return stopped();
  bool queued = thread_->Submit([this, done] {
    common::Result<std::optional<std::string>> result =
        stopped_.load()
            ? common::Result<std::optional<std::string>>(
                  common::Status::Unavailable("postgres: the store is stopped"))
            : DoLoad();
    post_([done, result = std::move(result)]() mutable {
      done(std::move(result));
    });
  });
  if (!queued) stopped();
}

void PostgresSessionStore::Save(std::string document, uint64_t sequence,
                                SaveDone done) {
  auto stopped = [this, done] {
    post_([done] {
      done(common::Status::Unavailable("postgres: the store is stopped"));
    });
  };
  if (stopped_.load()) return stopped();
  bool queued =
      thread_->Submit([this, done, document = std::move(document), sequence] {
        common::Status status =
            stopped_.load()
                ? common::Status::Unavailable("postgres: the store is stopped")
                : DoSave(document, sequence);
        post_([done, status = std::move(status)] { done(status); });
      });
  if (!queued) stopped();
}

void PostgresSessionStore::Stop(std::function<void()> done) {
  stopped_.store(true);
  // The last task joins the thread on the loop (a moment: the thread has
  // nothing left but to end) and only then tells the caller. It holds the
  // thread by a shared_ptr, so it may also run after the store is gone.
  std::function<void()> finish = [thread = thread_, done = std::move(done)] {
    thread->Join();
    if (done) done();
  };
  bool queued = thread_->Submit([this, finish]() mutable {
    connection_.reset();
    std::function<void()> task = std::move(finish);
    finish = nullptr;
    post_(std::move(task));
  });
  thread_->Stop();
  if (!queued) post_(std::move(finish));  // Stop called twice
}

common::Status PostgresSessionStore::WithConnection(
    const std::function<common::Status(Connection&, Deadline)>& step) {
  if (!conninfo_.ok()) return conninfo_.status();
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    if (!connection_) {
      auto opened = Connection::Open(*conninfo_, options_.timeout, deadline);
      if (!opened.ok()) return opened.status();
      connection_ = std::move(opened).value();
      fresh = true;
      if (options_.log != nullptr) {
        options_.log->Info("session-store-connected",
                           {{"kind", "postgres"},
                            {"server", connection_->Describe()},
                            {"tls", connection_->tls() ? "yes" : "no"}});
      }
    }
    Connection& connection = *connection_;
    common::Status status;
    if (!connection.table_ready) {
      auto exists =
          connection.Exec("create the table", kTableExists, {}, deadline);
      if (!exists.ok()) {
        status = exists.status();
      } else if (PQntuples(exists->get()) == 1 &&
                 std::string_view(PQgetvalue(exists->get(), 0, 0)) == "t") {
        connection.table_ready = true;
      } else {
        auto created =
            connection.Exec("create the table", kCreateTable, {}, deadline);
        // Two workers creating it at once: the loser sees the winner's
        // table as a duplicate (42P07) or its row type (23505).
        connection.table_ready = created.ok();
        status = created.ok() ? common::Status::Ok() : created.status();
        if (!created.ok() &&
            (status.message().find("SQLSTATE 42P07") != std::string::npos ||
             status.message().find("SQLSTATE 23505") != std::string::npos)) {
          connection.table_ready = true;
          status = common::Status::Ok();
        }
      }
    }
    if (status.ok()) status = step(connection, deadline);
    if (status.ok() || !connection.broken()) {
      connection.used = true;
      // A missing table (dropped under us) is made again on the next call.
      if (status.message().find("SQLSTATE 42P01") != std::string::npos) {
        connection.table_ready = false;
      }
      return status;
    }
    const bool was_used = connection.used;
    connection_.reset();
    if (fresh || !was_used || attempt > 0 || Clock::now() >= deadline) {
      return status;
    }
    if (options_.log != nullptr) {
      options_.log->Warn("session-store-reconnecting",
                         {{"kind", "postgres"}, {"reason", status.message()}});
    }
  }
}

common::Result<std::optional<std::string>> PostgresSessionStore::DoLoad() {
  std::optional<std::string> document;
  common::Status status = WithConnection([&](Connection& connection,
                                             Deadline deadline) {
    document.reset();
    auto result = connection.Exec("load '" + options_.session_name + "'", kLoad,
                                  {options_.session_name}, deadline);
    if (!result.ok()) return result.status();
    if (PQntuples(result->get()) > 0) {
      document.emplace(PQgetvalue(result->get(), 0, 0),
                       static_cast<size_t>(PQgetlength(result->get(), 0, 0)));
    }
    return common::Status::Ok();
  });
  if (!status.ok()) return status;
  return document;
}

common::Status PostgresSessionStore::DoSave(const std::string& document,
                                            uint64_t sequence) {
  const std::string& name = options_.session_name;
  if (sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return common::Status::InvalidArgument(
        "postgres: save '" + name + "': sequence " + std::to_string(sequence) +
        " is beyond bigint's range");
  }
  const std::string what = "save '" + name + "'";
  return WithConnection([&](Connection& connection, Deadline deadline) {
    auto upserted = connection.Exec(
        what, kUpsert, {name, std::to_string(sequence), document}, deadline);
    if (!upserted.ok()) return upserted.status();
    if (std::string_view(PQcmdTuples(upserted->get())) != "0") {
      return common::Status::Ok();
    }
    // Not replaced: say what the row holds.
    auto stored = connection.Exec(what, kStored, {name, document}, deadline);
    if (!stored.ok()) return stored.status();
    if (PQntuples(stored->get()) == 0) {
      return common::Status::Unavailable(
          "postgres: " + what + ": the row changed while saving; try again");
    }
    const std::string held = PQgetvalue(stored->get(), 0, 0);
    const bool same_document =
        std::string_view(PQgetvalue(stored->get(), 0, 1)) == "t";
    if (held == std::to_string(sequence)) {
      if (same_document) return common::Status::Ok();  // a retry
      return common::Status::FailedPrecondition(
          "postgres: session '" + name + "' holds sequence " + held +
          " with another document; not replaced");
    }
    return common::Status::FailedPrecondition(
        "postgres: session '" + name + "' holds sequence " + held +
        ", newer than " + std::to_string(sequence) + "; not replaced");
  });
}

}  // namespace dynoguard::worker
