// The timeouts of the worker's outgoing HTTP calls, derived from
// WORKER_STOP_TIMEOUT_S (SPEC §4): every call ends well inside the stop
// timeout, so a graceful stop never waits on a hung call and the supervisor
// never needs its SIGKILL. Pure.
#ifndef DYNOGUARD_WORKER_APP_CALL_TIMEOUTS_H_
#define DYNOGUARD_WORKER_APP_CALL_TIMEOUTS_H_

#include <chrono>

namespace dynoguard::worker {

struct CallTimeouts {
  // The HttpClient's ceiling for any request: the stop timeout less 3 s
  // (the stop's own 2 s margin and 1 s to write the answer), within
  // [1 s, 15 s].
  std::chrono::milliseconds client_max{15000};
  // One Graph API call, connecting included: the same budget within
  // [1 s, 10 s]; its connect timeout at most 5 s.
  std::chrono::milliseconds graph_total{10000};
  std::chrono::milliseconds graph_connect{5000};
};

CallTimeouts CallTimeoutsFor(std::chrono::seconds worker_stop_timeout);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_CALL_TIMEOUTS_H_
