#include "worker/inbound/inbound_store.h"

#include <algorithm>
#include <utility>

#include "worker/inbound/inbound_policy.h"
#include "worker/storage/sqlite.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;
using storage::Exec;
using storage::Statement;
using storage::Transaction;

namespace {

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kMarkSeenSql =
    "INSERT OR IGNORE INTO seen (key, seen_ms) VALUES (?1, ?2)";
constexpr const char* kMarkProcessedSql =
    "UPDATE inbox SET processed = ?2, processed_ms = ?3 WHERE seq = ?1";
constexpr const char* kRecordChatSql =
    "INSERT INTO chat_inbound (wa_id, id, type, text, timestamp_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (wa_id, id) DO NOTHING";

constexpr const char* kRecordInboundSql =
    "INSERT INTO contacts (wa_id, last_inbound_ms) VALUES (?1, ?2) "
    "ON CONFLICT (wa_id) DO UPDATE SET last_inbound_ms = "
    "MAX(last_inbound_ms, excluded.last_inbound_ms)";

// processed: 0 waiting, 1 done, 2 done but the body did not parse.
// AUTOINCREMENT: a seq is never reused after old rows are pruned, so the
// error dedup keys (inbox seq + position) stay unique.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS inbox (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  source       TEXT    NOT NULL,
  body         TEXT    NOT NULL,
  received_ms  INTEGER NOT NULL,
  processed    INTEGER NOT NULL DEFAULT 0,
  processed_ms INTEGER
);
CREATE INDEX IF NOT EXISTS inbox_by_state ON inbox (processed, seq);
CREATE TABLE IF NOT EXISTS seen (
  key     TEXT    PRIMARY KEY,
  seen_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_ms);
CREATE TABLE IF NOT EXISTS contacts (
  wa_id           TEXT    PRIMARY KEY,
  last_inbound_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_inbound (
  wa_id        TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  text         TEXT    NOT NULL DEFAULT '',
  timestamp_ms INTEGER NOT NULL,
  PRIMARY KEY (wa_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_inbound_by_chat
  ON chat_inbound (wa_id, timestamp_ms);
CREATE INDEX IF NOT EXISTS chat_inbound_by_time ON chat_inbound (timestamp_ms);
PRAGMA user_version = 1;
)sql";

InboxSource SourceFromText(std::string_view text) {
  return text == "sandbox" ? InboxSource::kSandbox : InboxSource::kWebhook;
}

Result<sqlite3*> OpenConnection(const std::string& path,
                                const std::string& context) {
  // A body answered 200 survives power loss too. 512 KiB of page cache per
  // connection: every query here is a key lookup or a short index range.
  return storage::OpenDurableDatabase(path, context, kBusyTimeoutMs, 512);
}

// Runs `sql` with `bind` applied and returns the changed row count.
template <typename BindFn>
Result<int64_t> Change(sqlite3* db, std::string_view context,
                       std::string_view sql, BindFn bind) {
  Result<Statement> stmt = Statement::Prepare(db, context, sql);
  if (!stmt.ok()) return stmt.status();
  bind(*stmt);
  if (Status status = stmt->Run(); !status.ok()) return status;
  return static_cast<int64_t>(sqlite3_changes(db));
}

Result<int64_t> CountOf(sqlite3* db, std::string_view context,
                        std::string_view sql) {
  Result<Statement> stmt = Statement::Prepare(db, context, sql);
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->Int(0) : 0;
}

}  // namespace

std::string_view ToString(InboxSource source) {
  return source == InboxSource::kSandbox ? "sandbox" : "webhook";
}

InboundStore::InboundStore(sqlite3* writer, sqlite3* reader, std::string path,
                           std::string context, const common::Logger* log)
    : path_(std::move(path)),
      context_(std::move(context)),
      log_(log),
      writer_(writer),
      reader_(reader) {}

InboundStore::~InboundStore() {
  sqlite3_close_v2(reader_);
  sqlite3_close_v2(writer_);
}

Result<std::unique_ptr<InboundStore>> InboundStore::Open(
    const std::string& path, const common::Logger* log) {
  const std::string context = "inbound store " + path;
  Result<sqlite3*> writer = OpenConnection(path, context);
  if (!writer.ok()) return writer.status();
  if (Status status = Exec(*writer, context, kSchema); !status.ok()) {
    sqlite3_close_v2(*writer);
    return status;
  }
  Result<sqlite3*> reader = OpenConnection(path, context);
  if (!reader.ok()) {
    sqlite3_close_v2(*writer);
    return reader.status();
  }
  return std::unique_ptr<InboundStore>(
      new InboundStore(*writer, *reader, path, context, log));
}

Result<int64_t> InboundStore::Append(InboxSource source, std::string_view body,
                                     int64_t received_ms) {
  std::lock_guard lock(write_mu_);
  Result<int64_t> changed = Change(
      writer_, context_,
      "INSERT INTO inbox (source, body, received_ms) VALUES (?1, ?2, ?3)",
      [&](Statement& s) {
        s.Bind(1, ToString(source));
        s.Bind(2, body);
        s.Bind(3, received_ms);
      });
  if (!changed.ok()) return changed.status();
  return static_cast<int64_t>(sqlite3_last_insert_rowid(writer_));
}

Result<std::vector<InboxRow>> InboundStore::Unprocessed(size_t limit) {
  std::lock_guard lock(write_mu_);
  Result<Statement> stmt = Statement::Prepare(
      writer_, context_,
      "SELECT seq, source, body, received_ms FROM inbox WHERE processed = 0 "
      "ORDER BY seq LIMIT ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, static_cast<int64_t>(limit));
  std::vector<InboxRow> rows;
  while (true) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.push_back({stmt->Int(0), SourceFromText(stmt->Text(1)), stmt->Text(2),
                    stmt->Int(3)});
  }
  return rows;
}

Status InboundStore::MarkProcessed(int64_t seq, bool parsed, int64_t now_ms) {
  std::lock_guard lock(write_mu_);
  Result<int64_t> changed =
      Change(writer_, context_, kMarkProcessedSql, [&](Statement& s) {
        s.Bind(1, seq);
        s.Bind(2, int64_t{parsed ? 1 : 2});
        s.Bind(3, now_ms);
      });
  if (!changed.ok()) return changed.status();
  if (*changed == 0) {
    return Status::NotFound(context_ + ": no inbox row " + std::to_string(seq));
  }
  return Status::Ok();
}

Result<bool> InboundStore::IsSeen(std::string_view key) {
  std::lock_guard lock(write_mu_);
  Result<Statement> stmt = Statement::Prepare(
      writer_, context_, "SELECT 1 FROM seen WHERE key = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, key);
  return stmt->Step();
}

Status InboundStore::MarkSeen(std::string_view key, int64_t now_ms) {
  std::lock_guard lock(write_mu_);
  Result<int64_t> changed =
      Change(writer_, context_, kMarkSeenSql, [&](Statement& s) {
        s.Bind(1, key);
        s.Bind(2, now_ms);
      });
  return changed.ok() ? Status::Ok() : changed.status();
}

Status InboundStore::RecordInbound(std::string_view wa_id, int64_t at_ms) {
  std::lock_guard lock(write_mu_);
  Result<int64_t> changed =
      Change(writer_, context_, kRecordInboundSql, [&](Statement& s) {
        s.Bind(1, wa_id);
        s.Bind(2, at_ms);
      });
  return changed.ok() ? Status::Ok() : changed.status();
}

Status InboundStore::RecordInbounds(
    const std::vector<std::pair<std::string, int64_t>>& contacts,
    const std::vector<ChatEntry>& messages) {
  if (contacts.empty() && messages.empty()) return Status::Ok();
  std::lock_guard lock(write_mu_);
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(writer_, context_);
  if (!txn.ok()) return txn.status();
  for (const auto& [wa_id, at_ms] : contacts) {
    Result<int64_t> changed =
        Change(writer_, context_, kRecordInboundSql, [&](Statement& s) {
          s.Bind(1, wa_id);
          s.Bind(2, at_ms);
        });
    if (!changed.ok()) return changed.status();
  }
  for (const ChatEntry& m : messages) {
    Result<int64_t> changed =
        Change(writer_, context_, kRecordChatSql, [&](Statement& s) {
          s.Bind(1, m.wa_id);
          s.Bind(2, m.id);
          s.Bind(3, m.type);
          s.Bind(4, m.text);
          s.Bind(5, m.timestamp_ms);
        });
    if (!changed.ok()) return changed.status();
  }
  return (*txn)->Commit();
}

Result<std::vector<ChatEntry>> InboundStore::RecentMessages(
    std::string_view wa_id, size_t limit) {
  std::lock_guard lock(read_mu_);
  Result<Statement> stmt = Statement::Prepare(
      reader_, context_,
      "SELECT id, type, text, timestamp_ms FROM chat_inbound WHERE wa_id = ?1 "
      "ORDER BY timestamp_ms DESC, id DESC LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, wa_id);
  stmt->Bind(2, static_cast<int64_t>(limit));
  std::vector<ChatEntry> entries;
  for (;;) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ChatEntry e;
    e.id = stmt->Text(0);
    e.wa_id = std::string(wa_id);
    e.type = stmt->Text(1);
    e.text = stmt->Text(2);
    e.timestamp_ms = stmt->Int(3);
    entries.push_back(std::move(e));
  }
  std::reverse(entries.begin(), entries.end());  // newest first → oldest first
  return entries;
}

Status InboundStore::MarkSeenAll(const std::vector<std::string>& keys,
                                 int64_t now_ms,
                                 std::optional<int64_t> processed_seq) {
  if (keys.empty() && !processed_seq) return Status::Ok();
  std::lock_guard lock(write_mu_);
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(writer_, context_);
  if (!txn.ok()) return txn.status();
  for (const std::string& key : keys) {
    Result<int64_t> changed =
        Change(writer_, context_, kMarkSeenSql, [&](Statement& s) {
          s.Bind(1, key);
          s.Bind(2, now_ms);
        });
    if (!changed.ok()) return changed.status();
  }
  if (processed_seq) {
    Result<int64_t> changed =
        Change(writer_, context_, kMarkProcessedSql, [&](Statement& s) {
          s.Bind(1, *processed_seq);
          s.Bind(2, int64_t{1});
          s.Bind(3, now_ms);
        });
    if (!changed.ok()) return changed.status();
    if (*changed == 0) {
      return Status::NotFound(context_ + ": no inbox row " +
                              std::to_string(*processed_seq));
    }
  }
  return (*txn)->Commit();
}

Status InboundStore::RestoreSeen(
    const std::vector<std::pair<std::string, int64_t>>& keys) {
  if (keys.empty()) return Status::Ok();
  std::lock_guard lock(write_mu_);
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(writer_, context_);
  if (!txn.ok()) return txn.status();
  for (const auto& [key, at_ms] : keys) {
    Result<int64_t> changed =
        Change(writer_, context_, kMarkSeenSql, [&](Statement& s) {
          s.Bind(1, key);
          s.Bind(2, at_ms);
        });
    if (!changed.ok()) return changed.status();
  }
  return (*txn)->Commit();
}

// The rows of a two-column (text, integer) query, in its order.
Result<std::vector<std::pair<std::string, int64_t>>> InboundStore::TextTimes(
    const char* sql, int64_t bound, size_t limit) {
  // A connection of its own: a snapshot's whole-table read never holds the
  // reader that the 24-hour rule of every send uses.
  Result<sqlite3*> db =
      storage::OpenReadOnlyDatabase(path_, context_, kBusyTimeoutMs);
  if (!db.ok()) return db.status();
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(*db, sqlite3_close_v2);
  Result<Statement> stmt = Statement::Prepare(*db, context_, sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, bound);
  stmt->Bind(2, static_cast<int64_t>(limit));
  std::vector<std::pair<std::string, int64_t>> rows;
  for (;;) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.emplace_back(stmt->Text(0), stmt->Int(1));
  }
  std::reverse(rows.begin(), rows.end());  // newest first → oldest first
  return rows;
}

Result<std::vector<std::pair<std::string, int64_t>>> InboundStore::SeenKeys(
    size_t limit) {
  return TextTimes(
      "SELECT key, seen_ms FROM seen WHERE seen_ms >= ?1 "
      "ORDER BY seen_ms DESC, key DESC LIMIT ?2",
      0, limit);
}

Result<std::vector<std::pair<std::string, int64_t>>> InboundStore::OpenWindows(
    int64_t now_ms, size_t limit) {
  return TextTimes(
      "SELECT wa_id, last_inbound_ms FROM contacts WHERE last_inbound_ms > ?1 "
      "ORDER BY last_inbound_ms DESC, wa_id DESC LIMIT ?2",
      now_ms - kCustomerServiceWindowMs, limit);
}

Result<std::optional<int64_t>> InboundStore::LastInbound(
    std::string_view wa_id) {
  std::lock_guard lock(read_mu_);
  Result<Statement> stmt = Statement::Prepare(
      reader_, context_,
      "SELECT last_inbound_ms FROM contacts WHERE wa_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, wa_id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt->Int(0));
}

bool InboundStore::WindowOpen(std::string_view wa_id, int64_t now_ms) {
  Result<std::optional<int64_t>> last = LastInbound(wa_id);
  if (!last.ok()) {
    if (!read_failing_.exchange(true) && log_ != nullptr) {
      log_->Error("inbound-window-read-failed",
                  {{"error", last.status().ToString()}});
    }
    return true;
  }
  read_failing_.store(false);
  return WindowOpenAt(*last, now_ms);
}

Result<InboundPruneResult> InboundStore::Prune(int64_t now_ms) {
  std::lock_guard lock(write_mu_);
  InboundPruneResult result;
  Result<int64_t> seen =
      Change(writer_, context_, "DELETE FROM seen WHERE seen_ms < ?1",
             [&](Statement& s) { s.Bind(1, SeenPruneCutoffMs(now_ms)); });
  if (!seen.ok()) return seen.status();
  result.seen = *seen;
  Result<int64_t> chat = Change(
      writer_, context_, "DELETE FROM chat_inbound WHERE timestamp_ms < ?1",
      [&](Statement& s) { s.Bind(1, SeenPruneCutoffMs(now_ms)); });
  if (!chat.ok()) return chat.status();
  result.chat = *chat;
  Result<int64_t> inbox =
      Change(writer_, context_,
             "DELETE FROM inbox WHERE processed != 0 AND received_ms < ?1",
             [&](Statement& s) { s.Bind(1, InboxPruneCutoffMs(now_ms)); });
  if (!inbox.ok()) return inbox.status();
  result.inbox = *inbox;
  // A window closed at now_ms or before cannot open again without a new
  // inbound message, which records the contact anew.
  Result<int64_t> contacts = Change(
      writer_, context_, "DELETE FROM contacts WHERE last_inbound_ms <= ?1",
      [&](Statement& s) { s.Bind(1, now_ms - kCustomerServiceWindowMs); });
  if (!contacts.ok()) return contacts.status();
  result.contacts = *contacts;
  return result;
}

Result<InboundStoreCounts> InboundStore::Counts() {
  std::lock_guard lock(write_mu_);
  InboundStoreCounts counts;
  struct Query {
    int64_t* out;
    const char* sql;
  };
  for (const Query& q : {
           Query{&counts.pending,
                 "SELECT COUNT(*) FROM inbox WHERE processed = 0"},
           Query{&counts.processed,
                 "SELECT COUNT(*) FROM inbox WHERE processed != 0"},
           Query{&counts.unparsable,
                 "SELECT COUNT(*) FROM inbox WHERE processed = 2"},
           Query{&counts.seen, "SELECT COUNT(*) FROM seen"},
           Query{&counts.contacts, "SELECT COUNT(*) FROM contacts"},
           Query{&counts.chat, "SELECT COUNT(*) FROM chat_inbound"},
       }) {
    Result<int64_t> n = CountOf(writer_, context_, q.sql);
    if (!n.ok()) return n.status();
    *q.out = *n;
  }
  return counts;
}

}  // namespace dynoguard::worker
