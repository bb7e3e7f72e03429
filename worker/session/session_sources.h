// SessionSources: the local stores a session snapshot is taken from and
// merged back into, borrowed from the Gateway. Every part is thread-safe
// (the snapshot is taken on the session thread).
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_SOURCES_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_SOURCES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "worker/forward/event_outbox.h"
#include "worker/inbound/inbound_store.h"
#include "worker/outbound/message_queue.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

struct SessionSources {
  MessageQueue* queue = nullptr;  // required
  InboundStore* inbox = nullptr;  // required
  EventOutbox* outbox = nullptr;  // null without WEBHOOK_URL
  // The transport's facts now; thread-safe. Empty: none recorded.
  std::function<ConnectionFacts()> connection;
  // Counters to carry to the next instance; thread-safe. Empty: none.
  std::function<std::map<std::string, int64_t>()> counters;
};

// How much of each non-essential part a snapshot takes at most (the size
// cap then drops the oldest of what was taken).
struct CollectLimits {
  size_t seen = 100000;
  size_t windows = 50000;
  int awaiting_status = 5000;
  size_t inbox = 5000;
  int outbox = 50000;
  // When set, the pending messages are measured as they are read (as a
  // snapshot's payload would hold them: compressed, base64) and the collect
  // stops once they alone pass this many bytes: no snapshot could hold
  // them, and reading on would hold the whole queue in memory.
  size_t pending_max_bytes = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_SOURCES_H_
