// CollectSession: a SessionState read from the local stores — what a
// snapshot carries (session_state.h). Reads only; runs on the session
// thread, never the loop or an HTTP thread.
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_COLLECTOR_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_COLLECTOR_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "worker/session/session_sources.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

// What CollectSession found beside the state.
struct CollectReport {
  // limits.pending_max_bytes was passed by the pending messages alone: the
  // collect stopped there, and the state it returned is incomplete (never
  // to be saved).
  bool pending_over_cap = false;
};

// The state at `now_ms` (name, transport and sequence are the caller's:
// they are left empty and 0; saved_ms = now_ms). Messages awaiting a status
// are those updated in the last 7 days (Meta's redelivery window). Errors:
// the first store read that failed. `report` may be null.
common::Result<SessionState> CollectSession(const SessionSources& sources,
                                            int64_t now_ms,
                                            const CollectLimits& limits = {},
                                            CollectReport* report = nullptr);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_COLLECTOR_H_
