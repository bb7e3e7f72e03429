// RemoteBackupPolicy: when the session manager may write to the remote store
// next. At most one write per `min_interval` (JSONBin asks for 5–10 requests
// a minute), and after failures an exponential backoff (base, doubling, up
// to max) so that a store that is down is not hammered; a success resets it.
// Pure: times are passed in. Not thread-safe (the loop thread owns it).
#ifndef DYNOGUARD_WORKER_SESSION_BACKUP_POLICY_H_
#define DYNOGUARD_WORKER_SESSION_BACKUP_POLICY_H_

#include <chrono>
#include <cstdint>

namespace dynoguard::worker {

class RemoteBackupPolicy {
 public:
  struct Options {
    std::chrono::milliseconds min_interval{0};
    std::chrono::milliseconds backoff_base{5000};
    std::chrono::milliseconds backoff_max{300000};
  };
  explicit RemoteBackupPolicy(Options options) : options_(options) {}

  // True when a write may start at `now_ms`.
  bool Due(int64_t now_ms) const { return now_ms >= next_allowed_ms_; }
  // The earliest time the next write may start.
  int64_t next_allowed_ms() const { return next_allowed_ms_; }
  // Failures since the last success.
  int failures() const { return failures_; }

  // A write started at `now_ms`: none other before now + min_interval.
  void OnAttempt(int64_t now_ms);
  // It succeeded: the backoff is reset.
  void OnSuccess();
  // It failed at `now_ms`: the next one waits base·2^(failures−1), at most
  // max (and at least min_interval after the attempt).
  void OnFailure(int64_t now_ms);

 private:
  Options options_;
  int64_t last_attempt_ms_ = 0;
  int64_t next_allowed_ms_ = 0;
  int failures_ = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_BACKUP_POLICY_H_
