// Forwarder: delivers the EventOutbox's events to the user's bot
// (WEBHOOK_URL, SPEC §3/§5) on the worker's libuv loop, through the shared
// HttpClient. Each event is one JSON POST with
//   Content-Type: application/json
//   User-Agent: dynoguard
//   X-Dynoguard-Event-Id: <id>
//   X-Dynoguard-Signature-256: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, body)>
// (no signature header without a secret). A 2xx delivers it; network
// errors, 5xx, 408 and 429 are retried with backoff and jitter (Retry-After
// honoured), any other answer makes a dead letter at once; see
// forward_retry_policy.h. Events of one chat go strictly in order (the next
// waits until the previous is delivered or dead); up to max_in_flight chats
// are in flight at once. What becomes of each POST is written to the outbox
// (the completions of one loop turn in one transaction), so a restart
// resumes where the last run stopped; an event whose answer was not recorded
// is POSTed again (receivers must accept a repeat after a crash, SPEC §5).
//
// Logs one line per dead letter (forward-dead), per change of the receiver's
// health (forward-failing once per spell, forward-recovered), and outbox
// errors; never the secret, never a body, and of the URL only its origin
// (its path or query may carry a token).
#ifndef DYNOGUARD_WORKER_FORWARD_FORWARDER_H_
#define DYNOGUARD_WORKER_FORWARD_FORWARDER_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/forward/event_outbox.h"
#include "worker/forward/forward_retry_policy.h"
#include "worker/net/http_client.h"

namespace dynoguard::worker {

// What /api/queue and /metrics show of forwarding (with OutboxStats).
struct ForwarderStatus {
  size_t in_flight = 0;  // POSTs under way
  // The receiver's health: true from a failed attempt (network error, 5xx,
  // 408, 429) until the next 2xx.
  bool failing = false;
  // The last failure: "http_503", "connect", "timeout", …; "" when none.
  std::string last_failure;
  // When the next retry is due (wall ms); nullopt when none waits.
  std::optional<int64_t> next_attempt_ms;
  // Counters since this Forwarder was created (for /metrics).
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t dead = 0;
  bool stopping = false;  // Drain or Stop called
};

// Lives on one loop: every method on the loop thread, except Wake and
// status() (any thread). HTTP callbacks run on the loop thread.
class Forwarder {
 public:
  struct Options {
    // WEBHOOK_URL: http:// or https://. Required.
    std::string url;
    // WEBHOOK_SECRET; empty: POSTs go unsigned (Start warns once).
    std::string secret;
    // Chats with a POST in flight at once. Default: 4 (at least 1).
    size_t max_in_flight = 4;
    // Backoff, attempts and the retry window. Defaults: base 1 s, cap 5 min,
    // 30 attempts and never before 2 h of failing (a receiver down for an
    // hour loses nothing).
    ForwardRetryPolicy retry;
    // Per POST. Defaults: connect 5 s, total 10 s (the HttpClient's
    // max_timeout caps both).
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds total_timeout{10000};
    // After an outbox error, the next try. Default: 1 s.
    std::chrono::milliseconds error_retry{1000};
    // The longest single timer wait: a due time is on the wall clock, which
    // may be stepped, so it is looked at again at least this often. Default:
    // 60 s.
    std::chrono::milliseconds max_wait{60000};
    // The wall clock (ms since the epoch); null: std::chrono::system_clock.
    std::function<int64_t()> now_ms;
    // A number in [0, 1) for the jitter; null: a seeded std::mt19937_64.
    std::function<double()> unit_random;
  };

  // Checks `options` (InvalidArgument naming the field: url not http(s),
  // max_in_flight 0 is raised to 1) and makes the loop handles. Nothing is
  // sent before Start. REQUIRES: on the loop thread; `http`, `outbox` and
  // `log` outlive the Forwarder; the loop runs after Close until the handles
  // are closed.
  static common::Result<std::unique_ptr<Forwarder>> Create(
      uv_loop_t* loop, HttpClient& http, EventOutbox& outbox,
      const common::Logger& log, Options options);

  // Close(): POSTs in flight are cancelled (their events stay pending).
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Starts delivering what is due (events left by a previous run first).
  void Start();
  // New events were appended: look for work now. Thread-safe; a no-op after
  // Close.
  void Wake();
  // Graceful stop: no new POST starts; `on_drained` runs on the loop once the
  // POSTs in flight have finished (each within total_timeout) and their
  // outcomes were written (one try; an outcome that cannot be written leaves
  // its event pending, POSTed again by the next run). Runs before Drain
  // returns when nothing is in flight.
  void Drain(std::function<void()> on_drained);
  // Fast stop: cancels the POSTs in flight (their events stay pending, their
  // attempts unchanged), writes the outcomes already known, then runs
  // `on_stopped` before returning.
  void Stop(std::function<void()> on_stopped);
  // Cancels what is in flight (as Stop) and closes the loop handles.
  // Idempotent.
  void Close();

  // Thread-safe snapshot.
  ForwarderStatus status() const;

 private:
  struct InFlight {
    HttpRequestId request = 0;
    std::string id;
    std::string type;
    std::string chat;
    int attempts = 0;
    std::optional<int64_t> first_failure_ms;
  };
  struct Pending {
    EventOutcome outcome;
    std::string chat;
  };
  struct LoopHandles;

  Forwarder(uv_loop_t* loop, HttpClient& http, EventOutbox& outbox,
            const common::Logger& log, Options options);
  void Pump();
  // Starts the POST of `stored`; false when the client refused it (the
  // event stays pending).
  bool Post(const StoredEvent& stored);
  void OnDone(uint64_t token, const HttpResponse& response);
  // Writes the outcomes kept in records_; true when none is left.
  bool FlushRecords();
  void ScheduleIn(int64_t delay_ms);
  void MaybeFinishDrain();
  void CancelInFlight();
  int64_t Now() const;
  double Random();
  void UpdateStatus();

  // Constant after construction.
  uv_loop_t* const loop_;
  HttpClient& http_;
  EventOutbox& outbox_;
  const common::Logger& log_;
  const Options options_;
  const std::string origin_;  // the URL's scheme://host[:port], for logs

  // Loop thread only.
  LoopHandles* handles_ = nullptr;          // freed in the uv_close callbacks
  std::map<uint64_t, InFlight> in_flight_;  // by our token
  uint64_t next_token_ = 1;
  std::set<std::string> busy_;    // chats in flight or with records_ pending
  std::vector<Pending> records_;  // outcomes not yet written
  bool started_ = false;
  bool draining_ = false;
  bool failing_ = false;
  bool outbox_failing_ = false;  // warned once per spell
  bool start_failing_ = false;   // warned once per spell
  std::function<void()> on_drained_;
  std::mt19937_64 random_{std::random_device{}()};

  mutable std::mutex mu_;
  bool closed_ = false;     // guarded by mu_ (Wake)
  ForwarderStatus status_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_FORWARD_FORWARDER_H_
