// MessageQueue: the worker's durable outbound message queue, one SQLite
// database in DATA_DIR. A message is committed (WAL, synchronous=FULL) before
// POST /api/messages answers 202, so it survives SIGKILL and restarts (SPEC
// §7); ids and idempotency keys make a repeated request a no-op.
#ifndef DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_
#define DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/model/chat_entry.h"
#include "worker/model/outbound_message.h"

struct sqlite3;

namespace dynoguard::worker {
namespace storage {
class StatementCache;
class WalCheckpointer;
}  // namespace storage

struct QueueStats {
  int64_t depth = 0;         // queued + sending
  int64_t in_flight = 0;     // sending
  int64_t dead_letters = 0;  // failed (ours or the provider's)
  std::optional<int64_t>
      next_attempt_ms;  // earliest next_attempt_ms among queued messages that
                        // head their recipient's line (see NextDue)
};

// The outcome of a provider status callback (RecordProviderStatus).
struct StatusChange {
  std::string message_id;  // ours ("msg_…"), whatever happened
  MessageStatus status = MessageStatus::kSent;  // the message's status now
  // True when this callback moved the message (and was written); false when
  // it was late, repeated or stale and nothing changed.
  bool changed = false;
};

// How the group commit has gone since Open (write_stats()).
struct WriteStats {
  int64_t commits = 0;  // transactions committed (one fsync each)
  int64_t writes = 0;   // writes the leaders' batches ran (none after Close)
  int64_t largest_batch = 0;  // most writes one leader ran at once
  // Writes run again alone because their batch's transaction was lost.
  int64_t rerun = 0;
  int64_t waiting = 0;  // writes queued right now behind the running batch
};

// Thread-safe. SQLite connections to one WAL file:
//  - writes (Enqueue, Restore, MarkSending, MarkSent, MarkRetry, MarkFailed,
//    RecordProviderStatus/ApplyProviderStatus, Prune, Probe) are group
//    committed, as leveldb's write path does: each caller queues its write;
//    the first in the queue becomes the leader, runs every write queued by
//    then (at most kMaxBatch) in one transaction, each inside its own
//    SAVEPOINT, commits once (one fsync for all of them), and wakes the others
//    with their own results. EnqueueLater's writes have no caller waiting:
//    the queue's commit thread leads them (started at the first one), and
//    their callbacks run on the leader's thread after the commit. A write that
//    fails rolls back to its savepoint and fails only its own caller; when
//    SQLite abandons the whole transaction (a write's error rolled it back, or
//    COMMIT failed) the others are run again, each in a transaction of its own.
//    Every write is committed (synchronous=FULL) before its method returns.
//  - reads (Get, GetByProviderId, NextDue, Stats, Pending, DeadLetters) use a
//    second, read-only connection with its own mutex: they see every
//    committed write and never wait for a commit in progress.
//  - checkpoints (copying the WAL back into the file) run on a thread and a
//    third connection of their own (storage::WalCheckpointer), off the
//    commit path.
// Both connections keep their prepared statements (storage::StatementCache).
// Several MessageQueue objects (even in several processes) may open the same
// file; writes take SQLite's write lock (busy timeout 5 s).
//
// Lifecycle of a message: Enqueue → queued; NextDue picks it; MarkSending →
// sending; then MarkSent → sent, MarkRetry → queued again (later), or
// MarkFailed → failed (dead letter). RecordProviderStatus then moves a sent
// message to delivered / read / failed.
//
// Every method returns a non-OK status once Close() has been called. Times are
// milliseconds since the epoch, supplied by the caller.
class MessageQueue {
 public:
  // The most writes one transaction takes; more queued writers wait for the
  // next one.
  static constexpr int kMaxBatch = 128;

  // Opens or creates the database at `path` (the directory must exist), with
  // journal_mode=WAL, synchronous=FULL and a busy timeout, creates the schema
  // or migrates an older one in place (schema 1 and 2 files: their rows read
  // back with type = EffectiveType(...), no content_json or provider_status),
  // then opens the read-only connection and starts the checkpointer. Messages
  // left in `sending` (the worker died mid-send) go back to `queued`, so they
  // are sent again: the one duplicate SPEC §7 allows. Errors: IOError naming
  // `path` and SQLite's message; InvalidArgument for a file of a newer schema.
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
  // Closes like Close(), ignoring errors. REQUIRES: no other thread is in a
  // method of this object.
  ~MessageQueue();

  struct EnqueueResult {
    std::string id;
    bool created = false;  // false: the idempotency key was already known;
                           // nothing inserted
    // With created=false: the key belongs to a request with another body
    // (recipient, type, content, text, template or replyTo differ). `id` is
    // that message's. The HTTP API answers 422 conflict naming idempotencyKey.
    bool conflict = false;
  };
  // Inserts `message` as queued, due at `now_ms`, with its type and
  // content_json. Durable (committed) when it returns OK. A non-empty
  // idempotency_key that an existing message already has → that message's id,
  // created=false, nothing inserted (race-free, also across connections and
  // within one batch); conflict=true when that message was enqueued with a
  // different body (compared by RequestHash, stored with the key; messages
  // from schema 1 have no hash and never conflict; those from schema 2 are
  // compared by the hash schema 2 used). Ids are "msg_" + 24 lowercase hex
  // from the kernel's CSPRNG.
  common::Result<EnqueueResult> Enqueue(const NewMessage& message,
                                        int64_t now_ms);

  // Enqueue without waiting for the commit: queues the same write and returns
  // at once; `done` gets what Enqueue would have returned, once the write is
  // committed (or failed), on the thread that led its commit (the queue's
  // commit thread, or a caller of a synchronous write that led the batch).
  // `done` must not block for long and must not call this queue's writes (it
  // runs while the next batch waits); reads are fine. The HTTP API answers
  // POST /api/messages from it, so its request threads never wait for an
  // fsync. Every `done` is called exactly once, with Unavailable after
  // Close().
  using EnqueueDone = std::function<void(common::Result<EnqueueResult>)>;
  void EnqueueLater(NewMessage message, int64_t now_ms, EnqueueDone done);

  // What Enqueue would answer for `message` when its idempotency key is
  // already known — that message's id, created=false, conflict as above —
  // without inserting anything; nullopt when the key is empty or unknown. A
  // read (the read connection): the HTTP API answers a repeat it would now
  // refuse (the 24-hour rule) with the original message.
  common::Result<std::optional<EnqueueResult>> FindRepeat(
      const NewMessage& message);

  // Re-inserts a message from a session snapshot (a dyno restart lost the local
  // disk) with its original id, type, content, timestamps, attempts and
  // provider fields; `sending` comes back as `queued`. Returns false and
  // inserts nothing when its id or idempotency key is already present.
  // REQUIRES: message.id is non-empty (else InvalidArgument).
  common::Result<bool> Restore(const OutboundMessage& message);

  // The message with this id, or nullopt.
  common::Result<std::optional<OutboundMessage>> Get(std::string_view id);

  // The message the provider knows as `provider_id` (its wamid), or nullopt
  // (never sent, pruned, or not ours). The newest one if several share it.
  common::Result<std::optional<OutboundMessage>> GetByProviderId(
      std::string_view provider_id);

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
  // sending → sent with the provider's id and its message_status
  // (SendResult::message_status: "accepted", "held_for_quality_assessment",
  // "paused"; empty when the provider gave none); clears the error. NotFound /
  // InvalidArgument as above (the message must be sending).
  common::Status MarkSent(std::string_view id, std::string_view provider_id,
                          int64_t now_ms,
                          std::string_view provider_status = "");
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
  // a late or repeated one is ignored (changed=false, nothing written).
  // "failed" applies to a sent or delivered message and is kept with `error`
  // (a generic non-retryable error when none is given); nothing moves a failed
  // message. Meta delivers callbacks at least once and unordered, so ignoring
  // is the normal case, not an error. Unknown provider id → NotFound. Returns
  // our message id and whether anything changed (what a forwarder needs).
  common::Result<StatusChange> RecordProviderStatus(
      std::string_view provider_id, MessageStatus status,
      const std::optional<ProviderError>& error, int64_t now_ms);
  // RecordProviderStatus without the details (OK whether or not it changed
  // anything), for callers that only need to know it was taken.
  common::Status ApplyProviderStatus(std::string_view provider_id,
                                     MessageStatus status,
                                     const std::optional<ProviderError>& error,
                                     int64_t now_ms);

  // NextDue's statement (?1 = now_ms): for the test that its plan reads
  // queued messages oldest first and stops at the first due head, whatever
  // the backlog.
  static std::string NextDueSql();
  // The lookups by the provider's id (?1, the newest such message; `columns`
  // selected) and by idempotency key (?1; id, request_hash): for the test that
  // they read through their indexes, not the table.
  static std::string ByProviderIdSql(std::string_view columns);
  static std::string ByIdempotencyKeySql();
  // Hands back the page caches of the queue's connections (what a burst of
  // sends filled; SQLite reads the pages again from the OS's cache when they
  // are needed). Returns the bytes they held before. Thread-safe; runs as
  // an exclusive write (after the writes queued before it).
  uint64_t ReleaseMemory();
  common::Result<QueueStats> Stats();
  // Queued and sending messages, oldest first (the pending queue in the session
  // snapshot). Read on a connection of its own (BulkRead).
  common::Result<std::vector<OutboundMessage>> Pending();
  // The same messages in the same order, handed to `visit` one at a time
  // (only the current one is in memory) until it returns false. Read on a
  // connection of its own (BulkRead).
  common::Status ForEachPending(
      const std::function<bool(OutboundMessage&&)>& visit);
  // Sent or delivered messages with a provider id, last updated at or after
  // `since_ms` (they may still get a status callback: the session snapshot
  // carries them), the newest `limit` of them, oldest first.
  common::Result<std::vector<OutboundMessage>> AwaitingStatus(int64_t since_ms,
                                                              int limit);
  // At most `limit` failed messages, most recently enqueued first.
  common::Result<std::vector<OutboundMessage>> DeadLetters(int limit);
  // The newest `limit` messages to `recipient` (every status, until pruned),
  // oldest first, as chat entries: our id, kind, summary, current status,
  // accept time.
  common::Result<std::vector<ChatEntry>> RecentTo(std::string_view recipient,
                                                  size_t limit);

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

  // The group commit's counters. Thread-safe, never blocks on a commit.
  WriteStats write_stats() const;

  // A small write (one row of the `probe` table, committed): lets an idle,
  // unhealthy queue find out whether it is usable again. Counts for health().
  common::Status Probe();

  // Test seam: `fault(op)` runs before every operation (`op` is the method
  // name, e.g. "MarkSent"; "RecordProviderStatus" for both status methods); a
  // non-OK answer is returned instead of doing the work, and counts for
  // health(). For a write it runs inside the group commit, on the leader's
  // thread, where the write would run (so it fails only its own caller, and a
  // fault that blocks holds the batch). Null removes it.
  void SetFaultForTesting(
      std::function<common::Status(std::string_view op)> fault);

  // Checkpoints the WAL into the database and closes both connections, after
  // the writes queued before it. Later calls of any method fail; a second
  // Close() is OK.
  common::Status Close();

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
  // One write: runs on the leader's thread inside the batch's transaction,
  // with the write connection's statement cache (may run again after the
  // transaction was lost, so it must set all of its results each time). Its
  // status is its caller's answer.
  using WriteOp = std::function<common::Status(storage::StatementCache& sql)>;
  struct Writer;

  MessageQueue(DbPtr db, DbPtr read_db,
               std::unique_ptr<storage::WalCheckpointer> checkpointer,
               std::string path);
  // The write connection's wal hook (after every commit): hands the
  // checkpoint to checkpointer_, or runs one itself when the WAL grew past
  // kInlineCheckpointPages (the checkpointer is failing or far behind).
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);

  // Queues `op` for the group commit and returns its answer once committed
  // (or failed). `exclusive`: runs alone, outside any transaction, with no
  // fault (Close).
  common::Status Write(std::string_view op_name, const WriteOp& op,
                       bool exclusive = false);
  // Leads batches from the front of writers_ (`lock` held on write_mu_, no
  // leader active): one batch for a synchronous caller; for the commit
  // thread, batches as long as the front is a write with no caller waiting.
  // Then hands the lead to the front's owner.
  void Lead(std::unique_lock<std::mutex>& lock, bool commit_thread);
  // The commit thread: leads whenever the front write has no caller waiting.
  void CommitLoop();
  // The leader's part: runs `batch` on the write connection, counting its
  // commits and reruns in `*counts`. REQUIRES: the caller is the leader (its
  // Writer heads writers_).
  void RunBatch(const std::vector<Writer*>& batch, WriteStats* counts);
  // One transaction over `batch`, a savepoint per write. OK when committed
  // (++counts->commits); else the error that lost the transaction (rolled
  // back), with `*ran_any` false when it was lost before any write ran (BEGIN
  // failed).
  common::Status RunTransaction(const std::vector<Writer*>& batch,
                                bool* ran_any, WriteStats* counts);
  // A read: the test fault for `op`, then `fn(read connection)` under
  // read_mu_ (Unavailable once closed), its outcome recorded for health().
  template <typename Fn>
  auto Read(std::string_view op, Fn&& fn)
      -> decltype(fn(std::declval<storage::StatementCache&>()));
  // A read on a connection of its own, opened for it and closed after:
  // the session snapshot's whole-table reads (Pending, AwaitingStatus) never
  // hold the read connection that /health and the routes use.
  template <typename Fn>
  auto BulkRead(std::string_view op, Fn&& fn)
      -> decltype(fn(std::declval<storage::StatementCache&>()));
  common::Status CloseNow();

  // The test fault for `op`, OK when none.
  common::Status Fault(std::string_view op);
  // Records an operation's outcome for health().
  void Track(const common::Status& status, bool is_write);
  common::Status Closed() const;

  // Constant after construction.
  const std::string path_;
  const std::string context_;  // "message queue <path>", for errors

  // The group commit. Only the leader (the Writer at the front of writers_)
  // uses db_, and only while it leads; Close (an exclusive writer) resets it.
  DbPtr db_;                                        // null once closed
  std::unique_ptr<storage::StatementCache> cache_;  // db_'s statements
  mutable std::mutex write_mu_;
  std::deque<Writer*> writers_;  // guarded by write_mu_; front = leader
  WriteStats write_stats_;       // guarded by write_mu_ (waiting computed)
  int64_t running_ = 0;   // guarded by write_mu_: writes in the leader's batch
  bool leading_ = false;  // guarded by write_mu_: a leader runs batches
  // EnqueueLater's leader, started with the first such write; wakes on
  // commit_cv_ when the front write has no caller waiting and none leads.
  std::thread commit_thread_;          // guarded by write_mu_ (started)
  std::condition_variable commit_cv_;  // with write_mu_
  bool commit_stop_ = false;           // guarded by write_mu_

  // Checkpoints off the commit path. Used by the leader's commits (the wal
  // hook) and stopped by Close (an exclusive writer); null once closed.
  std::unique_ptr<storage::WalCheckpointer> checkpointer_;

  std::mutex read_mu_;
  DbPtr read_db_;  // guarded by read_mu_; null once closed
  std::unique_ptr<storage::StatementCache> read_cache_;  // guarded by read_mu_

  mutable std::mutex health_mu_;
  Health health_;  // guarded by health_mu_
  std::function<common::Status(std::string_view)>
      fault_;  // guarded by health_mu_
};

// A digest of what makes two requests "the same" for an idempotency key: the
// recipient, type, content_json, text, template and replyTo ("sha256:" + 64
// hex). Pure.
std::string RequestHash(const NewMessage& message);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_QUEUE_H_
