#include "worker/transport/sandbox/sandbox_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/storage/sqlite.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;
using storage::Exec;
using storage::SqlError;
using storage::Statement;
using storage::Transaction;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS outbox (
  seq          INTEGER PRIMARY KEY,
  id           TEXT    NOT NULL UNIQUE,
  recipient    TEXT    NOT NULL,
  text         TEXT    NOT NULL,
  sent_at_ms   INTEGER NOT NULL,
  type         TEXT    NOT NULL DEFAULT 'text',
  content_json TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS receipts (
  provider_id TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  due_ms      INTEGER NOT NULL,
  PRIMARY KEY (provider_id, status)
);
)sql";

constexpr int64_t kSchemaVersion = 2;

// Schema 1 → 2: the message kind and its object.
Status Migrate(sqlite3* db, const std::string& context) {
  Result<Statement> version =
      Statement::Prepare(db, context, "PRAGMA user_version");
  if (!version.ok()) return version.status();
  Result<bool> row = version->Step();
  if (!row.ok()) return row.status();
  const int64_t current = *row ? version->Int(0) : 0;
  if (current >= kSchemaVersion) return Status::Ok();
  std::vector<std::string> columns;
  {
    Result<Statement> info =
        Statement::Prepare(db, context, "PRAGMA table_info(outbox)");
    if (!info.ok()) return info.status();
    while (true) {
      Result<bool> next = info->Step();
      if (!next.ok()) return next.status();
      if (!*next) break;
      columns.push_back(info->Text(1));
    }
  }
  auto has = [&columns](std::string_view name) {
    return std::find(columns.begin(), columns.end(), name) != columns.end();
  };
  if (!has("type")) {
    if (Status s = Exec(db, context,
                        "ALTER TABLE outbox ADD COLUMN type TEXT NOT NULL "
                        "DEFAULT 'text'");
        !s.ok()) {
      return s;
    }
  }
  if (!has("content_json")) {
    if (Status s = Exec(db, context,
                        "ALTER TABLE outbox ADD COLUMN content_json TEXT NOT "
                        "NULL DEFAULT ''");
        !s.ok()) {
      return s;
    }
  }
  return Exec(db, context, "PRAGMA user_version = 2");
}

}  // namespace

Result<std::unique_ptr<SandboxStore>> SandboxStore::Open(
    const std::string& path) {
  const std::string context = "sandbox store " + path;
  Result<sqlite3*> opened =
      storage::OpenPrivateDatabase(path, context, /*busy_timeout_ms=*/5000);
  if (!opened.ok()) return opened.status();
  sqlite3* db = *opened;
  std::unique_ptr<SandboxStore> store(new SandboxStore(db, context));
  for (const char* sql :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", kSchema}) {
    if (Status status = Exec(db, context, sql); !status.ok()) return status;
  }
  if (Status status = Migrate(db, context); !status.ok()) return status;
  return store;
}

SandboxStore::~SandboxStore() { sqlite3_close_v2(db_); }

Result<SandboxStore::Contents> SandboxStore::Load(size_t capacity) {
  Contents contents;
  {
    Result<Statement> stmt = Statement::Prepare(
        db_, context_,
        "SELECT id, recipient, text, sent_at_ms, type, content_json FROM "
        "(SELECT * FROM outbox ORDER BY seq DESC LIMIT ?1) ORDER BY seq");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, static_cast<int64_t>(capacity));
    while (true) {
      Result<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      SandboxOutboxEntry entry;
      entry.id = stmt->Text(0);
      entry.to = stmt->Text(1);
      entry.text = stmt->Text(2);
      entry.sent_at_ms = stmt->Int(3);
      entry.type = stmt->Text(4);
      entry.content_json = stmt->Text(5);
      contents.outbox.push_back(std::move(entry));
    }
  }
  {
    Result<Statement> stmt = Statement::Prepare(
        db_, context_,
        "SELECT due_ms, provider_id, status FROM receipts ORDER BY due_ms");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      Result<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::optional<MessageStatus> status = ParseMessageStatus(stmt->Text(2));
      if (!status) continue;  // hand-edited; nothing sensible to emit
      contents.receipts.push_back({stmt->Int(0), stmt->Text(1), *status});
    }
  }
  {
    Result<Statement> stmt = Statement::Prepare(
        db_, context_, "SELECT COALESCE(MAX(seq), 0) FROM outbox");
    if (!stmt.ok()) return stmt.status();
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) contents.last_sequence = static_cast<uint64_t>(stmt->Int(0));
  }
  return contents;
}

Status SandboxStore::RecordSend(uint64_t sequence,
                                const SandboxOutboxEntry& entry,
                                const std::vector<SandboxReceipt>& receipts,
                                size_t capacity) {
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(db_, context_);
  if (!txn.ok()) return txn.status();
  {
    Result<Statement> insert = Statement::Prepare(
        db_, context_,
        "INSERT INTO outbox (seq, id, recipient, text, sent_at_ms, type, "
        "content_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, static_cast<int64_t>(sequence));
    insert->Bind(2, entry.id);
    insert->Bind(3, entry.to);
    insert->Bind(4, entry.text);
    insert->Bind(5, entry.sent_at_ms);
    insert->Bind(6, entry.type);
    insert->Bind(7, entry.content_json);
    if (Status status = insert->Run(); !status.ok()) return status;
  }
  for (const SandboxReceipt& receipt : receipts) {
    Result<Statement> insert = Statement::Prepare(
        db_, context_,
        "INSERT OR REPLACE INTO receipts (provider_id, status, due_ms) "
        "VALUES (?1, ?2, ?3)");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, receipt.provider_id);
    insert->Bind(2, ToString(receipt.status));
    insert->Bind(3, receipt.due_ms);
    if (Status status = insert->Run(); !status.ok()) return status;
  }
  {
    // By count, not by number: simulated inbound messages use numbers too.
    Result<Statement> trim = Statement::Prepare(
        db_, context_,
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY "
        "seq DESC LIMIT -1 OFFSET ?1)");
    if (!trim.ok()) return trim.status();
    trim->Bind(1, static_cast<int64_t>(capacity));
    if (Status status = trim->Run(); !status.ok()) return status;
  }
  return (*txn)->Commit();
}

Status SandboxStore::RemoveReceipts(
    const std::vector<SandboxReceipt>& receipts) {
  if (receipts.empty()) return Status::Ok();
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(db_, context_);
  if (!txn.ok()) return txn.status();
  for (const SandboxReceipt& receipt : receipts) {
    Result<Statement> del = Statement::Prepare(
        db_, context_,
        "DELETE FROM receipts WHERE provider_id = ?1 AND status = ?2");
    if (!del.ok()) return del.status();
    del->Bind(1, receipt.provider_id);
    del->Bind(2, ToString(receipt.status));
    if (Status status = del->Run(); !status.ok()) return status;
  }
  return (*txn)->Commit();
}

}  // namespace dynoguard::worker
