#include "worker/forward/event_outbox.h"

#include <sqlite3.h>

#include <utility>

#include "worker/storage/sqlite.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;
using storage::Exec;
using storage::Statement;
using storage::Transaction;

namespace {

// Bumped with every schema change; Open refuses a file of a newer worker.
constexpr int kSchemaVersion = 1;

// How long a writer waits for another connection's write lock.
constexpr int kBusyTimeoutMs = 5000;

// events_pending serves NextDue (the head of each chat: the lowest seq among
// its pending events) and the pending counts; events_done Prune and
// DeadLetters. `counters` holds delivered_total, which outlives pruning.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  seq              INTEGER PRIMARY KEY,
  id               TEXT    NOT NULL UNIQUE,
  type             TEXT    NOT NULL,
  chat             TEXT    NOT NULL,
  timestamp_ms     INTEGER NOT NULL,
  body             TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN
                     ('pending', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  INTEGER NOT NULL DEFAULT 0,
  first_failure_ms INTEGER,
  last_error       TEXT    NOT NULL DEFAULT '',
  created_ms       INTEGER NOT NULL,
  updated_ms       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_pending
  ON events (chat, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_done
  ON events (state, updated_ms) WHERE state <> 'pending';
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('delivered_total', 0);
)sql";

constexpr const char* kInsert =
    "INSERT OR IGNORE INTO events (id, type, chat, timestamp_ms, body, "
    "state, created_ms, updated_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)";

// The columns ReadEvent expects, in order (table alias e).
constexpr const char* kColumns =
    "e.id, e.type, e.chat, e.timestamp_ms, e.body, e.attempts, "
    "e.next_attempt_ms, e.first_failure_ms, e.last_error, e.created_ms, "
    "e.updated_ms";

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

StoredEvent ReadEvent(const Statement& stmt) {
  StoredEvent stored;
  stored.event.id = stmt.Text(0);
  stored.event.type = stmt.Text(1);
  stored.event.chat = stmt.Text(2);
  stored.event.timestamp_ms = stmt.Int(3);
  stored.event.json = stmt.Text(4);
  stored.attempts = static_cast<int>(stmt.Int(5));
  stored.next_attempt_ms = stmt.Int(6);
  if (!stmt.IsNull(7)) stored.first_failure_ms = stmt.Int(7);
  stored.last_error = stmt.Text(8);
  stored.created_ms = stmt.Int(9);
  stored.updated_ms = stmt.Int(10);
  return stored;
}

Result<std::vector<StoredEvent>> Collect(Statement& stmt) {
  std::vector<StoredEvent> events;
  while (true) {
    Result<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return events;
    events.push_back(ReadEvent(stmt));
  }
}

// " AND e.chat NOT IN (?first, …)" for `count` chats; "" for none.
std::string NotInChats(size_t count, int first) {
  if (count == 0) return "";
  std::string sql = " AND e.chat NOT IN (";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) sql += ", ";
    sql += "?" + std::to_string(first + static_cast<int>(i));
  }
  return sql + ")";
}

}  // namespace

Result<std::unique_ptr<EventOutbox>> EventOutbox::Open(
    const std::string& path) {
  const std::string context = "event outbox " + path;
  // An appended event survives power loss, not only SIGKILL; events are
  // appended and read back by their newest pages (512 KiB of cache).
  Result<sqlite3*> opened =
      storage::OpenDurableDatabase(path, context, kBusyTimeoutMs, 512);
  if (!opened.ok()) return opened.status();
  DbPtr db(*opened);
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(db.get(), context);
  if (!txn.ok()) return txn.status();
  Result<int64_t> version =
      storage::ReadSchemaVersion(db.get(), context, kSchemaVersion);
  if (!version.ok()) return version.status();
  Status status = Exec(db.get(), context, kSchema);
  if (status.ok()) {
    status = Exec(
        db.get(), context,
        ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  }
  if (status.ok()) status = (*txn)->Commit();
  if (!status.ok()) return status;
  return std::unique_ptr<EventOutbox>(new EventOutbox(path, db.release()));
}

EventOutbox::EventOutbox(std::string path, sqlite3* db)
    : path_(std::move(path)), context_("event outbox " + path_), db_(db) {}

EventOutbox::~EventOutbox() { sqlite3_close_v2(db_); }

struct EventOutbox::Writer {
  std::span<const ForwardEvent> events;
  int64_t now_ms = 0;
  int inserted = 0;
  Status status;
  bool done = false;
  std::condition_variable cv;
};

Result<int> EventOutbox::Append(std::span<const ForwardEvent> events,
                                int64_t now_ms) {
  for (const ForwardEvent& event : events) {
    if (event.id.empty()) {
      return Status::InvalidArgument("event outbox: event without id");
    }
    if (event.json.empty()) {
      return Status::InvalidArgument("event outbox: event " + event.id +
                                     " without json");
    }
  }
  if (events.empty()) return 0;

  // Group commit (leveldb's write path): callers queue up; the one at the
  // front commits everything queued so far in one transaction while later
  // callers queue behind, then hands the front to the next.
  Writer self;
  self.events = events;
  self.now_ms = now_ms;
  std::unique_lock queue(writers_mu_);
  writers_.push_back(&self);
  while (!self.done && writers_.front() != &self) self.cv.wait(queue);
  if (self.done) {
    if (!self.status.ok()) return self.status;
    return self.inserted;
  }
  // Bounded so one transaction stays short.
  constexpr size_t kMaxBatchEvents = 1000;
  std::vector<Writer*> batch;
  size_t batch_events = 0;
  for (Writer* writer : writers_) {
    if (!batch.empty() &&
        batch_events + writer->events.size() > kMaxBatchEvents) {
      break;
    }
    batch.push_back(writer);
    batch_events += writer->events.size();
  }
  queue.unlock();
  Status status;
  {
    std::lock_guard lock(mu_);
    status = InsertLocked(batch);
  }
  queue.lock();
  for (Writer* writer : batch) {
    writers_.pop_front();
    writer->status = status;
    if (!status.ok()) writer->inserted = 0;
    writer->done = true;
    if (writer != &self) writer->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  if (!status.ok()) return status;
  return self.inserted;
}

Status EventOutbox::InsertLocked(const std::vector<Writer*>& batch) {
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(db_, context_);
  if (!txn.ok()) return txn.status();
  for (Writer* writer : batch) {
    writer->inserted = 0;
    for (const ForwardEvent& event : writer->events) {
      // Prepared per row: storage::Statement has no reset, and preparing
      // costs microseconds beside the commit's fsync.
      Result<Statement> insert = Statement::Prepare(db_, context_, kInsert);
      if (!insert.ok()) return insert.status();
      insert->Bind(1, event.id);
      insert->Bind(2, event.type);
      insert->Bind(3, event.chat);
      insert->Bind(4, event.timestamp_ms);
      insert->Bind(5, event.json);
      insert->Bind(6, writer->now_ms);
      if (Status status = insert->Run(); !status.ok()) return status;
      writer->inserted += sqlite3_changes(db_) > 0 ? 1 : 0;
    }
  }
  return (*txn)->Commit();
}

Result<DuePick> EventOutbox::NextDue(int64_t now_ms, size_t max,
                                     const std::set<std::string>& busy) {
  DuePick pick;
  std::lock_guard lock(mu_);
  // The head of a chat is its pending event with the lowest seq; only heads
  // are handed out, so a chat's events go strictly one after the other.
  const std::string heads =
      "WITH heads AS (SELECT MIN(seq) AS seq FROM events "
      "WHERE state = 'pending' GROUP BY chat) "
      "SELECT {} FROM heads JOIN events AS e ON e.seq = heads.seq WHERE ";
  auto bind_busy = [&busy](Statement& stmt, int first) {
    int index = first;
    for (const std::string& chat : busy) stmt.Bind(index++, chat);
  };
  if (max > 0) {
    std::string sql = heads;
    sql.replace(sql.find("{}"), 2, kColumns);
    sql += "e.next_attempt_ms <= ?1" + NotInChats(busy.size(), 3) +
           " ORDER BY e.seq LIMIT ?2";
    Result<Statement> stmt = Statement::Prepare(db_, context_, sql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, now_ms);
    stmt->Bind(2, static_cast<int64_t>(max));
    bind_busy(*stmt, 3);
    Result<std::vector<StoredEvent>> due = Collect(*stmt);
    if (!due.ok()) return due.status();
    pick.due = std::move(*due);
  }
  {
    std::string sql = heads;
    sql.replace(sql.find("{}"), 2, "MIN(e.next_attempt_ms)");
    sql += "e.next_attempt_ms > ?1" + NotInChats(busy.size(), 2);
    Result<Statement> stmt = Statement::Prepare(db_, context_, sql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, now_ms);
    bind_busy(*stmt, 2);
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row && !stmt->IsNull(0)) pick.next_due_ms = stmt->Int(0);
  }
  return pick;
}

Status EventOutbox::ApplyLocked(const EventOutcome& outcome, int64_t now_ms) {
  const char* sql = nullptr;
  switch (outcome.kind) {
    case EventOutcome::Kind::kDelivered:
      sql =
          "UPDATE events SET state = 'delivered', last_error = '', "
          "updated_ms = ?2 WHERE id = ?1 AND state = 'pending'";
      break;
    case EventOutcome::Kind::kRetry:
      sql =
          "UPDATE events SET attempts = attempts + 1, next_attempt_ms = ?3, "
          "last_error = ?4, first_failure_ms = COALESCE(first_failure_ms, ?2), "
          "updated_ms = ?2 WHERE id = ?1 AND state = 'pending'";
      break;
    case EventOutcome::Kind::kDead:
      sql =
          "UPDATE events SET state = 'dead', attempts = attempts + 1, "
          "last_error = ?4, first_failure_ms = COALESCE(first_failure_ms, ?2), "
          "updated_ms = ?2 WHERE id = ?1 AND state = 'pending'";
      break;
  }
  Result<Statement> stmt = Statement::Prepare(db_, context_, sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, outcome.id);
  stmt->Bind(2, now_ms);
  if (outcome.kind != EventOutcome::Kind::kDelivered) {
    stmt->Bind(3, outcome.next_attempt_ms);
    stmt->Bind(4, outcome.error);
  }
  if (Status status = stmt->Run(); !status.ok()) return status;
  if (outcome.kind == EventOutcome::Kind::kDelivered &&
      sqlite3_changes(db_) > 0) {
    return Exec(db_, context_,
                "UPDATE counters SET value = value + 1 "
                "WHERE name = 'delivered_total'");
  }
  return Status::Ok();
}

Status EventOutbox::Record(std::span<const EventOutcome> outcomes,
                           int64_t now_ms) {
  if (outcomes.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(db_, context_);
  if (!txn.ok()) return txn.status();
  for (const EventOutcome& outcome : outcomes) {
    if (Status status = ApplyLocked(outcome, now_ms); !status.ok()) {
      return status;
    }
  }
  return (*txn)->Commit();
}

Status EventOutbox::MarkDelivered(std::string_view id, int64_t now_ms) {
  EventOutcome outcome{std::string(id), EventOutcome::Kind::kDelivered, 0, ""};
  return Record(std::span<const EventOutcome>(&outcome, 1), now_ms);
}

Status EventOutbox::MarkRetry(std::string_view id, int64_t next_attempt_ms,
                              std::string_view error, int64_t now_ms) {
  EventOutcome outcome{std::string(id), EventOutcome::Kind::kRetry,
                       next_attempt_ms, std::string(error)};
  return Record(std::span<const EventOutcome>(&outcome, 1), now_ms);
}

Status EventOutbox::MarkDead(std::string_view id, std::string_view error,
                             int64_t now_ms) {
  EventOutcome outcome{std::string(id), EventOutcome::Kind::kDead, 0,
                       std::string(error)};
  return Record(std::span<const EventOutcome>(&outcome, 1), now_ms);
}

Result<std::optional<StoredEvent>> EventOutbox::Get(std::string_view id) {
  std::lock_guard lock(mu_);
  Result<Statement> stmt = Statement::Prepare(
      db_, context_,
      std::string("SELECT ") + kColumns + " FROM events AS e WHERE e.id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<StoredEvent>();
  return std::optional<StoredEvent>(ReadEvent(*stmt));
}

Result<std::optional<std::string>> EventOutbox::State(std::string_view id) {
  std::lock_guard lock(mu_);
  Result<Statement> stmt = Statement::Prepare(
      db_, context_, "SELECT state FROM events WHERE id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Text(0));
}

// The `state <> 'pending'` terms repeat events_done's own condition: SQLite
// uses a partial index only when the query's WHERE implies the index's, and
// `state = 'dead'` does not count as implying it. Without them each of these
// read every event kept (delivered ones for days) and sorted them.
std::string EventOutbox::StatsSql() {
  return "SELECT "
         "(SELECT COUNT(*) FROM events WHERE state = 'pending'), "
         "(SELECT COUNT(*) FROM events WHERE state = 'dead' AND "
         "state <> 'pending'), "
         "(SELECT value FROM counters WHERE name = 'delivered_total'), "
         "(SELECT MIN(created_ms) FROM events WHERE state = 'pending')";
}

std::string EventOutbox::DeadLettersSql() {
  return std::string("SELECT ") + kColumns +
         " FROM events AS e WHERE e.state = 'dead' AND e.state <> 'pending'"
         " ORDER BY e.updated_ms DESC, e.seq DESC LIMIT ?1";
}

std::string EventOutbox::PruneSql() {
  return "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
         "WHERE state = ?3 AND state <> 'pending' AND updated_ms < ?1 "
         "ORDER BY updated_ms LIMIT ?2)";
}

Result<OutboxStats> EventOutbox::Stats() {
  OutboxStats stats;
  std::lock_guard lock(mu_);
  Result<Statement> stmt = Statement::Prepare(db_, context_, StatsSql());
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (*row) {
    stats.pending = stmt->Int(0);
    stats.dead = stmt->Int(1);
    stats.delivered_total = stmt->IsNull(2) ? 0 : stmt->Int(2);
    if (!stmt->IsNull(3)) stats.oldest_pending_ms = stmt->Int(3);
  }
  return stats;
}

Result<std::vector<StoredEvent>> EventOutbox::DeadLetters(int limit) {
  std::lock_guard lock(mu_);
  Result<Statement> stmt = Statement::Prepare(db_, context_, DeadLettersSql());
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, int64_t{limit < 0 ? 0 : limit});
  return Collect(*stmt);
}

Result<std::vector<StoredEvent>> EventOutbox::Pending(int limit) {
  std::lock_guard lock(mu_);
  Result<Statement> stmt =
      Statement::Prepare(db_, context_,
                         std::string("SELECT ") + kColumns +
                             " FROM events AS e WHERE e.state = 'pending' "
                             "ORDER BY e.seq LIMIT ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, int64_t{limit < 0 ? 0 : limit});
  return Collect(*stmt);
}

Result<int> EventOutbox::Restore(std::span<const StoredEvent> events) {
  for (const StoredEvent& e : events) {
    if (e.event.id.empty() || e.event.json.empty()) {
      return Status::InvalidArgument(context_ +
                                     ": restore: an event without id or json");
    }
  }
  std::lock_guard lock(mu_);
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(db_, context_);
  if (!txn.ok()) return txn.status();
  int inserted = 0;
  for (const StoredEvent& e : events) {
    Result<Statement> stmt = Statement::Prepare(
        db_, context_,
        "INSERT OR IGNORE INTO events (id, type, chat, timestamp_ms, body, "
        "state, attempts, next_attempt_ms, first_failure_ms, last_error, "
        "created_ms, updated_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, e.event.id);
    stmt->Bind(2, e.event.type);
    stmt->Bind(3, e.event.chat);
    stmt->Bind(4, e.event.timestamp_ms);
    stmt->Bind(5, e.event.json);
    stmt->Bind(6, int64_t{e.attempts});
    stmt->Bind(7, e.next_attempt_ms);
    if (e.first_failure_ms) {
      stmt->Bind(8, *e.first_failure_ms);
    } else {
      stmt->BindNull(8);
    }
    stmt->Bind(9, e.last_error);
    stmt->Bind(10, e.created_ms);
    stmt->Bind(11, e.updated_ms);
    if (Status status = stmt->Run(); !status.ok()) return status;
    inserted += sqlite3_changes(db_) > 0 ? 1 : 0;
  }
  if (Status status = (*txn)->Commit(); !status.ok()) return status;
  return inserted;
}

Result<int64_t> EventOutbox::Prune(std::string_view state, int64_t before_ms,
                                   int limit) {
  if (state != "delivered" && state != "dead") {
    return Status::InvalidArgument(
        context_ + ": cannot prune events in state " + std::string(state));
  }
  std::lock_guard lock(mu_);
  Result<Statement> stmt = Statement::Prepare(db_, context_, PruneSql());
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, before_ms);
  stmt->Bind(2, int64_t{limit < 0 ? 0 : limit});
  stmt->Bind(3, state);
  if (Status status = stmt->Run(); !status.ok()) return status;
  return static_cast<int64_t>(sqlite3_changes(db_));
}

}  // namespace dynoguard::worker
