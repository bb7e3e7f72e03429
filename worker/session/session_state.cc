#include "worker/session/session_state.h"

namespace dynoguard::worker {

SessionCounts CountsOf(const SessionState& state) {
  SessionCounts c;
  c.pending = state.pending.size();
  c.awaiting_status = state.awaiting_status.size();
  c.inbox = state.inbox.size();
  c.outbox = state.outbox.size();
  c.seen = state.seen.size();
  c.windows = state.windows.size();
  return c;
}

}  // namespace dynoguard::worker
