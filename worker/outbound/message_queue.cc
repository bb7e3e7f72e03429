#include "worker/outbound/message_queue.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "worker/storage/private_files.h"
#include "worker/storage/sqlite.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;
using storage::Exec;
using storage::SqlError;
using storage::Statement;
using storage::Transaction;

namespace {

// Bumped with every schema change; Open refuses a file written by a newer
// worker.
// 1: the first schema. 2: messages.request_hash (idempotency conflicts) and
// the messages_recipient_pending index (per-recipient order).
constexpr int kSchemaVersion = 2;

// How long a writer waits for another connection's write lock before giving up.
constexpr int kBusyTimeoutMs = 5000;

// Random ids collide with probability ~2^-96; a few tries make that case a
// non-issue.
constexpr int kMaxIdTries = 4;

// Beside the database: written once the schema was first created, so a
// zero-length database file is known to have been a database.
constexpr const char* kCreatedMarkerSuffix = "-created";

// `recipient`, not `to`: TO is an SQL keyword. The unique partial index makes
// idempotency keys a database invariant, so concurrent writers (threads or
// processes) cannot both insert one key. messages_due serves NextDue and the
// MIN() in Stats; messages_provider the status callbacks.
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
  updated_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
  ON messages (idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX IF NOT EXISTS messages_due ON messages (status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS messages_provider
  ON messages (provider_id) WHERE provider_id <> '';
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER);
CREATE INDEX IF NOT EXISTS messages_recipient_pending
  ON messages (recipient, seq) WHERE status IN ('queued', 'sending');
)sql";

// Schema 1 → 2: rows written before have request_hash '' (unknown body), so
// their keys keep answering the original id whatever the body.
constexpr const char* kMigrateV1 =
    "ALTER TABLE messages ADD COLUMN request_hash TEXT NOT NULL DEFAULT ''";

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
    "attempts, "
    "provider_id, error_code, error_message, error_retryable, next_attempt_ms, "
    "created_ms, "
    "updated_ms";

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

// 96 random bits from the kernel's CSPRNG (getrandom(2) blocks only before
// the pool is first seeded at boot). Not OpenSSL's DRBG: its first use
// initialises ~1.6 MB of libcrypto the sandbox otherwise never touches.
Result<std::string> NewId() {
  std::array<unsigned char, 12> bytes;
  size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Internal(std::string("message id: getrandom: ") +
                              std::strerror(errno));
    }
    filled += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "msg_";
  for (unsigned char byte : bytes) {
    id += kHex[byte >> 4];
    id += kHex[byte & 0xf];
  }
  return id;
}

}  // namespace

std::string RequestHash(const NewMessage& message) {
  // Length-prefixed fields: no two different requests share an encoding.
  std::string canonical;
  for (const std::string* field : {&message.to, &message.text,
                                   &message.template_json, &message.reply_to}) {
    canonical += std::to_string(field->size());
    canonical += ':';
    canonical += *field;
    canonical += ';';
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(canonical.data(), canonical.size(), digest, &length,
                 EVP_sha256(), nullptr) != 1) {
    // Not expected; the canonical form itself still detects a different body.
    return "raw:" + canonical;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
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

// The status of message `id`, for explaining why a transition did not apply.
Result<std::optional<std::string>> CurrentStatus(sqlite3* db,
                                                 std::string_view context,
                                                 std::string_view id) {
  Result<Statement> stmt = Statement::Prepare(
      db, context, "SELECT status FROM messages WHERE id = ?1");
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
Status UpdateMessage(sqlite3* db, std::string_view context, std::string_view id,
                     std::string_view sql, std::string_view expected,
                     BindFn bind) {
  Result<Statement> stmt = Statement::Prepare(db, context, sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  bind(*stmt);
  Status status = stmt->Run();
  if (!status.ok()) return status;
  if (sqlite3_changes(db) > 0) return Status::Ok();

  Result<std::optional<std::string>> current = CurrentStatus(db, context, id);
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

}  // namespace

void MessageQueue::DbCloser::operator()(sqlite3* db) const {
  // close_v2 never leaves the handle open; used on error paths and by the
  // destructor.
  sqlite3_close_v2(db);
}

MessageQueue::MessageQueue(DbPtr db, std::string path)
    : path_(std::move(path)),
      context_("message queue " + path_),
      db_(std::move(db)) {}

MessageQueue::~MessageQueue() { (void)Close(); }

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
      storage::OpenPrivateDatabase(path, context, kBusyTimeoutMs);
  if (!opened.ok()) return opened.status();
  DbPtr db(*opened);

  // WAL: readers do not block the writer and a commit is one append + fsync.
  // FULL: that fsync happens at every commit, so "committed" survives power
  // loss, not only a killed process.
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"}) {
    Status status = Exec(db.get(), context, pragma);
    if (!status.ok()) return status;
  }

  // The version is read under the write lock, so two connections opening an
  // old file cannot both migrate it.
  Result<std::unique_ptr<Transaction>> txn =
      Transaction::Begin(db.get(), context);
  if (!txn.ok()) return txn.status();
  int64_t version = 0;
  {
    Result<Statement> stmt =
        Statement::Prepare(db.get(), context, "PRAGMA user_version");
    if (!stmt.ok()) return stmt.status();
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) version = stmt->Int(0);
  }
  if (version > kSchemaVersion) {
    return Status::InvalidArgument(
        "message queue " + path + ": schema version " +
        std::to_string(version) + " is newer than this worker's " +
        std::to_string(kSchemaVersion));
  }
  Status status;
  if (version == 1) status = Exec(db.get(), context, kMigrateV1);
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

  return std::unique_ptr<MessageQueue>(new MessageQueue(std::move(db), path));
}

Result<sqlite3*> MessageQueue::Db() const {
  if (!db_) return Status::Unavailable("message queue " + path_ + ": closed");
  return db_.get();
}

Result<MessageQueue::EnqueueResult> MessageQueue::EnqueueImpl(
    const NewMessage& message, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  const std::string request_hash =
      message.idempotency_key.empty() ? "" : RequestHash(message);

  for (int attempt = 0; attempt < kMaxIdTries; ++attempt) {
    Result<std::string> id = NewId();
    if (!id.ok()) return id.status();

    Result<std::unique_ptr<Transaction>> txn =
        Transaction::Begin(*db, context_);
    if (!txn.ok()) return txn.status();
    // DO NOTHING on any uniqueness conflict: the idempotency key (the expected
    // case) or, with negligible probability, the random id. The SELECT below
    // tells them apart.
    Result<Statement> insert = Statement::Prepare(
        *db, context_,
        "INSERT INTO messages (id, recipient, text, template_json, reply_to, "
        "idempotency_key, request_hash, "
        "status, attempts, next_attempt_ms, created_ms, updated_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, 'queued', 0, ?7, ?7, ?7) ON "
        "CONFLICT DO NOTHING");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, *id);
    insert->Bind(2, message.to);
    insert->Bind(3, message.text);
    insert->Bind(4, message.template_json);
    insert->Bind(5, message.reply_to);
    insert->Bind(6, message.idempotency_key);
    insert->Bind(7, now_ms);
    insert->Bind(8, request_hash);
    Status status = insert->Run();
    if (!status.ok()) return status;

    if (sqlite3_changes(*db) > 0) {
      status = (*txn)->Commit();
      if (!status.ok()) return status;
      return EnqueueResult{std::move(*id), true};
    }
    if (!message.idempotency_key.empty()) {
      Result<Statement> select = Statement::Prepare(
          *db, context_,
          "SELECT id, request_hash FROM messages WHERE idempotency_key = ?1");
      if (!select.ok()) return select.status();
      select->Bind(1, message.idempotency_key);
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        // Nothing written: the transaction rolls back. A stored hash of ''
        // is a message from schema 1, whose body is unknown: not a conflict.
        const std::string stored_hash = select->Text(1);
        const bool conflict =
            !stored_hash.empty() && stored_hash != request_hash;
        return EnqueueResult{select->Text(0), false, conflict};
      }
    }
    // The id collided; try another.
  }
  return Status::Internal("message queue " + path_ +
                          ": could not allocate a unique id");
}

Result<std::optional<MessageQueue::EnqueueResult>> MessageQueue::FindRepeatImpl(
    const NewMessage& message) {
  if (message.idempotency_key.empty()) return std::optional<EnqueueResult>();
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> select = Statement::Prepare(
      *db, context_,
      "SELECT id, request_hash FROM messages WHERE idempotency_key = ?1");
  if (!select.ok()) return select.status();
  select->Bind(1, message.idempotency_key);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<EnqueueResult>();
  // As in EnqueueImpl: a stored hash of '' (schema 1) never conflicts.
  const std::string stored_hash = select->Text(1);
  const bool conflict =
      !stored_hash.empty() && stored_hash != RequestHash(message);
  return std::optional<EnqueueResult>(
      EnqueueResult{select->Text(0), false, conflict});
}

Result<bool> MessageQueue::RestoreImpl(const OutboundMessage& message) {
  if (message.id.empty())
    return Status::InvalidArgument("restore: message without an id");
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();

  MessageStatus status = message.status == MessageStatus::kSending
                             ? MessageStatus::kQueued
                             : message.status;
  Result<Statement> insert =
      Statement::Prepare(*db, context_,
                         "INSERT INTO messages (id, recipient, text, "
                         "template_json, reply_to, idempotency_key, "
                         "status, attempts, provider_id, error_code, "
                         "error_message, error_retryable, "
                         "next_attempt_ms, created_ms, updated_ms) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                         "?11, ?12, ?13, ?14, ?15) "
                         "ON CONFLICT DO NOTHING");
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
  Status run = insert->Run();
  if (!run.ok()) return run;
  return sqlite3_changes(*db) > 0;
}

Result<std::optional<OutboundMessage>> MessageQueue::GetImpl(
    std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> stmt = Statement::Prepare(
      *db, context_,
      std::string("SELECT ") + kColumns + " FROM messages WHERE id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  Result<std::vector<OutboundMessage>> rows = CollectMessages(*stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<OutboundMessage>();
  return std::optional<OutboundMessage>(std::move(rows->front()));
}

Result<std::optional<OutboundMessage>> MessageQueue::NextDueImpl(
    int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> stmt = Statement::Prepare(
      *db, context_,
      std::string("SELECT ") + kColumns +
          " FROM messages WHERE status = 'queued'"
          " AND (next_attempt_ms <= ?1 OR next_attempt_ms <= created_ms) AND" +
          kIsHead + " ORDER BY seq LIMIT 1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, now_ms);
  Result<std::vector<OutboundMessage>> rows = CollectMessages(*stmt);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<OutboundMessage>();
  return std::optional<OutboundMessage>(std::move(rows->front()));
}

Status MessageQueue::MarkSendingImpl(std::string_view id, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  return UpdateMessage(
      *db, context_, id,
      "UPDATE messages SET status = 'sending', attempts = attempts + 1, "
      "updated_ms = ?2 WHERE id = ?1 AND status = 'queued'",
      "queued", [&](Statement& stmt) { stmt.Bind(2, now_ms); });
}

Status MessageQueue::MarkSentImpl(std::string_view id,
                                  std::string_view provider_id,
                                  int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  return UpdateMessage(
      *db, context_, id,
      "UPDATE messages SET status = 'sent', provider_id = ?3, "
      "error_code = NULL, error_message = NULL, error_retryable = NULL, "
      "updated_ms = ?2 WHERE id = ?1 AND status = 'sending'",
      "sending", [&](Statement& stmt) {
        stmt.Bind(2, now_ms);
        stmt.Bind(3, provider_id);
      });
}

Status MessageQueue::MarkRetryImpl(std::string_view id,
                                   const ProviderError& error,
                                   int64_t next_attempt_ms, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  return UpdateMessage(
      *db, context_, id,
      "UPDATE messages SET status = 'queued', error_code = ?3, "
      "error_message = ?4, error_retryable = ?5, next_attempt_ms = ?6, "
      "updated_ms = ?2 WHERE id = ?1 AND status IN ('queued', 'sending')",
      "queued or sending", [&](Statement& stmt) {
        stmt.Bind(2, now_ms);
        BindError(stmt, 3, error);
        stmt.Bind(6, next_attempt_ms);
      });
}

Status MessageQueue::MarkFailedImpl(std::string_view id,
                                    const ProviderError& error,
                                    int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  return UpdateMessage(
      *db, context_, id,
      "UPDATE messages SET status = 'failed', error_code = ?3, "
      "error_message = ?4, error_retryable = ?5, updated_ms = ?2 "
      "WHERE id = ?1 AND status IN ('queued', 'sending')",
      "queued or sending", [&](Statement& stmt) {
        stmt.Bind(2, now_ms);
        BindError(stmt, 3, error);
      });
}

Status MessageQueue::ApplyProviderStatusImpl(
    std::string_view provider_id, MessageStatus status,
    const std::optional<ProviderError>& error, int64_t now_ms) {
  if (ProgressRank(status) == 0 && status != MessageStatus::kFailed) {
    return Status::InvalidArgument(
        "provider status " + std::string(ToString(status)) +
        ": expected sent, delivered, read or failed");
  }
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();

  // Read and conditional write in one transaction: another connection cannot
  // slip in between.
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(*db, context_);
  if (!txn.ok()) return txn.status();
  Result<Statement> select =
      Statement::Prepare(*db, context_,
                         "SELECT seq, status FROM messages WHERE provider_id = "
                         "?1 ORDER BY seq DESC LIMIT 1");
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
  if (!apply) return Status::Ok();  // rolls back the (empty) transaction

  Result<Statement> update = Statement::Prepare(
      *db, context_,
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
  Status run = update->Run();
  if (!run.ok()) return run;
  return (*txn)->Commit();
}

Result<QueueStats> MessageQueue::StatsImpl() {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();

  // Each sub-select is a range of the messages_due index (status leads it),
  // so the cost follows the unfinished and failed messages, never the days
  // of finished history kept for GET /api/messages/{id}.
  Result<Statement> counts = Statement::Prepare(*db, context_, R"sql(
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
}

Result<std::vector<OutboundMessage>> MessageQueue::PendingImpl() {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> stmt = Statement::Prepare(
      *db, context_,
      std::string("SELECT ") + kColumns +
          " FROM messages WHERE status IN ('queued', 'sending') ORDER BY seq");
  if (!stmt.ok()) return stmt.status();
  return CollectMessages(*stmt);
}

Result<std::vector<OutboundMessage>> MessageQueue::DeadLettersImpl(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> stmt = Statement::Prepare(
      *db, context_,
      std::string("SELECT ") + kColumns +
          " FROM messages WHERE status = 'failed' ORDER BY seq DESC LIMIT ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, int64_t{limit < 0 ? 0 : limit});
  return CollectMessages(*stmt);
}

Result<int64_t> MessageQueue::PruneImpl(int64_t before_ms, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  Result<Statement> stmt = Statement::Prepare(
      *db, context_,
      "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages "
      "WHERE status IN ('sent', 'delivered', 'read', 'failed') AND updated_ms "
      "< ?1 "
      "ORDER BY seq LIMIT ?2)");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, before_ms);
  stmt->Bind(2, int64_t{limit < 0 ? 0 : limit});
  Status status = stmt->Run();
  if (!status.ok()) return status;
  return static_cast<int64_t>(sqlite3_changes(*db));
}

// --- Public methods: the optional test fault, then the work, then the
// outcome recorded for health(). ---

Status MessageQueue::Fault(std::string_view op) {
  std::lock_guard<std::mutex> lock(health_mu_);
  return fault_ ? fault_(op) : Status::Ok();
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

#define DG_QUEUE_OP(op, is_write, call)          \
  do {                                           \
    if (Status fault = Fault(op); !fault.ok()) { \
      Track(fault, is_write);                    \
      return fault;                              \
    }                                            \
    auto result = call;                          \
    Track(TrackedStatus(result), is_write);      \
    return result;                               \
  } while (false)

namespace {
const Status& TrackedStatus(const Status& status) { return status; }
template <typename T>
Status TrackedStatus(const Result<T>& result) {
  return result.status();
}
}  // namespace

Result<MessageQueue::EnqueueResult> MessageQueue::Enqueue(
    const NewMessage& message, int64_t now_ms) {
  DG_QUEUE_OP("Enqueue", true, EnqueueImpl(message, now_ms));
}
Result<std::optional<MessageQueue::EnqueueResult>> MessageQueue::FindRepeat(
    const NewMessage& message) {
  DG_QUEUE_OP("FindRepeat", false, FindRepeatImpl(message));
}
Result<bool> MessageQueue::Restore(const OutboundMessage& message) {
  DG_QUEUE_OP("Restore", true, RestoreImpl(message));
}
Result<std::optional<OutboundMessage>> MessageQueue::Get(std::string_view id) {
  DG_QUEUE_OP("Get", false, GetImpl(id));
}
Result<std::optional<OutboundMessage>> MessageQueue::NextDue(int64_t now_ms) {
  DG_QUEUE_OP("NextDue", false, NextDueImpl(now_ms));
}
Status MessageQueue::MarkSending(std::string_view id, int64_t now_ms) {
  DG_QUEUE_OP("MarkSending", true, MarkSendingImpl(id, now_ms));
}
Status MessageQueue::MarkSent(std::string_view id, std::string_view provider_id,
                              int64_t now_ms) {
  DG_QUEUE_OP("MarkSent", true, MarkSentImpl(id, provider_id, now_ms));
}
Status MessageQueue::MarkRetry(std::string_view id, const ProviderError& error,
                               int64_t next_attempt_ms, int64_t now_ms) {
  DG_QUEUE_OP("MarkRetry", true,
              MarkRetryImpl(id, error, next_attempt_ms, now_ms));
}
Status MessageQueue::MarkFailed(std::string_view id, const ProviderError& error,
                                int64_t now_ms) {
  DG_QUEUE_OP("MarkFailed", true, MarkFailedImpl(id, error, now_ms));
}
Status MessageQueue::ApplyProviderStatus(
    std::string_view provider_id, MessageStatus status,
    const std::optional<ProviderError>& error, int64_t now_ms) {
  DG_QUEUE_OP("ApplyProviderStatus", true,
              ApplyProviderStatusImpl(provider_id, status, error, now_ms));
}
Result<QueueStats> MessageQueue::Stats() {
  DG_QUEUE_OP("Stats", false, StatsImpl());
}
Result<std::vector<OutboundMessage>> MessageQueue::Pending() {
  DG_QUEUE_OP("Pending", false, PendingImpl());
}
Result<std::vector<OutboundMessage>> MessageQueue::DeadLetters(int limit) {
  DG_QUEUE_OP("DeadLetters", false, DeadLettersImpl(limit));
}
Result<int64_t> MessageQueue::Prune(int64_t before_ms, int limit) {
  DG_QUEUE_OP("Prune", true, PruneImpl(before_ms, limit));
}

Status MessageQueue::Probe() { DG_QUEUE_OP("Probe", true, ProbeImpl()); }

#undef DG_QUEUE_OP

Status MessageQueue::ProbeImpl() {
  std::lock_guard<std::mutex> lock(mu_);
  Result<sqlite3*> db = Db();
  if (!db.ok()) return db.status();
  // A write that touches one small table: the write lock, a WAL append and
  // its fsync. The transaction changes nothing visible.
  Result<std::unique_ptr<Transaction>> txn = Transaction::Begin(*db, context_);
  if (!txn.ok()) return txn.status();
  if (Status status = Exec(*db, context_,
                           "INSERT OR REPLACE INTO probe (id, at) VALUES (1, "
                           "strftime('%s', 'now'))");
      !status.ok())
    return status;
  return (*txn)->Commit();
}

Status MessageQueue::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!db_) return Status::Ok();
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

}  // namespace dynoguard::worker
