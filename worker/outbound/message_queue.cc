#include "worker/outbound/message_queue.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "worker/crypto/digest.h"
#include "worker/outbound/message_id.h"
#include "worker/storage/private_files.h"
#include "worker/storage/sqlite.h"
#include "worker/storage/wal_checkpointer.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;
using storage::Exec;
using storage::SqlError;
using storage::Statement;
using storage::StatementCache;
using storage::Transaction;

namespace {

// Bumped with every schema change; Open refuses a file written by a newer
// worker.
// 1: the first schema. 2: messages.request_hash (idempotency conflicts) and
// the messages_recipient_pending index (per-recipient order). 3: messages.type,
// content_json and provider_status (message kinds, the provider's
// message_status); schema 2's request hashes kept with a "v2:" prefix.
constexpr int kSchemaVersion = 3;

// How long a writer waits for another connection's write lock before giving up.
constexpr int kBusyTimeoutMs = 5000;

// WAL size (pages) at which the checkpointer thread copies the WAL back into
// the database: 16 MB at 4 KiB pages, four times SQLite's default, so that a
// page rewritten by many commits (a table's last leaf, an index's) is copied
// once per checkpoint, not once per 1,000 pages of WAL (the checkpoints were
// ~15 % of the worker's CPU under an enqueue flood at SQLite's default).
constexpr int kCheckpointPages = 4000;
// Beyond this the committing leader checkpoints itself, bounding the WAL when
// the checkpointer cannot keep up (80 MB at 4 KiB pages).
constexpr int kInlineCheckpointPages = 20000;

// The read-only connection's page cache, KiB.
constexpr int kReadCacheKib = 512;
// The page cache of a bulk read's own connection (BulkRead), KiB.
constexpr int kBulkReadCacheKib = 256;

// Random ids collide with probability ~2^-96; a few tries make that case a
// non-issue.
constexpr int kMaxIdTries = 4;

// Beside the database: written once the schema was first created, so a
// zero-length database file is known to have been a database.
constexpr const char* kCreatedMarkerSuffix = "-created";

// Marks a request hash computed the way schema 2 did (see LegacyRequestHash).
constexpr std::string_view kLegacyHashPrefix = "v2:";

// `recipient`, not `to`: TO is an SQL keyword. The unique partial index makes
// idempotency keys a database invariant, so concurrent writers (threads or
// processes) cannot both insert one key. messages_due serves the counts and
// the MIN() in Stats; messages_pending_seq NextDue and Pending (oldest first,
// so NextDue stops at the first due head and the snapshot's pending-size
// check at the cap: through messages_due SQLite sorted every pending row
// first, 55 ms per NextDue with 150,000 waiting); messages_provider the
// status callbacks; messages_recipient a chat's outbound half (RecentTo).
// `type` is '' for rows from before schema 3 (EffectiveType tells their kind).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq             INTEGER PRIMARY KEY,
  id              TEXT    NOT NULL UNIQUE,
  recipient       TEXT    NOT NULL,
  text            TEXT    NOT NULL DEFAULT '',
  template_json   TEXT    NOT NULL DEFAULT '',
  reply_to        TEXT    NOT NULL DEFAULT '',
  idempotency_key TEXT    NOT NULL DEFAULT '',
  request_hash    TEXT    NOT NULL DEFAULT '',
  status          TEXT    NOT NULL CHECK (status IN
                    ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  provider_id     TEXT    NOT NULL DEFAULT '',
  error_code      TEXT,
  error_message   TEXT,
  error_retryable INTEGER,
  next_attempt_ms INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  type            TEXT    NOT NULL DEFAULT '',
  content_json    TEXT    NOT NULL DEFAULT '',
  provider_status TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
  ON messages (idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX IF NOT EXISTS messages_due ON messages (status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS messages_provider
  ON messages (provider_id) WHERE provider_id <> '';
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER);
CREATE INDEX IF NOT EXISTS messages_recipient_pending
  ON messages (recipient, seq) WHERE status IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS messages_pending_seq
  ON messages (seq) WHERE status IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS messages_recipient
  ON messages (recipient, seq);
)sql";

// Schema 1 → 2: rows written before have request_hash '' (unknown body), so
// their keys keep answering the original id whatever the body.
constexpr const char* kMigrateV1 =
    "ALTER TABLE messages ADD COLUMN request_hash TEXT NOT NULL DEFAULT ''";

// Schema 2 → 3: the message kind columns ('' for the rows before: a text, or
// a template when template_json is set), and the old rows' hashes marked as
// schema 2's, so a client retrying with its key across the upgrade is still
// recognised (the new hash also covers type and content_json).
constexpr const char* kMigrateV2 = R"sql(
ALTER TABLE messages ADD COLUMN type TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN content_json TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN provider_status TEXT NOT NULL DEFAULT '';
UPDATE messages SET request_hash = 'v2:' || request_hash
  WHERE request_hash <> '' AND request_hash NOT LIKE 'v2:%';
)sql";

// A queued message is a "head" when no older message to the same recipient is
// still queued or sending: only heads may be sent, so a retried message holds
// the ones behind it (per-recipient order) while other recipients go on.
constexpr const char* kIsHead =
    " NOT EXISTS (SELECT 1 FROM messages AS older"
    " WHERE older.recipient = messages.recipient AND older.seq < messages.seq"
    " AND older.status IN ('queued', 'sending'))";

// The columns ReadMessage expects, in order.
constexpr const char* kColumns =
    "id, recipient, text, template_json, reply_to, idempotency_key, status, "
    "attempts, provider_id, error_code, error_message, error_retryable, "
    "next_attempt_ms, created_ms, updated_ms, type, content_json, "
    "provider_status";

// Binds error_code, error_message, error_retryable at code_index, +1, +2
// (NULLs for none).
void BindError(Statement& stmt, int code_index,
               const std::optional<ProviderError>& error) {
  if (error.has_value()) {
    stmt.Bind(code_index, error->code);
    stmt.Bind(code_index + 1, error->message);
    stmt.Bind(code_index + 2, int64_t{error->retryable ? 1 : 0});
  } else {
    stmt.BindNull(code_index);
    stmt.BindNull(code_index + 1);
    stmt.BindNull(code_index + 2);
  }
}

// "sha256:" + hex of the SHA-256 of `fields`, length-prefixed so that no two
// different lists share an encoding.
std::string HashFields(std::initializer_list<const std::string*> fields) {
  std::string canonical;
  for (const std::string* field : fields) {
    canonical += std::to_string(field->size());
    canonical += ':';
    canonical += *field;
    canonical += ';';
  }
  std::string hex = Sha256Hex(canonical);
  if (hex.empty()) {
    // Not expected; the canonical form itself still detects a different body.
    return "raw:" + canonical;
  }
  return "sha256:" + hex;
}

// The hash schema 2 stored: recipient, text, template and replyTo only.
std::string LegacyRequestHash(const NewMessage& message) {
  return HashFields(
      {&message.to, &message.text, &message.template_json, &message.reply_to});
}

// Whether `message` is another request than the one stored with `stored_hash`.
bool IsConflict(std::string_view stored_hash, const NewMessage& message,
                const std::string& request_hash) {
  // '' is a message from schema 1, whose body is unknown: never a conflict.
  if (stored_hash.empty()) return false;
  if (stored_hash.substr(0, kLegacyHashPrefix.size()) == kLegacyHashPrefix) {
    return stored_hash.substr(kLegacyHashPrefix.size()) !=
           LegacyRequestHash(message);
  }
  return stored_hash != request_hash;
}

// The message stored earlier under `message`'s idempotency key, if any, and
// whether `message` conflicts with it. Also finds a row an earlier write of
// the same batch inserted: one connection sees its own uncommitted writes.
Result<std::optional<MessageQueue::EnqueueResult>> FindByIdempotencyKey(
    StatementCache& cache, std::string_view context, const NewMessage& message,
    const std::string& request_hash) {
  using Found = std::optional<MessageQueue::EnqueueResult>;
  if (message.idempotency_key.empty()) return Found();
  Result<Statement> select =
      Statement::Prepare(cache, context, MessageQueue::ByIdempotencyKeySql());
  if (!select.ok()) return select.status();
  select->Bind(1, message.idempotency_key);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Found();
  return Found(MessageQueue::EnqueueResult{
      select->Text(0), false,
      IsConflict(select->Text(1), message, request_hash)});
}

}  // namespace

std::string RequestHash(const NewMessage& message) {
  return HashFields({&message.to, &message.type, &message.content_json,
                     &message.text, &message.template_json, &message.reply_to});
}

namespace {

// Reads the kColumns of the current row.
Result<OutboundMessage> ReadMessage(const Statement& stmt) {
  OutboundMessage message;
  message.id = stmt.Text(0);
  message.to = stmt.Text(1);
  message.text = stmt.Text(2);
  message.template_json = stmt.Text(3);
  message.reply_to = stmt.Text(4);
  message.idempotency_key = stmt.Text(5);
  std::string status = stmt.Text(6);
  std::optional<MessageStatus> parsed = ParseMessageStatus(status);
  // The CHECK constraint makes this unreachable unless the file was edited by
  // hand.
  if (!parsed)
    return Status::Internal("message " + message.id + ": bad status " + status);
  message.status = *parsed;
  message.attempts = static_cast<int>(stmt.Int(7));
  message.provider_id = stmt.Text(8);
  if (!stmt.IsNull(9)) {
    message.error =
        ProviderError{stmt.Text(9), stmt.Text(10), stmt.Int(11) != 0};
  }
  message.next_attempt_ms = stmt.Int(12);
  message.created_ms = stmt.Int(13);
  message.updated_ms = stmt.Int(14);
  message.type =
      std::string(EffectiveType(stmt.Text(15), message.template_json));
  message.content_json = stmt.Text(16);
  message.provider_status = stmt.Text(17);
  return message;
}

// Runs a SELECT of kColumns and collects every row.
Result<std::vector<OutboundMessage>> CollectMessages(Statement& stmt) {
  std::vector<OutboundMessage> messages;
  while (true) {
    Result<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return messages;
    Result<OutboundMessage> message = ReadMessage(stmt);
    if (!message.ok()) return message.status();
    messages.push_back(std::move(*message));
  }
}

// The first row of a SELECT of kColumns, or nullopt.
Result<std::optional<OutboundMessage>> FirstMessage(Statement& stmt) {
  Result<std::vector<OutboundMessage>> rows = CollectMessages(stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<OutboundMessage>();
  return std::optional<OutboundMessage>(std::move(rows->front()));
}

// The status of message `id`, for explaining why a transition did not apply.
Result<std::optional<std::string>> CurrentStatus(StatementCache& cache,
                                                 std::string_view context,
                                                 std::string_view id) {
  Result<Statement> stmt = Statement::Prepare(
      cache, context, "SELECT status FROM messages WHERE id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Text(0));
}

// Runs an UPDATE guarded by "WHERE id = ?1 AND status IN (...)". `bind` binds
// the other parameters. When no row changed, tells an unknown id (NotFound)
// from a message in another state (InvalidArgument).
template <typename BindFn>
Status UpdateMessage(StatementCache& cache, std::string_view context,
                     std::string_view id, std::string_view sql,
                     std::string_view expected, BindFn bind) {
  Result<Statement> stmt = Statement::Prepare(cache, context, sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  bind(*stmt);
  Status status = stmt->Run();
  if (!status.ok()) return status;
  if (sqlite3_changes(cache.db()) > 0) return Status::Ok();

  Result<std::optional<std::string>> current =
      CurrentStatus(cache, context, id);
  if (!current.ok()) return current.status();
  if (!current->has_value())
    return Status::NotFound("message " + std::string(id));
  return Status::InvalidArgument("message " + std::string(id) + " is " +
                                 **current + ", not " + std::string(expected));
}

// sent < delivered < read; 0 for statuses that are not provider progress.
int ProgressRank(MessageStatus status) {
  switch (status) {
    case MessageStatus::kSent:
      return 1;
    case MessageStatus::kDelivered:
      return 2;
    case MessageStatus::kRead:
      return 3;
    default:
      return 0;
  }
}

// Enqueue's write, inside the batch's transaction.
Status InsertNew(StatementCache& cache, std::string_view context,
                 const NewMessage& message, const std::string& request_hash,
                 int64_t now_ms, MessageQueue::EnqueueResult* result) {
  for (int attempt = 0; attempt < kMaxIdTries; ++attempt) {
    Result<std::string> id = NewMessageId(now_ms);
    if (!id.ok()) return id.status();
    // DO NOTHING on any uniqueness conflict: the idempotency key (the expected
    // case) or, with negligible probability, the random id. The SELECT below
    // tells them apart.
    Result<Statement> insert = Statement::Prepare(
        cache, context,
        "INSERT INTO messages (id, recipient, text, template_json, reply_to, "
        "idempotency_key, request_hash, type, content_json, status, attempts, "
        "next_attempt_ms, created_ms, updated_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?9, ?10, 'queued', 0, ?7, ?7, ?7) "
        "ON CONFLICT DO NOTHING");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, *id);
    insert->Bind(2, message.to);
    insert->Bind(3, message.text);
    insert->Bind(4, message.template_json);
    insert->Bind(5, message.reply_to);
    insert->Bind(6, message.idempotency_key);
    insert->Bind(7, now_ms);
    insert->Bind(8, request_hash);
    insert->Bind(9, message.type);
    insert->Bind(10, message.content_json);
    if (Status status = insert->Run(); !status.ok()) return status;

    if (sqlite3_changes(cache.db()) > 0) {
      *result = {std::move(*id), true, false};
      return Status::Ok();
    }
    Result<std::optional<MessageQueue::EnqueueResult>> earlier =
        FindByIdempotencyKey(cache, context, message, request_hash);
    if (!earlier.ok()) return earlier.status();
    if (earlier->has_value()) {
      *result = std::move(**earlier);
      return Status::Ok();
    }
    // The id collided; try another.
  }
  return Status::Internal(std::string(context) +
                          ": could not allocate a unique id");
}

// Restore's write.
Status InsertRestored(StatementCache& cache, std::string_view context,
                      const OutboundMessage& message, bool* inserted) {
  const MessageStatus status = message.status == MessageStatus::kSending
                                   ? MessageStatus::kQueued
                                   : message.status;
  Result<Statement> insert = Statement::Prepare(
      cache, context,
      "INSERT INTO messages (id, recipient, text, template_json, reply_to, "
      "idempotency_key, status, attempts, provider_id, error_code, "
      "error_message, error_retryable, next_attempt_ms, created_ms, "
      "updated_ms, type, content_json, provider_status) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18) ON CONFLICT DO NOTHING");
  if (!insert.ok()) return insert.status();
  insert->Bind(1, message.id);
  insert->Bind(2, message.to);
  insert->Bind(3, message.text);
  insert->Bind(4, message.template_json);
  insert->Bind(5, message.reply_to);
  insert->Bind(6, message.idempotency_key);
  insert->Bind(7, ToString(status));
  insert->Bind(8, int64_t{message.attempts});
  insert->Bind(9, message.provider_id);
  BindError(*insert, 10, message.error);
  insert->Bind(13, message.next_attempt_ms);
  insert->Bind(14, message.created_ms);
  insert->Bind(15, message.updated_ms);
  insert->Bind(16, message.type);
  insert->Bind(17, message.content_json);
  insert->Bind(18, message.provider_status);
  if (Status run = insert->Run(); !run.ok()) return run;
  *inserted = sqlite3_changes(cache.db()) > 0;
  return Status::Ok();
}

// RecordProviderStatus's write: the read and the conditional update run in
// the batch's transaction, so no other connection slips in between.
Status UpdateProviderStatus(StatementCache& cache, std::string_view context,
                            std::string_view provider_id, MessageStatus status,
                            const std::optional<ProviderError>& error,
                            int64_t now_ms, StatusChange* change) {
  Result<Statement> select = Statement::Prepare(
      cache, context, MessageQueue::ByProviderIdSql("seq, status, id"));
  if (!select.ok()) return select.status();
  select->Bind(1, provider_id);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row)
    return Status::NotFound("provider message " + std::string(provider_id));
  const int64_t seq = select->Int(0);
  const std::optional<MessageStatus> current =
      ParseMessageStatus(select->Text(1));
  if (!current)
    return Status::Internal("message seq " + std::to_string(seq) +
                            ": bad status");
  *change = {select->Text(2), *current, false};

  bool apply = false;
  if (status == MessageStatus::kFailed) {
    // A read message was delivered: a failure report for it is stale. Failed is
    // final.
    apply = *current == MessageStatus::kSent ||
            *current == MessageStatus::kDelivered;
  } else {
    apply = ProgressRank(*current) > 0 &&
            ProgressRank(status) > ProgressRank(*current);
  }
  if (!apply) return Status::Ok();

  Result<Statement> update = Statement::Prepare(
      cache, context,
      "UPDATE messages SET status = ?2, error_code = ?3, error_message = ?4, "
      "error_retryable = ?5, updated_ms = ?6 WHERE seq = ?1");
  if (!update.ok()) return update.status();
  update->Bind(1, seq);
  update->Bind(2, ToString(status));
  std::optional<ProviderError> kept;
  if (status == MessageStatus::kFailed) {
    kept = error.value_or(
        ProviderError{"provider_failed",
                      "the provider reported the message as failed", false});
  }
  BindError(*update, 3, kept);
  update->Bind(6, now_ms);
  if (Status run = update->Run(); !run.ok()) return run;
  change->status = status;
  change->changed = true;
  return Status::Ok();
}

}  // namespace

// --- Opening and closing ---

void MessageQueue::DbCloser::operator()(sqlite3* db) const {
  // close_v2 never leaves the handle open; used on error paths and by the
  // destructor.
  sqlite3_close_v2(db);
}

// One write waiting for, or in, a group commit. Lives on its caller's stack
// until `done`.
struct MessageQueue::Writer {
  std::string_view name;
  const WriteOp* op = nullptr;
  bool exclusive = false;
  // Set by the leader; read by the owner once `done` (under write_mu_).
  Status status;
  // This write's own error abandoned the batch's transaction: its answer is
  // final, it is not run again with the others.
  bool lost_transaction = false;
  bool done = false;  // guarded by write_mu_
  std::condition_variable cv;
  // Set for a write no caller waits for (EnqueueLater): the leader calls it
  // once `done`, outside write_mu_; it answers and frees the write.
  std::function<void()> finish;
};

MessageQueue::MessageQueue(
    DbPtr db, DbPtr read_db,
    std::unique_ptr<storage::WalCheckpointer> checkpointer, std::string path)
    : path_(std::move(path)),
      context_("message queue " + path_),
      db_(std::move(db)),
      cache_(std::make_unique<StatementCache>(db_.get())),
      checkpointer_(std::move(checkpointer)),
      read_db_(std::move(read_db)),
      read_cache_(std::make_unique<StatementCache>(read_db_.get())) {
  // Replaces SQLite's automatic checkpoint on this connection: a commit no
  // longer copies pages into the database file and fsyncs it.
  sqlite3_wal_hook(db_.get(), &MessageQueue::WalHook, this);
}

int MessageQueue::WalHook(void* self, sqlite3* db, const char* name,
                          int pages) {
  auto* queue = static_cast<MessageQueue*>(self);
  if (queue->checkpointer_) queue->checkpointer_->Notify(pages);
  // After a checkpoint of the thread: the few frames appended during it
  // (see WalCheckpointer::TakeFinished). Then the next batch rewinds the WAL.
  const bool finish =
      queue->checkpointer_ && queue->checkpointer_->TakeFinished();
  if (finish || pages >= kInlineCheckpointPages) {
    (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
                                    nullptr, nullptr);
  }
  return SQLITE_OK;
}

MessageQueue::~MessageQueue() {
  (void)Close();
  std::thread commit_thread;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    commit_stop_ = true;
    commit_thread = std::move(commit_thread_);
  }
  commit_cv_.notify_all();
  if (commit_thread.joinable()) commit_thread.join();
}

Result<std::unique_ptr<MessageQueue>> MessageQueue::Open(
    const std::string& path, const common::Logger* log) {
  const std::string context = "message queue " + path;
  // A zero-length file where a database lived (its WAL or shared-memory file,
  // or the marker written when the schema was first created, is still there)
  // was truncated by someone: opening it would silently start an empty queue.
  {
    struct stat st {};
    const bool existed =
        ::stat((path + kCreatedMarkerSuffix).c_str(), &st) == 0 ||
        ::stat((path + "-wal").c_str(), &st) == 0 ||
        ::stat((path + "-shm").c_str(), &st) == 0;
    if (existed && ::stat(path.c_str(), &st) == 0 && st.st_size == 0 &&
        log != nullptr) {
      log->Warn("queue-empty-file",
                {{"path", path},
                 {"",
                  "queue.db is zero-length but a database existed here; "
                  "starting with an empty queue (restore a backup if "
                  "messages are missing)"}});
    }
  }
  Result<sqlite3*> opened =
      // 1 MiB of page cache: the writer touches the tables' and indexes'
      // newest pages; older ones come from the OS's cache when needed.
      storage::OpenDurableDatabase(path, context, kBusyTimeoutMs, 1024);
  if (!opened.ok()) return opened.status();
  DbPtr db(*opened);

  // The version is read under the write lock, so two connections opening an
  // old file cannot both migrate it.
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(db.get(), context);
  if (!txn.ok()) return txn.status();
  Result<int64_t> read_version =
      storage::ReadSchemaVersion(db.get(), context, kSchemaVersion);
  if (!read_version.ok()) return read_version.status();
  const int64_t version = *read_version;
  Status status;
  if (version == 1) status = Exec(db.get(), context, kMigrateV1);
  if (status.ok() && (version == 1 || version == 2)) {
    status = Exec(db.get(), context, kMigrateV2);
  }
  if (status.ok()) status = Exec(db.get(), context, kSchema);
  if (status.ok()) {
    status = Exec(
        db.get(), context,
        ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  }
  // A message still `sending` was in flight when the previous worker died.
  // Whether the provider got it is unknown; sending it again is the one
  // duplicate SPEC §7 allows, losing it is not.
  if (status.ok()) {
    status =
        Exec(db.get(), context,
             "UPDATE messages SET status = 'queued' WHERE status = 'sending'");
  }
  if (status.ok()) status = (*txn)->Commit();
  if (!status.ok()) return status;
  if (version == 0) {
    // Marks "a database existed here" for the zero-length check above.
    if (Status marker = storage::EnsurePrivateFile(path + kCreatedMarkerSuffix);
        !marker.ok() && log != nullptr) {
      log->Warn("queue-marker-failed", {{"error", marker.message()}});
    }
  }

  // The readers' connection: opened once the file is a WAL database with its
  // schema (a read-only connection can neither create nor convert it).
  Result<sqlite3*> reader =
      storage::OpenReadOnlyDatabase(path, context, kBusyTimeoutMs);
  if (!reader.ok()) return reader.status();
  DbPtr read_db(*reader);
  // Its reads are index lookups and counts over pages the OS caches anyway:
  // a small page cache keeps the second connection from doubling the
  // worker's SQLite memory (the writer has 1 MiB).
  const std::string read_cache =
      "PRAGMA cache_size = -" + std::to_string(kReadCacheKib);
  if (Status status = Exec(read_db.get(), context, read_cache.c_str());
      !status.ok())
    return status;
  Result<std::unique_ptr<storage::WalCheckpointer>> checkpointer =
      storage::WalCheckpointer::Start(path, context, kCheckpointPages);
  if (!checkpointer.ok()) return checkpointer.status();

  return std::unique_ptr<MessageQueue>(new MessageQueue(
      std::move(db), std::move(read_db), std::move(*checkpointer), path));
}

Status MessageQueue::Closed() const {
  return Status::Unavailable("message queue " + path_ + ": closed");
}

Status MessageQueue::Close() {
  Status result;
  const WriteOp close = [&](StatementCache&) {
    result = CloseNow();
    return Status::Ok();
  };
  // As an exclusive write: it waits for the writes queued before it, and no
  // leader uses the connection while it closes.
  (void)Write("Close", close, /*exclusive=*/true);
  return result;
}

Status MessageQueue::CloseNow() {
  // The checkpointer's connection first: the final checkpoint below then
  // folds the whole WAL in.
  if (checkpointer_) {
    checkpointer_->Stop();
    checkpointer_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    read_cache_.reset();  // its statements first: then the close finds none
    read_db_.reset();
  }
  if (!db_) return Status::Ok();
  cache_.reset();
  // Fold the WAL back into the database so the file is self-contained. BUSY
  // (another connection is reading) only means the checkpoint is left to the
  // last connection to close.
  int rc = sqlite3_wal_checkpoint_v2(
      db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  Status status;
  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    status = SqlError(db_.get(), context_, "checkpoint");
  sqlite3* db = db_.release();
  // Every statement is finalized by its owner, so close cannot be busy;
  // close_v2 would hide a leak.
  if (sqlite3_close(db) != SQLITE_OK) {
    if (status.ok()) status = SqlError(db, context_, "close");
    sqlite3_close_v2(db);
  }
  return status;
}

// --- The group commit ---

Status MessageQueue::Write(std::string_view op_name, const WriteOp& op,
                           bool exclusive) {
  Writer self;
  self.name = op_name;
  self.op = &op;
  self.exclusive = exclusive;

  std::unique_lock<std::mutex> lock(write_mu_);
  writers_.push_back(&self);
  while (!self.done && (leading_ || &self != writers_.front()))
    self.cv.wait(lock);
  if (self.done) return std::move(self.status);
  Lead(lock, /*commit_thread=*/false);
  return std::move(self.status);
}

void MessageQueue::Lead(std::unique_lock<std::mutex>& lock,
                        bool commit_thread) {
  leading_ = true;
  std::vector<Writer*> batch;
  std::vector<std::function<void()>> finished;
  for (;;) {
    // Every write queued by now, up to an exclusive one (which runs alone)
    // or kMaxBatch.
    batch.clear();
    for (Writer* writer : writers_) {
      if (!batch.empty() && (writer->exclusive || batch.front()->exclusive))
        break;
      batch.push_back(writer);
      if (batch.size() == static_cast<size_t>(kMaxBatch)) break;
    }
    running_ = static_cast<int64_t>(batch.size());
    lock.unlock();

    // The others wait; new ones queue behind the batch meanwhile and form the
    // next one.
    WriteStats counts;
    RunBatch(batch, &counts);

    lock.lock();
    if (!batch.front()->exclusive) {
      write_stats_.commits += counts.commits;
      write_stats_.rerun += counts.rerun;
      write_stats_.writes += counts.writes;
      write_stats_.largest_batch =
          std::max(write_stats_.largest_batch, counts.writes);
    }
    running_ = 0;
    for (Writer* writer : batch) {
      writers_.pop_front();  // the batch is the front of the queue, in order
      writer->done = true;
      if (writer->finish) {
        finished.push_back(std::move(writer->finish));
      } else {
        writer->cv.notify_one();  // its owner returns (or already leads)
      }
    }
    if (!finished.empty()) {
      // Answered outside the lock; the next writes queue up meanwhile. Each
      // call frees its write.
      lock.unlock();
      for (auto& finish : finished) finish();
      finished.clear();
      lock.lock();
    }
    if (!commit_thread || writers_.empty() || !writers_.front()->finish) break;
  }
  leading_ = false;
  // The next leader: the commit thread for a write nobody waits for, else
  // the front write's caller.
  if (!writers_.empty()) {
    if (writers_.front()->finish) {
      commit_cv_.notify_one();
    } else {
      writers_.front()->cv.notify_one();
    }
  }
}

void MessageQueue::CommitLoop() {
  std::unique_lock<std::mutex> lock(write_mu_);
  for (;;) {
    commit_cv_.wait(lock, [&] {
      return commit_stop_ ||
             (!leading_ && !writers_.empty() && writers_.front()->finish);
    });
    if (!leading_ && !writers_.empty() && writers_.front()->finish) {
      Lead(lock, /*commit_thread=*/true);
    } else if (commit_stop_) {
      return;
    }
  }
}

void MessageQueue::EnqueueLater(NewMessage message, int64_t now_ms,
                                EnqueueDone done) {
  // The write and everything it needs, freed by its finish call. The
  // closures hold two pointers only (no allocation of their own).
  struct Pending {
    Writer writer;
    WriteOp op;
    NewMessage message;
    std::string request_hash;
    int64_t now_ms = 0;
    EnqueueResult result;
    EnqueueDone done;
  };
  auto* pending = new Pending;
  pending->request_hash =
      message.idempotency_key.empty() ? "" : RequestHash(message);
  pending->message = std::move(message);
  pending->now_ms = now_ms;
  pending->done = std::move(done);
  pending->op = [this, pending](StatementCache& cache) {
    return InsertNew(cache, context_, pending->message, pending->request_hash,
                     pending->now_ms, &pending->result);
  };
  pending->writer.name = "Enqueue";
  pending->writer.op = &pending->op;
  pending->writer.finish = [this, pending] {
    Status status = std::move(pending->writer.status);
    Track(status, true);
    Result<EnqueueResult> answer =
        status.ok() ? Result<EnqueueResult>(std::move(pending->result))
                    : Result<EnqueueResult>(status);
    EnqueueDone call = std::move(pending->done);
    delete pending;
    call(std::move(answer));
  };

  std::lock_guard<std::mutex> lock(write_mu_);
  if (!commit_thread_.joinable() && !commit_stop_) {
    commit_thread_ = std::thread([this] { CommitLoop(); });
  }
  writers_.push_back(&pending->writer);
  if (!leading_ && writers_.front() == &pending->writer) {
    commit_cv_.notify_one();
  }
}

void MessageQueue::RunBatch(const std::vector<Writer*>& batch,
                            WriteStats* counts) {
  if (!db_) {
    for (Writer* writer : batch) {
      writer->status = writer->exclusive ? Status::Ok() : Closed();
    }
    return;
  }
  if (batch.front()->exclusive) {
    batch.front()->status = (*batch.front()->op)(*cache_);
    return;
  }
  counts->writes = static_cast<int64_t>(batch.size());
  bool ran_any = false;
  Status lost = RunTransaction(batch, &ran_any, counts);
  if (lost.ok()) return;
  if (!ran_any || batch.size() == 1) {
    // Nothing ran (BEGIN failed: the database refused the whole batch), or
    // the one write's answer is this error.
    for (Writer* writer : batch) {
      if (!writer->lost_transaction) writer->status = lost;
    }
    return;
  }
  // The transaction was lost as a whole: run the others again, one
  // transaction each, so each gets its own answer. The write whose error
  // abandoned the transaction keeps that error.
  for (Writer* writer : batch) {
    if (writer->lost_transaction) continue;
    const std::vector<Writer*> one = {writer};
    bool ran = false;
    ++counts->rerun;
    Status alone = RunTransaction(one, &ran, counts);
    if (!alone.ok() && !writer->lost_transaction) writer->status = alone;
  }
}

Status MessageQueue::RunTransaction(const std::vector<Writer*>& batch,
                                    bool* ran_any, WriteStats* counts) {
  sqlite3* db = db_.get();
  StatementCache& cache = *cache_;
  *ran_any = false;
  // Makes sure nothing of a lost transaction stays open.
  auto abandon = [&](Status status) {
    if (sqlite3_get_autocommit(db) == 0)
      (void)Exec(cache, context_, "ROLLBACK");
    return status;
  };
  if (Status begin = Exec(cache, context_, "BEGIN IMMEDIATE"); !begin.ok()) {
    return abandon(begin);
  }
  for (Writer* writer : batch) {
    writer->lost_transaction = false;
    if (Status save = Exec(cache, context_, "SAVEPOINT w"); !save.ok()) {
      return abandon(save);
    }
    *ran_any = true;
    Status status = Fault(writer->name);
    if (status.ok()) status = (*writer->op)(cache);
    writer->status = status;
    if (status.ok()) {
      if (Status release = Exec(cache, context_, "RELEASE w"); !release.ok())
        return abandon(release);
      continue;
    }
    if (sqlite3_get_autocommit(db) != 0) {
      // SQLite rolled the whole transaction back at this error (SQLITE_FULL,
      // IOERR, a trigger's RAISE(ROLLBACK)…): the writes before it are gone.
      writer->lost_transaction = true;
      return status;
    }
    // Only this write is undone; the batch goes on.
    Status undo = Exec(cache, context_, "ROLLBACK TO w");
    if (undo.ok()) undo = Exec(cache, context_, "RELEASE w");
    if (!undo.ok()) {
      writer->lost_transaction = true;
      return abandon(undo);
    }
  }
  Status commit = Exec(cache, context_, "COMMIT");
  if (commit.ok()) ++counts->commits;
  return abandon(commit);
}

uint64_t MessageQueue::ReleaseMemory() {
  auto release = [](sqlite3* db) -> uint64_t {
    if (db == nullptr) return 0;
    int used = 0;
    int highwater = 0;
    (void)sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater,
                            0);
    (void)sqlite3_db_release_memory(db);
    return used > 0 ? static_cast<uint64_t>(used) : 0;
  };
  uint64_t bytes = 0;
  const WriteOp op = [&](StatementCache&) {
    bytes += release(db_.get());
    return Status::Ok();
  };
  (void)Write("ReleaseMemory", op, /*exclusive=*/true);
  std::lock_guard<std::mutex> lock(read_mu_);
  bytes += release(read_db_.get());
  return bytes;
}

WriteStats MessageQueue::write_stats() const {
  std::lock_guard<std::mutex> lock(write_mu_);
  WriteStats stats = write_stats_;
  stats.waiting = static_cast<int64_t>(writers_.size()) - running_;
  return stats;
}

// --- Health and the test seam ---

Status MessageQueue::Fault(std::string_view op) {
  std::function<Status(std::string_view)> fault;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    if (!fault_) return Status::Ok();
    fault = fault_;
  }
  // Called without the lock: a test fault may block (holding a batch).
  return fault(op);
}

void MessageQueue::Track(const Status& status, bool is_write) {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (status.ok() || status.code() != Status::Code::kIOError) {
    // The database answered (NotFound and InvalidArgument are answers). Only
    // a write proves it usable again: reads keep working on a full disk, and
    // an intact index answers Stats over a corrupt table page.
    if (is_write && !health_.permanent) health_ = {};
    return;
  }
  ++health_.failures;
  if (!health_.ok) {
    // Keep the first cause, but a damaged file is final whatever came first.
    if (storage::IsPermanentSqlFailure(status)) health_.permanent = true;
    return;
  }
  health_.ok = false;
  health_.error = status.message();
  health_.permanent = storage::IsPermanentSqlFailure(status);
}

MessageQueue::Health MessageQueue::health() const {
  std::lock_guard<std::mutex> lock(health_mu_);
  return health_;
}

void MessageQueue::SetFaultForTesting(
    std::function<Status(std::string_view op)> fault) {
  std::lock_guard<std::mutex> lock(health_mu_);
  fault_ = std::move(fault);
}

namespace {
template <typename T>
Status TrackedStatus(const Result<T>& result) {
  return result.status();
}
Status TrackedStatus(const Status& status) { return status; }
}  // namespace

template <typename Fn>
auto MessageQueue::Read(std::string_view op, Fn&& fn)
    -> decltype(fn(std::declval<StatementCache&>())) {
  using R = decltype(fn(std::declval<StatementCache&>()));
  if (Status fault = Fault(op); !fault.ok()) {
    Track(fault, false);
    return R(fault);
  }
  R result = [&]() -> R {
    std::lock_guard<std::mutex> lock(read_mu_);
    if (!read_db_) return R(Closed());
    return fn(*read_cache_);
  }();
  Track(TrackedStatus(result), false);
  return result;
}

template <typename Fn>
auto MessageQueue::BulkRead(std::string_view op, Fn&& fn)
    -> decltype(fn(std::declval<StatementCache&>())) {
  using R = decltype(fn(std::declval<StatementCache&>()));
  if (Status fault = Fault(op); !fault.ok()) {
    Track(fault, false);
    return R(fault);
  }
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    if (!read_db_) return R(Closed());
  }
  Result<sqlite3*> opened =
      storage::OpenReadOnlyDatabase(path_, context_, kBusyTimeoutMs);
  if (!opened.ok()) {
    Track(opened.status(), false);
    return R(opened.status());
  }
  DbPtr db(*opened);
  // Whole-table reads pass every page once: a small cache does as well.
  const std::string bulk_cache =
      "PRAGMA cache_size = -" + std::to_string(kBulkReadCacheKib);
  if (Status status = Exec(db.get(), context_, bulk_cache.c_str());
      !status.ok()) {
    Track(status, false);
    return R(status);
  }
  R result = [&]() -> R {
    StatementCache cache(db.get());  // finalized before the close below
    return fn(cache);
  }();
  Track(TrackedStatus(result), false);
  return result;
}

// --- Writes: each is a WriteOp run by the group commit (the fault runs
// there too); the caller records the outcome for health(). ---

Result<MessageQueue::EnqueueResult> MessageQueue::Enqueue(
    const NewMessage& message, int64_t now_ms) {
  const std::string request_hash =
      message.idempotency_key.empty() ? "" : RequestHash(message);
  EnqueueResult result;
  Status status = Write("Enqueue", [&](StatementCache& cache) {
    return InsertNew(cache, context_, message, request_hash, now_ms, &result);
  });
  Track(status, true);
  if (!status.ok()) return status;
  return result;
}

Result<bool> MessageQueue::Restore(const OutboundMessage& message) {
  if (message.id.empty())
    return Status::InvalidArgument("restore: message without an id");
  bool inserted = false;
  Status status = Write("Restore", [&](StatementCache& cache) {
    return InsertRestored(cache, context_, message, &inserted);
  });
  Track(status, true);
  if (!status.ok()) return status;
  return inserted;
}

Status MessageQueue::MarkSending(std::string_view id, int64_t now_ms) {
  Status status = Write("MarkSending", [&](StatementCache& cache) {
    return UpdateMessage(
        cache, context_, id,
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, "
        "updated_ms = ?2 WHERE id = ?1 AND status = 'queued'",
        "queued", [&](Statement& stmt) { stmt.Bind(2, now_ms); });
  });
  Track(status, true);
  return status;
}

Status MessageQueue::MarkSent(std::string_view id, std::string_view provider_id,
                              int64_t now_ms,
                              std::string_view provider_status) {
  Status status = Write("MarkSent", [&](StatementCache& cache) {
    return UpdateMessage(
        cache, context_, id,
        "UPDATE messages SET status = 'sent', provider_id = ?3, "
        "provider_status = ?4, error_code = NULL, error_message = NULL, "
        "error_retryable = NULL, updated_ms = ?2 "
        "WHERE id = ?1 AND status = 'sending'",
        "sending", [&](Statement& stmt) {
          stmt.Bind(2, now_ms);
          stmt.Bind(3, provider_id);
          stmt.Bind(4, provider_status);
        });
  });
  Track(status, true);
  return status;
}

Status MessageQueue::MarkRetry(std::string_view id, const ProviderError& error,
                               int64_t next_attempt_ms, int64_t now_ms) {
  Status status = Write("MarkRetry", [&](StatementCache& cache) {
    return UpdateMessage(
        cache, context_, id,
        "UPDATE messages SET status = 'queued', error_code = ?3, "
        "error_message = ?4, error_retryable = ?5, next_attempt_ms = ?6, "
        "updated_ms = ?2 WHERE id = ?1 AND status IN ('queued', 'sending')",
        "queued or sending", [&](Statement& stmt) {
          stmt.Bind(2, now_ms);
          BindError(stmt, 3, error);
          stmt.Bind(6, next_attempt_ms);
        });
  });
  Track(status, true);
  return status;
}

Status MessageQueue::MarkFailed(std::string_view id, const ProviderError& error,
                                int64_t now_ms) {
  Status status = Write("MarkFailed", [&](StatementCache& cache) {
    return UpdateMessage(
        cache, context_, id,
        "UPDATE messages SET status = 'failed', error_code = ?3, "
        "error_message = ?4, error_retryable = ?5, updated_ms = ?2 "
        "WHERE id = ?1 AND status IN ('queued', 'sending')",
        "queued or sending", [&](Statement& stmt) {
          stmt.Bind(2, now_ms);
          BindError(stmt, 3, error);
        });
  });
  Track(status, true);
  return status;
}

Result<StatusChange> MessageQueue::RecordProviderStatus(
    std::string_view provider_id, MessageStatus status,
    const std::optional<ProviderError>& error, int64_t now_ms) {
  if (ProgressRank(status) == 0 && status != MessageStatus::kFailed) {
    return Status::InvalidArgument(
        "provider status " + std::string(ToString(status)) +
        ": expected sent, delivered, read or failed");
  }
  StatusChange change;
  Status written = Write("RecordProviderStatus", [&](StatementCache& cache) {
    return UpdateProviderStatus(cache, context_, provider_id, status, error,
                                now_ms, &change);
  });
  Track(written, true);
  if (!written.ok()) return written;
  return change;
}

Status MessageQueue::ApplyProviderStatus(
    std::string_view provider_id, MessageStatus status,
    const std::optional<ProviderError>& error, int64_t now_ms) {
  return RecordProviderStatus(provider_id, status, error, now_ms).status();
}

Result<int64_t> MessageQueue::Prune(int64_t before_ms, int limit) {
  int64_t deleted = 0;
  Status status = Write("Prune", [&](StatementCache& cache) {
    Result<Statement> stmt = Statement::Prepare(
        cache, context_,
        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages "
        "WHERE status IN ('sent', 'delivered', 'read', 'failed') "
        "AND updated_ms < ?1 ORDER BY seq LIMIT ?2)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, before_ms);
    stmt->Bind(2, int64_t{limit < 0 ? 0 : limit});
    if (Status run = stmt->Run(); !run.ok()) return run;
    deleted = sqlite3_changes(cache.db());
    return Status::Ok();
  });
  Track(status, true);
  if (!status.ok()) return status;
  return deleted;
}

Status MessageQueue::Probe() {
  // A write that touches one small table: the write lock, a WAL append and
  // its fsync. The transaction changes nothing visible.
  Status status = Write("Probe", [&](StatementCache& cache) {
    return Exec(cache, context_,
                "INSERT OR REPLACE INTO probe (id, at) VALUES (1, "
                "strftime('%s', 'now'))");
  });
  Track(status, true);
  return status;
}

// --- Reads, on the read-only connection ---

Result<std::optional<OutboundMessage>> MessageQueue::Get(std::string_view id) {
  return Read(
      "Get",
      [&](StatementCache& cache) -> Result<std::optional<OutboundMessage>> {
        Result<Statement> stmt = Statement::Prepare(
            cache, context_,
            std::string("SELECT ") + kColumns + " FROM messages WHERE id = ?1");
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, id);
        return FirstMessage(*stmt);
      });
}

Result<std::optional<MessageQueue::EnqueueResult>> MessageQueue::FindRepeat(
    const NewMessage& message) {
  return Read(
      "FindRepeat",
      [&](StatementCache& cache) -> Result<std::optional<EnqueueResult>> {
        // The same comparison as Enqueue's, schema 1 and 2 rows included.
        return FindByIdempotencyKey(cache, context_, message,
                                    RequestHash(message));
      });
}

Result<std::optional<OutboundMessage>> MessageQueue::GetByProviderId(
    std::string_view provider_id) {
  return Read(
      "GetByProviderId",
      [&](StatementCache& cache) -> Result<std::optional<OutboundMessage>> {
        if (provider_id.empty()) return std::optional<OutboundMessage>();
        Result<Statement> stmt =
            Statement::Prepare(cache, context_, ByProviderIdSql(kColumns));
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, provider_id);
        return FirstMessage(*stmt);
      });
}

// The `<> ''` terms repeat the partial indexes' own: SQLite uses a partial
// index only when the query's WHERE implies the index's, and `= ?1` alone does
// not (?1 might be ''). Without them each lookup scanned the whole table: a
// delivery receipt for an old message read every row newer than it, inside
// the group commit.
std::string MessageQueue::ByProviderIdSql(std::string_view columns) {
  return "SELECT " + std::string(columns) +
         " FROM messages WHERE provider_id = ?1 AND provider_id <> ''"
         " ORDER BY seq DESC LIMIT 1";
}

std::string MessageQueue::ByIdempotencyKeySql() {
  return "SELECT id, request_hash FROM messages"
         " WHERE idempotency_key = ?1 AND idempotency_key <> ''";
}

std::string MessageQueue::NextDueSql() {
  // INDEXED BY: the planner prefers messages_due (an equality on status) and
  // then sorts every queued row by seq.
  // The IN term repeats the partial index's own: SQLite uses a partial
  // index only for a query that has its WHERE term as written.
  return std::string("SELECT ") + kColumns +
         " FROM messages INDEXED BY messages_pending_seq"
         " WHERE status IN ('queued', 'sending') AND status = 'queued'"
         " AND (next_attempt_ms <= ?1 OR next_attempt_ms <= created_ms)"
         " AND" +
         kIsHead + " ORDER BY seq LIMIT 1";
}

Result<std::optional<OutboundMessage>> MessageQueue::NextDue(int64_t now_ms) {
  return Read(
      "NextDue",
      [&](StatementCache& cache) -> Result<std::optional<OutboundMessage>> {
        Result<Statement> stmt =
            Statement::Prepare(cache, context_, NextDueSql());
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, now_ms);
        return FirstMessage(*stmt);
      });
}

Result<QueueStats> MessageQueue::Stats() {
  return Read("Stats", [&](StatementCache& cache) -> Result<QueueStats> {
    // Each sub-select is a range of the messages_due index (status leads it),
    // so the cost follows the unfinished and failed messages, never the days
    // of finished history kept for GET /api/messages/{id}.
    Result<Statement> counts = Statement::Prepare(cache, context_, R"sql(
SELECT
  (SELECT COUNT(*) FROM messages WHERE status = 'queued'),
  (SELECT COUNT(*) FROM messages WHERE status = 'sending'),
  (SELECT COUNT(*) FROM messages WHERE status = 'failed'),
  (SELECT MIN(next_attempt_ms) FROM messages WHERE status = 'queued' AND
)sql" + std::string(kIsHead) + ")");
    if (!counts.ok()) return counts.status();
    Result<bool> row = counts->Step();
    if (!row.ok()) return row.status();
    QueueStats stats;
    if (*row) {
      stats.in_flight = counts->Int(1);
      stats.depth = counts->Int(0) + stats.in_flight;
      stats.dead_letters = counts->Int(2);
      if (!counts->IsNull(3)) stats.next_attempt_ms = counts->Int(3);
    }
    return stats;
  });
}

Result<std::vector<OutboundMessage>> MessageQueue::Pending() {
  std::vector<OutboundMessage> messages;
  Status status = ForEachPending([&](OutboundMessage&& message) {
    messages.push_back(std::move(message));
    return true;
  });
  if (!status.ok()) return status;
  return messages;
}

Status MessageQueue::ForEachPending(
    const std::function<bool(OutboundMessage&&)>& visit) {
  return BulkRead("Pending", [&](StatementCache& cache) -> Status {
    Result<Statement> stmt = Statement::Prepare(
        cache, context_,
        std::string("SELECT ") + kColumns +
            " FROM messages INDEXED BY messages_pending_seq"
            " WHERE status IN ('queued', 'sending') ORDER BY seq");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      Result<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      Result<OutboundMessage> message = ReadMessage(*stmt);
      if (!message.ok()) return message.status();
      if (!visit(std::move(*message))) return Status::Ok();
    }
  });
}

Result<std::vector<OutboundMessage>> MessageQueue::AwaitingStatus(
    int64_t since_ms, int limit) {
  return BulkRead(
      "AwaitingStatus",
      [&](StatementCache& cache) -> Result<std::vector<OutboundMessage>> {
        Result<Statement> stmt = Statement::Prepare(
            cache, context_,
            std::string("SELECT ") + kColumns +
                " FROM messages WHERE status IN ('sent', 'delivered') AND "
                "provider_id IS NOT NULL AND provider_id != '' AND "
                "updated_ms >= ?1 ORDER BY seq DESC LIMIT ?2");
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, since_ms);
        stmt->Bind(2, int64_t{limit < 0 ? 0 : limit});
        auto messages = CollectMessages(*stmt);
        if (messages.ok()) std::reverse(messages->begin(), messages->end());
        return messages;
      });
}

Result<std::vector<OutboundMessage>> MessageQueue::DeadLetters(int limit) {
  return Read(
      "DeadLetters",
      [&](StatementCache& cache) -> Result<std::vector<OutboundMessage>> {
        Result<Statement> stmt = Statement::Prepare(
            cache, context_,
            std::string("SELECT ") + kColumns +
                " FROM messages WHERE status = 'failed' ORDER BY seq DESC "
                "LIMIT ?1");
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, int64_t{limit < 0 ? 0 : limit});
        return CollectMessages(*stmt);
      });
}

Result<std::vector<ChatEntry>> MessageQueue::RecentTo(
    std::string_view recipient, size_t limit) {
  return Read(
      "RecentTo", [&](StatementCache& cache) -> Result<std::vector<ChatEntry>> {
        Result<Statement> stmt = Statement::Prepare(
            cache, context_,
            "SELECT id, type, template_json, text, status, created_ms "
            "FROM messages WHERE recipient = ?1 ORDER BY seq DESC LIMIT ?2");
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, recipient);
        stmt->Bind(2, static_cast<int64_t>(limit));
        std::vector<ChatEntry> entries;
        for (;;) {
          Result<bool> row = stmt->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          ChatEntry e;
          e.id = stmt->Text(0);
          e.wa_id = std::string(recipient);
          e.outbound = true;
          e.type = std::string(EffectiveType(stmt->Text(1), stmt->Text(2)));
          e.text = stmt->Text(3);
          e.status = stmt->Text(4);
          e.timestamp_ms = stmt->Int(5);
          entries.push_back(std::move(e));
        }
        std::reverse(entries.begin(), entries.end());  // oldest first
        return entries;
      });
}

}  // namespace dynoguard::worker
