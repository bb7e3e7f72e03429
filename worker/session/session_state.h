// SessionState: everything the worker needs to carry on after a restart on an
// empty disk (a new Heroku or Render dyno), as plain values. The snapshot
// codec turns it into one versioned document (snapshot_codec.h); the session
// manager collects it from the local stores and merges a restored one back.
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_STATE_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "worker/forward/event_outbox.h"
#include "worker/inbound/inbound_store.h"
#include "worker/model/outbound_message.h"

namespace dynoguard::worker {

// An inbound dedup key (inbound_policy.h) and when it was first seen.
struct SeenKey {
  std::string key;
  int64_t at_ms = 0;
  friend bool operator==(const SeenKey&, const SeenKey&) = default;
};

// A contact's last inbound message: the start of its 24-hour window.
struct ContactWindow {
  std::string wa_id;
  int64_t last_inbound_ms = 0;
  friend bool operator==(const ContactWindow&, const ContactWindow&) = default;
};

// The transport's connection facts at the time of the snapshot.
struct ConnectionFacts {
  std::string state;   // ToString(ConnectionState): "connected", …
  std::string reason;  // why not connected, "" when connected
  std::optional<int64_t> last_heartbeat_ms;
  std::optional<int64_t> last_inbound_ms;
  std::optional<int64_t> last_outbound_ms;
  friend bool operator==(const ConnectionFacts&,
                         const ConnectionFacts&) = default;
};

struct SessionState {
  // The header.
  std::string name;       // SESSION_NAME
  uint64_t sequence = 0;  // increases with every snapshot of this session
  int64_t saved_ms = 0;   // when it was taken (ms since the epoch)
  std::string transport;  // "sandbox" or "cloud"

  // Essential: never dropped to fit SESSION_MAX_BYTES.
  // Queued and sending messages, oldest first (MessageQueue::Pending).
  std::vector<OutboundMessage> pending;

  // Non-essential, dropped oldest first when the snapshot is too large.
  // Sent or delivered messages that may still get a status callback (they
  // have a provider id), oldest first.
  std::vector<OutboundMessage> awaiting_status;
  // Webhook bodies answered 200 but not processed yet, oldest first.
  std::vector<InboxRow> inbox;
  // The forwarding outbox's pending events, oldest first.
  std::vector<StoredEvent> outbox;
  // The inbound dedup window (7 days), oldest first.
  std::vector<SeenKey> seen;
  // The 24-hour windows still open, oldest first.
  std::vector<ContactWindow> windows;

  ConnectionFacts connection;
  // Counters carried across instances ("sends_sent", "sends_failed", …).
  std::map<std::string, int64_t> counters;
};

// What a restore (or a size cap) dropped or kept, for logs and
// /session-status.
struct SessionCounts {
  size_t pending = 0;
  size_t awaiting_status = 0;
  size_t inbox = 0;
  size_t outbox = 0;
  size_t seen = 0;
  size_t windows = 0;
};
SessionCounts CountsOf(const SessionState& state);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_STATE_H_
