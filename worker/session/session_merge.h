// MergeSession: a restored SessionState merged into the local stores at
// start, before the dispatcher runs, without duplicating anything: a
// message whose id or idempotency key is already queued is skipped, an
// outbox event whose id is known is skipped, seen keys and windows are
// merged (the earlier first-seen time and the later inbound time win). A
// message restored in `sending` goes back to `queued`, as after a SIGKILL.
// Writes through the stores' own thread-safe methods; runs on the session
// thread.
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_MERGE_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_MERGE_H_

#include <cstdint>

#include "common/status.h"
#include "worker/session/session_sources.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

struct MergeReport {
  SessionCounts restored;  // written into the local stores
  SessionCounts skipped;   // already there, expired, or nowhere to go
};

// Merges `state` at `now_ms`: seen keys older than 7 days and windows
// closed by now are skipped; outbox events are skipped (counted) when
// `sources.outbox` is null (WEBHOOK_URL unset on this instance). Errors: the
// first write that failed (what was written before it stays: a second merge
// of the same state skips it).
common::Result<MergeReport> MergeSession(const SessionState& state,
                                         const SessionSources& sources,
                                         int64_t now_ms);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_MERGE_H_
