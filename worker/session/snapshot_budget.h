// Keeping a session snapshot under a size cap (SESSION_MAX_BYTES, and
// JSONBin's 1 MB record limit): the oldest non-essential entries go first;
// pending messages never go.
#ifndef DYNOGUARD_WORKER_SESSION_SNAPSHOT_BUDGET_H_
#define DYNOGUARD_WORKER_SESSION_SNAPSHOT_BUDGET_H_

#include <cstddef>
#include <string>

#include "common/status.h"
#include "worker/session/session_key.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

// What EncodeWithinBudget did.
struct FitReport {
  size_t bytes = 0;       // the document's size
  SessionCounts dropped;  // entries dropped from each list (pending: 0)
  // Every non-essential entry was dropped and the document is still larger
  // than max_bytes: pending (with the header, connection facts and counters)
  // alone exceeds the cap. The caller says so loudly and keeps this document
  // in the local file only.
  bool pending_over_cap = false;
  int encodes = 0;  // encodes of the whole state it took
};

// EncodeSnapshot(*state, key) (snapshot_codec.h); while the document is
// larger than `max_bytes`, drops entries from *state and encodes again, in
// this order, each list oldest (front) first: seen keys, contact windows,
// awaiting_status, inbox, outbox. A list is emptied before the next one is
// touched. Never drops pending messages. Not one by one: how many to drop
// is estimated from each entry's JSON size and how well its list
// compresses, then refined from the sizes the encodes measured, so a large
// state fits in a few encodes (at most 8) and keeps all but a little more
// than it must drop (it stops once the document fills 99 % of the cap).
//
// *state keeps what the document holds (the caller sees what was dropped;
// its sequence and saved_ms are untouched). When even the essentials do not
// fit, the document of them is returned anyway with
// report->pending_over_cap set. Errors: those of EncodeSnapshot (nothing
// more dropped then). `report` may be null. Thread-compatible (it changes
// *state); pure but for the nonces.
common::Result<std::string> EncodeWithinBudget(SessionState* state,
                                               const SnapshotKey* key,
                                               size_t max_bytes,
                                               FitReport* report);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SNAPSHOT_BUDGET_H_
