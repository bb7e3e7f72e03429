// Snapshots of the worker's moving parts that the HTTP API reports (/health,
// /session-status, /api/queue). Plain values, copied out under the owner's
// lock.
#ifndef DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_
#define DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// The WhatsApp session as /session-status shows it (SPEC §5).
struct SessionStatus {
  std::string transport;  // "sandbox" or "cloud"
  ConnectionState state = ConnectionState::kStarting;
  int64_t started_ms = 0;  // worker start, ms since the epoch
  std::optional<int64_t>
      last_heartbeat_ms;  // keep-alive heartbeat (cloud transport)
  struct Backup {
    int64_t at_ms = 0;
    std::string store;   // "file", "jsonbin", "mongodb", "postgres"
    std::string result;  // "ok" or the error
  };
  std::optional<Backup> last_backup;
  std::optional<std::string>
      restored_from;  // where the session came from at start
};

// The single-flight dispatcher as /api/queue shows it.
struct DispatcherStatus {
  std::optional<std::string> in_flight_id;  // the message being sent now
  std::optional<int64_t> next_send_ms;  // earliest time the next send may start
  bool stopping = false;                // draining for shutdown
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_
