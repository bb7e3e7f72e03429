// EventOutbox: the durable outbox of events for the user's bot, one SQLite
// database (DATA_DIR/events.db, WAL, synchronous=FULL). An event appended is
// on disk when Append returns, so it survives SIGKILL and restarts; ids make
// a repeated event a no-op. The Forwarder takes the next due event of each
// chat from here and records what became of it.
//
// Lifecycle of an event: Append → pending; NextDue hands out the oldest
// pending event of each chat (insertion order) once due; Record then moves it
// to delivered, back to pending for later (a retry) or to dead (a dead
// letter). Prune deletes delivered events after a while.
#ifndef DYNOGUARD_WORKER_FORWARD_EVENT_OUTBOX_H_
#define DYNOGUARD_WORKER_FORWARD_EVENT_OUTBOX_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/forward/forward_event.h"

struct sqlite3;

namespace dynoguard::worker {

// An event as stored, with its delivery state.
struct StoredEvent {
  ForwardEvent event;
  int attempts = 0;                         // failed attempts so far
  int64_t next_attempt_ms = 0;              // 0: never tried
  std::optional<int64_t> first_failure_ms;  // the first failed attempt
  std::string last_error;                   // "" until an attempt failed
  int64_t created_ms = 0;                   // when it was appended
  int64_t updated_ms = 0;
};

struct OutboxStats {
  int64_t pending = 0;
  int64_t dead = 0;
  // Events ever delivered from this file (pruning does not lower it).
  int64_t delivered_total = 0;
  // created_ms of the oldest pending event; nullopt when none is pending.
  std::optional<int64_t> oldest_pending_ms;
};

// What NextDue found.
struct DuePick {
  // Due heads of their chats, oldest first.
  std::vector<StoredEvent> due;
  // The earliest next_attempt_ms among heads not yet due (chats in `busy`
  // not counted); nullopt when none waits.
  std::optional<int64_t> next_due_ms;
};

// What became of one attempt (Record applies several in one transaction).
struct EventOutcome {
  enum class Kind { kDelivered, kRetry, kDead };
  std::string id;
  Kind kind = Kind::kDelivered;
  int64_t next_attempt_ms = 0;  // kRetry
  std::string error;            // kRetry, kDead: why (never a body or secret)
};

// Thread-safe: one SQLite connection guarded by a mutex (Append from the HTTP
// threads, the rest from the loop, Stats from anywhere). Times are
// milliseconds since the epoch, supplied by the caller.
class EventOutbox {
 public:
  // Opens or creates the database at `path` (the directory must exist; the
  // file and its -wal/-shm are 0600) and its schema. IOError naming `path`
  // and SQLite's message; InvalidArgument for a file of a newer schema.
  static common::Result<std::unique_ptr<EventOutbox>> Open(
      const std::string& path);

  ~EventOutbox();
  EventOutbox(const EventOutbox&) = delete;
  EventOutbox& operator=(const EventOutbox&) = delete;

  // Appends `events` as pending, in order, in one transaction: all or none
  // are durable (committed) when it returns. An id already stored (pending,
  // delivered or dead, until pruned) is skipped (INSERT OR IGNORE). Returns
  // how many were new. InvalidArgument for an event without id or json
  // (nothing stored). Concurrent calls are committed together (group
  // commit: the first waiting caller writes the batches queued behind it in
  // one transaction and one fsync); each caller's events stay in its order,
  // and an I/O error fails every call of that transaction.
  common::Result<int> Append(std::span<const ForwardEvent> events,
                             int64_t now_ms);
  common::Result<int> Append(const ForwardEvent& event, int64_t now_ms) {
    return Append(std::span<const ForwardEvent>(&event, 1), now_ms);
  }

  // The heads of at most `max` chats (the oldest pending event of each chat)
  // that are due (never tried, or next_attempt_ms <= now_ms), oldest first,
  // skipping the chats in `busy` (those with an event in flight).
  common::Result<DuePick> NextDue(int64_t now_ms, size_t max,
                                  const std::set<std::string>& busy);

  // Applies `outcomes` in one transaction (all or none): kDelivered → the
  // event is delivered (delivered_total += 1); kRetry → pending, not due
  // before next_attempt_ms, attempts += 1, error kept; kDead → a dead letter,
  // attempts += 1, error kept. An outcome for an id that is not pending
  // (unknown, pruned, already done) is skipped. IOError: nothing applied.
  common::Status Record(std::span<const EventOutcome> outcomes, int64_t now_ms);
  common::Status MarkDelivered(std::string_view id, int64_t now_ms);
  common::Status MarkRetry(std::string_view id, int64_t next_attempt_ms,
                           std::string_view error, int64_t now_ms);
  common::Status MarkDead(std::string_view id, std::string_view error,
                          int64_t now_ms);

  // The event with this id, or nullopt.
  common::Result<std::optional<StoredEvent>> Get(std::string_view id);
  // "pending", "delivered", "dead" of event `id`; nullopt when unknown.
  common::Result<std::optional<std::string>> State(std::string_view id);

  common::Result<OutboxStats> Stats();
  // At most `limit` dead letters, the most recently failed first.
  common::Result<std::vector<StoredEvent>> DeadLetters(int limit);

  // At most `limit` pending events, oldest (insertion order) first: the
  // session snapshot's outbox.
  common::Result<std::vector<StoredEvent>> Pending(int limit);
  // For a session restore: inserts each event of `events` as pending with
  // its attempts, times and last error, in order, in one transaction; an id
  // already stored (in any state) is skipped. Returns how many were new.
  // InvalidArgument for an event without id or json (nothing stored).
  common::Result<int> Restore(std::span<const StoredEvent> events);

  // Deletes events in `state` ("delivered" or "dead"; InvalidArgument for
  // any other) last updated before `before_ms`, at most `limit`, oldest
  // first; their ids are then forgotten (a repeat would be appended again —
  // the inbound path deduplicates for 7 days before that). The totals of
  // Stats() keep counting them. Returns the number deleted.
  common::Result<int64_t> Prune(std::string_view state, int64_t before_ms,
                                int limit);

  const std::string& path() const { return path_; }

  // The statements of Stats, DeadLetters (?1 = limit) and Prune (?1 =
  // before_ms, ?2 = limit, ?3 = state): for the test that they read through the
  // indexes, whatever the delivered history kept.
  static std::string StatsSql();
  static std::string DeadLettersSql();
  static std::string PruneSql();

 private:
  // One Append call waiting for its batch to be committed.
  struct Writer;

  EventOutbox(std::string path, sqlite3* db);
  common::Status ApplyLocked(const EventOutcome& outcome, int64_t now_ms);
  // Inserts every writer's events in one transaction, setting each one's
  // count; REQUIRES: mu_ held.
  common::Status InsertLocked(const std::vector<Writer*>& batch);

  const std::string path_;
  const std::string context_;  // "event outbox <path>"
  mutable std::mutex mu_;
  sqlite3* db_;  // guarded by mu_

  // Appends waiting to be committed, oldest first; the front one writes.
  std::mutex writers_mu_;
  std::deque<Writer*> writers_;  // guarded by writers_mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_FORWARD_EVENT_OUTBOX_H_
