#include "worker/app/call_timeouts.h"

#include <algorithm>

namespace dynoguard::worker {

CallTimeouts CallTimeoutsFor(std::chrono::seconds worker_stop_timeout) {
  using std::chrono::milliseconds;
  const milliseconds budget =
      std::chrono::duration_cast<milliseconds>(worker_stop_timeout) -
      milliseconds(3000);
  CallTimeouts t;
  t.client_max = std::clamp(budget, milliseconds(1000), milliseconds(15000));
  t.graph_total = std::clamp(budget, milliseconds(1000), milliseconds(10000));
  t.graph_connect = std::min(milliseconds(5000), t.graph_total);
  return t;
}

}  // namespace dynoguard::worker
