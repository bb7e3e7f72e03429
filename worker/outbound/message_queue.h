// MessageQueue: the worker's durable outbound message queue, one SQLite
// database in DATA_DIR. A message is committed (WAL, synchronous=FULL) before
// POST /api/messages answers 202, so it survives SIGKILL and restarts (SPEC
// §7); ids and idempotency keys make a repeated request a no-op.
#ifndef DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_
#define DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/model/outbound_message.h"

struct sqlite3;

namespace dynoguard::worker {

struct QueueStats {
  int64_t depth = 0;         // queued + sending
  int64_t in_flight = 0;     // sending
  int64_t dead_letters = 0;  // failed (ours or the provider's)
  std::optional<int64_t>
      next_attempt_ms;  // earliest next_attempt_ms among queued messages that
                        // head their recipient's line (see NextDue)
};

// Thread-safe: one SQLite connection guarded by a mutex. Several MessageQueue
// objects (even in several processes) may open the same file; writes take
// SQLite's write lock (busy timeout 5 s).
//
// Lifecycle of a message: Enqueue → queued; NextDue picks it; MarkSending →
// sending; then MarkSent → sent, MarkRetry → queued again (later), or
// MarkFailed → failed (dead letter). ApplyProviderStatus then moves a sent
// message to delivered / read / failed.
//
// Every method returns a non-OK status once Close() has been called. Times are
// milliseconds since the epoch, supplied by the caller.
class MessageQueue {
 public:
  // Opens or creates the database at `path` (the directory must exist), with
  // journal_mode=WAL, synchronous=FULL and a busy timeout, and creates the
  // schema. Messages left in `sending` (the worker died mid-send) go back to
  // `queued`, so they are sent again: the one duplicate SPEC §7 allows. Errors:
  // IOError naming `path` and SQLite's message.
  //
  // The file and its -wal/-shm are 0600 whatever the umask (older 0644 files
  // are tightened). A zero-length file where a database existed (its -wal,
  // -shm or the "-created" marker written beside it is present) is logged to
  // `log` (when given) as a warning "queue-empty-file" and opened as a new,
  // empty queue.
  static common::Result<std::unique_ptr<MessageQueue>> Open(
      const std::string& path, const common::Logger* log = nullptr);

  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;
  // Closes like Close(), ignoring errors.
  ~MessageQueue();

  struct EnqueueResult {
    std::string id;
    bool created = false;  // false: the idempotency key was already known;
                           // nothing inserted
    // With created=false: the key belongs to a request with another body
    // (recipient, text, template or replyTo differ). `id` is that message's.
    // The HTTP API answers 422 conflict naming idempotencyKey.
    bool conflict = false;
  };
  // Inserts `message` as queued, due at `now_ms`. Durable (committed) when it
  // returns OK. A non-empty idempotency_key that an existing message already
  // has → that message's id, created=false, nothing inserted (race-free, also
  // across connections); conflict=true when that message was enqueued with a
  // different body (compared by RequestHash, stored with the key; messages
  // from schema 1 have no hash and never conflict). Ids are "msg_" + 24
  // lowercase hex from OpenSSL's CSPRNG.
  common::Result<EnqueueResult> Enqueue(const NewMessage& message,
                                        int64_t now_ms);

  // What Enqueue would answer for `message` when its idempotency key is
  // already known — that message's id, created=false, conflict as above —
  // without inserting anything; nullopt when the key is empty or unknown. A
  // read: the HTTP API answers a repeat it would now refuse (the 24-hour
  // rule) with the original message.
  common::Result<std::optional<EnqueueResult>> FindRepeat(
      const NewMessage& message);

  // Re-inserts a message from a session snapshot (a dyno restart lost the local
  // disk) with its original id, timestamps and attempts; `sending` comes back
  // as `queued`. Returns false and inserts nothing when its id or idempotency
  // key is already present. REQUIRES: message.id is non-empty.
  common::Result<bool> Restore(const OutboundMessage& message);

  // The message with this id, or nullopt.
  common::Result<std::optional<OutboundMessage>> Get(std::string_view id);

  // The oldest (by insertion order) queued message that is due (never tried,
  // or next_attempt_ms <= now_ms: a wall clock stepped back since it was
  // enqueued does not hold a new message) and the head of its recipient's line
  // (no older message to the same recipient is queued or sending), or nullopt.
  // A message waiting for a retry thus holds the later ones to its recipient;
  // others go on.
  common::Result<std::optional<OutboundMessage>> NextDue(int64_t now_ms);

  // queued → sending, attempts += 1. NotFound for an unknown id;
  // InvalidArgument when the message is not queued (someone else is sending it,
  // or it is done).
  common::Status MarkSending(std::string_view id, int64_t now_ms);
  // sending → sent with the provider's id; clears the error. NotFound /
  // InvalidArgument as above (the message must be sending).
  common::Status MarkSent(std::string_view id, std::string_view provider_id,
                          int64_t now_ms);
  // sending (or queued) → queued, not due before `next_attempt_ms`, keeping
  // `error` as the last failure. NotFound / InvalidArgument as above.
  common::Status MarkRetry(std::string_view id, const ProviderError& error,
                           int64_t next_attempt_ms, int64_t now_ms);
  // sending (or queued) → failed: a dead letter with `error`. NotFound /
  // InvalidArgument as above.
  common::Status MarkFailed(std::string_view id, const ProviderError& error,
                            int64_t now_ms);

  // A provider status callback for the message the provider knows as
  // `provider_id`. `status` is sent, delivered, read or failed (else
  // InvalidArgument). Statuses only move forward: sent < delivered < read, and
  // a late or repeated one is ignored (OK, nothing changes). "failed" applies
  // to a sent or delivered message and is kept with `error` (a generic
  // non-retryable error when none is given); nothing moves a failed message.
  // Meta delivers callbacks at least once and unordered, so ignoring is the
  // normal case, not an error. Unknown provider id → NotFound.
  common::Status ApplyProviderStatus(std::string_view provider_id,
                                     MessageStatus status,
                                     const std::optional<ProviderError>& error,
                                     int64_t now_ms);

  common::Result<QueueStats> Stats();
  // Queued and sending messages, oldest first (the pending queue in the session
  // snapshot).
  common::Result<std::vector<OutboundMessage>> Pending();
  // At most `limit` failed messages, most recently enqueued first.
  common::Result<std::vector<OutboundMessage>> DeadLetters(int limit);

  // Prunes finished messages (sent, delivered, read, failed) last updated
  // before `before_ms`, at most `limit` of them, oldest first, so the file does
  // not grow forever. Their ids then answer nullopt and their idempotency keys
  // are forgotten. Returns the number deleted.
  common::Result<int64_t> Prune(int64_t before_ms, int limit);

  // Whether the database is usable. `ok` turns false at an I/O error (SQLite's
  // disk, full, busy, corrupt errors; not NotFound or InvalidArgument
  // answers) of any operation, and true again at the next successful write
  // (a read succeeding proves nothing: reads work on a full disk, and an
  // intact index answers Stats over a corrupt table page), except that a
  // corrupt or not-a-database file (`permanent`) stays unhealthy until the
  // queue is reopened. Thread-safe.
  struct Health {
    bool ok = true;
    bool permanent = false;
    std::string error;     // the first failure of this unhealthy spell
    int64_t failures = 0;  // failed operations in this spell
  };
  Health health() const;

  // A small write (one row of the `probe` table, committed): lets an idle,
  // unhealthy queue find out whether it is usable again. Counts for health().
  common::Status Probe();

  // Test seam: `fault(op)` runs before every operation (`op` is the method
  // name, e.g. "MarkSent"); a non-OK answer is returned instead of doing the
  // work, and counts for health(). Null removes it.
  void SetFaultForTesting(
      std::function<common::Status(std::string_view op)> fault);

  // Checkpoints the WAL into the database and closes it. Later calls of any
  // method fail; a second Close() is OK.
  common::Status Close();

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

  MessageQueue(DbPtr db, std::string path);

  common::Result<EnqueueResult> EnqueueImpl(const NewMessage& message,
                                            int64_t now_ms);
  common::Result<std::optional<EnqueueResult>> FindRepeatImpl(
      const NewMessage& message);
  common::Result<bool> RestoreImpl(const OutboundMessage& message);
  common::Result<std::optional<OutboundMessage>> GetImpl(std::string_view id);
  common::Result<std::optional<OutboundMessage>> NextDueImpl(int64_t now_ms);
  common::Status MarkSendingImpl(std::string_view id, int64_t now_ms);
  common::Status MarkSentImpl(std::string_view id, std::string_view provider_id,
                              int64_t now_ms);
  common::Status MarkRetryImpl(std::string_view id, const ProviderError& error,
                               int64_t next_attempt_ms, int64_t now_ms);
  common::Status MarkFailedImpl(std::string_view id, const ProviderError& error,
                                int64_t now_ms);
  common::Status ApplyProviderStatusImpl(
      std::string_view provider_id, MessageStatus status,
      const std::optional<ProviderError>& error, int64_t now_ms);
  common::Result<QueueStats> StatsImpl();
  common::Result<std::vector<OutboundMessage>> PendingImpl();
  common::Result<std::vector<OutboundMessage>> DeadLettersImpl(int limit);
  common::Result<int64_t> PruneImpl(int64_t before_ms, int limit);
  common::Status ProbeImpl();

  // The test fault for `op`, OK when none.
  common::Status Fault(std::string_view op);
  // Records an operation's outcome for health().
  void Track(const common::Status& status, bool is_write);

  // The open connection, or an error once closed. REQUIRES: mu_ held.
  common::Result<sqlite3*> Db() const;

  // Constant after construction.
  const std::string path_;
  const std::string context_;  // "message queue <path>", for errors

  std::mutex mu_;
  DbPtr db_;  // guarded by mu_; null once closed

  mutable std::mutex health_mu_;
  Health health_;  // guarded by health_mu_
  std::function<common::Status(std::string_view)>
      fault_;  // guarded by health_mu_
};

// A digest of what makes two requests "the same" for an idempotency key: the
// recipient, text, template and replyTo ("sha256:" + 64 hex). Pure.
std::string RequestHash(const NewMessage& message);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_
