// SendPolicy: the dispatcher's scheduling decisions, apart from any I/O. May
// a send start now (SEND_CONCURRENCY sends in flight at most, SEND_DELAY_MS
// between the starts of two sends, nothing while the transport is not
// connected or while sending is paused), and how long a recipient that hit
// the pair rate limit (Graph 131056) waits: 4^n seconds after its n-th
// consecutive hit, others unaffected.
//
// Pure: every time is passed in, in milliseconds on one monotonic clock of
// the caller's choosing (the dispatcher uses a steady clock). Which message
// goes next is the queue's business (MessageQueue::NextDue gives the heads of
// recipient lines not being sent); the policy only counts.
//
// Not thread-safe (the dispatcher uses it on its loop thread).
#ifndef DYNOGUARD_WORKER_OUTBOUND_SEND_POLICY_H_
#define DYNOGUARD_WORKER_OUTBOUND_SEND_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace dynoguard::worker {

class SendPolicy {
 public:
  struct Options {
    // Sends in flight at once; clamped to [1, 64] (SEND_CONCURRENCY).
    int concurrency = 1;
    // Minimum time between the starts of two sends (SEND_DELAY_MS); negative
    // counts as 0.
    int64_t send_delay_ms = 600;
    // After the n-th consecutive 131056 of a recipient it waits
    // slow_base_ms * 4^n, at most slow_max_ms (default 4^6 s, about 68 min).
    int64_t slow_base_ms = 1000;
    int64_t slow_max_ms = 4096 * 1000;
    // Recipients remembered in the slow-down table; beyond this the one whose
    // wait ended first is forgotten (at least 1).
    size_t max_slowed = 4096;
    // A pause (Pause) ends when the transport is connected again after having
    // been seen not connected. A transport that never shows a disconnection
    // (the sandbox) ends it after this long: the next send then probes.
    int64_t pause_probe_ms = 30000;
  };

  enum class Verdict {
    kStart,         // a send may start now
    kWait,          // try again after `wait_ms`
    kFull,          // `concurrency` sends in flight: wait for an answer
    kDisconnected,  // the transport is not connected: wait for a change
  };
  struct Decision {
    Verdict verdict = Verdict::kStart;
    int64_t wait_ms = 0;  // kWait only; > 0
  };

  explicit SendPolicy(Options options);

  const Options& options() const { return options_; }

  // Whether a send may start at `now_ms`, in this order: kDisconnected while
  // the last ObserveConnection said not connected; kWait while paused (until
  // the probe time); kFull at `concurrency` in flight; kWait until
  // send_delay_ms after the last start; else kStart.
  Decision MayStart(int64_t now_ms) const;

  // A send to `recipient` started / got its answer. OnFinished for a
  // recipient not in flight does nothing.
  void OnStarted(std::string_view recipient, int64_t now_ms);
  void OnFinished(std::string_view recipient);
  // True while a send to `recipient` is in flight.
  bool SendingTo(std::string_view recipient) const;
  int in_flight() const { return static_cast<int>(in_flight_.size()); }

  // `recipient` answered 131056: records the hit and returns how long that
  // recipient waits before its next send (slow_base_ms * 4^n, capped).
  int64_t OnSlowRecipient(std::string_view recipient, int64_t now_ms);
  // A send to `recipient` succeeded: its consecutive hits start again at 0.
  void OnSucceeded(std::string_view recipient);
  // Recipients whose slow-down wait has not ended at `now_ms`.
  size_t SlowedRecipients(int64_t now_ms) const;
  // Consecutive 131056 hits of `recipient` (0 when none).
  int SlowHits(std::string_view recipient) const;

  // Every send waits (a kPauseAll answer): `reason` is what the status shows.
  // A pause while paused keeps the first reason and start time.
  void Pause(std::string reason, int64_t now_ms);
  // What the transport says now. Returns true when this ends a pause.
  bool ObserveConnection(bool connected, int64_t now_ms);
  bool paused() const { return paused_; }
  const std::string& pause_reason() const { return pause_reason_; }
  bool connected() const { return connected_; }

 private:
  struct Slowed {
    int hits = 0;
    int64_t until_ms = 0;
  };

  Options options_;
  std::unordered_multiset<std::string> in_flight_;
  bool started_any_ = false;
  int64_t last_start_ms_ = 0;
  std::unordered_map<std::string, Slowed> slowed_;
  bool connected_ = true;
  bool paused_ = false;
  bool seen_down_ = false;
  int64_t paused_at_ms_ = 0;
  std::string pause_reason_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_SEND_POLICY_H_
