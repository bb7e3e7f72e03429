// InboundProcessor: takes the inbox's unprocessed rows oldest first, parses
// each (ParseWebhook) and hands every message, status and error not seen
// before to the sinks; records each contact's window and each message's place
// in its chat (InboundStore's chat table) on the way. It runs on a thread of
// its own, woken through a condition variable (Wake) by POST /webhook and the
// sandbox route after their commit, so neither the HTTP threads nor the event
// loop ever wait for a sink.
//
// Per row: the events not seen before are picked (a body may also repeat an
// event); the windows of its new messages and the messages themselves, in
// their chats, are recorded (one commit); then each event goes to its sink —
// messages,
// then statuses, then errors, each in body order; last, the dedup keys of the
// events the sinks took and the row's processed mark are committed together. A
// sink's event is durable once it returns OK; a crash before the keys are
// committed only makes the sinks see those events again (sinks dedupe by the
// event's deterministic id: the message id, wamid+status). Two commits per row,
// whatever its size. A failing sink (or store) stops the pass at that event
// (the keys of the events before it are recorded): the row stays unprocessed
// and the pass is retried after a backoff (1 s doubling to 60 s by default; a
// Wake does not shorten it), with one warning per spell of failures and one
// line when it recovers. Rows are never skipped, so events reach the sinks in
// inbox order.
//
// A body that does not parse (it passed the signature check, so it is
// Meta's) is logged once as `webhook-unparsable`, kept, and marked processed
// without retry. A body that parses with some parts of an unexpected shape
// (WebhookBatch::malformed: one message, status, error, change or entry) is
// processed without them: each is logged as `webhook-part-skipped`, naming
// the part and what was wrong, once the row is processed (counted in
// InboundCounters::malformed_parts). The thread also prunes the store (seen
// keys and chat messages after 7 days, processed rows after 24 h) at start
// and every hour.
#ifndef DYNOGUARD_WORKER_INBOUND_INBOUND_PROCESSOR_H_
#define DYNOGUARD_WORKER_INBOUND_INBOUND_PROCESSOR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "common/status.h"
#include "worker/inbound/inbound_store.h"
#include "worker/model/inbound_event.h"

namespace dynoguard::worker {

// Where processed events go (the integrator wires them to the queue and the
// forwarding outbox). Each runs on the processor's thread, one call at a
// time; it returns OK once the event is durable where it went, else a
// failure (the event comes again after a backoff, and nothing behind it
// moves until it is taken). So a failure is for what a retry can fix (the
// outbox's storage down); an event the sink does not want — a status for a
// message this queue never sent (MessageQueue::ApplyProviderStatus answers
// NotFound) — must be answered OK, or it blocks the inbox. An empty function
// takes every event (OK).
struct InboundSinks {
  std::function<common::Status(const WebhookMessage&)> on_message;
  // Statuses may arrive out of order or repeated under another status; never
  // moving a message's status backwards is the sink's (the queue's) job.
  std::function<common::Status(const WebhookStatus&)> on_status;
  std::function<common::Status(const WebhookError&)> on_error;
};

struct InboundProcessorOptions {
  // Rows read from the inbox per query. Default: 32.
  size_t batch_rows = 32;
  // The backoff after a failed pass: first delay, doubled up to the cap.
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{60000};
  // How often the thread prunes the store (by now_ms). Default: 1 h.
  int64_t prune_interval_ms = 60 * 60 * 1000;
};

// What the processor did since it was built.
struct InboundCounters {
  uint64_t messages = 0;    // handed to on_message (new ids)
  uint64_t statuses = 0;    // handed to on_status
  uint64_t errors = 0;      // handed to on_error
  uint64_t duplicates = 0;  // events skipped as already seen
  uint64_t unparsable = 0;  // rows whose body did not parse
  // Parts of parsed bodies left out for their shape (a message, a status, an
  // error, a change, an entry).
  uint64_t malformed_parts = 0;
  uint64_t failures = 0;  // passes stopped by a sink or store failure
};

// Thread-safe: Wake, counters and Stop from any thread; ProcessPending is
// serialized internally (the thread and a test may both call it).
class InboundProcessor {
 public:
  using Options = InboundProcessorOptions;

  // `log` and `store` must outlive the processor. `now_ms`: milliseconds since
  // the epoch, for the stored times and the prune cut-offs.
  InboundProcessor(const common::Logger& log, InboundStore& store,
                   InboundSinks sinks, std::function<int64_t()> now_ms,
                   Options options = {});
  // Stops the thread (Stop).
  ~InboundProcessor();
  InboundProcessor(const InboundProcessor&) = delete;
  InboundProcessor& operator=(const InboundProcessor&) = delete;

  // Starts the thread, which prunes, then processes whatever an earlier run
  // left unprocessed at once. REQUIRES: called once.
  void Start();
  // Ends the thread after the event in progress; unprocessed rows stay for
  // the next start. Idempotent.
  void Stop();
  // New rows are in the inbox: the thread looks at once (unless it is
  // backing off after a failure). Cheap; never blocks on processing.
  void Wake();

  // One pass over the inbox: every unprocessed row in order until none is
  // left (OK) or an event's sink or the store fails (that failure; the rest
  // waits for the next pass). Logs as described above.
  common::Status ProcessPending();

  InboundCounters counters() const;

 private:
  // Handles one row; OK when it is processed (or left unparsable).
  common::Status ProcessRow(const InboxRow& row);
  void Run();
  void PruneIfDue();

  // Constant after construction.
  const common::Logger& log_;
  InboundStore& store_;
  const InboundSinks sinks_;
  const std::function<int64_t()> now_ms_;
  const Options options_;

  std::mutex process_mu_;  // serializes ProcessPending
  bool failing_ = false;   // guarded by process_mu_: in a spell of failures
  std::optional<int64_t> last_prune_ms_;  // guarded by process_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;  // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  std::thread thread_;

  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> statuses_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> unparsable_{0};
  std::atomic<uint64_t> malformed_parts_{0};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_INBOUND_PROCESSOR_H_
