// Snapshots of the worker's moving parts that the HTTP API reports (/health,
// /session-status, /api/queue). Plain values, copied out under the owner's
// lock.
#ifndef DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_
#define DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// The WhatsApp session as /session-status shows it (SPEC §5).
struct SessionStatus {
  std::string transport;  // "sandbox" or "cloud"
  ConnectionState state = ConnectionState::kStarting;
  std::string
      reason;  // why not connected ("token_invalid", …); "" when connected
  int64_t started_ms = 0;  // worker start, ms since the epoch
  // Activity: the last inbound message processed, the last send the provider
  // accepted (nullopt: none since the start).
  std::optional<int64_t> last_inbound_ms;
  std::optional<int64_t> last_outbound_ms;
  bool forwarding = false;  // WEBHOOK_URL is set: events go to the outbox
  // Every send held (a token or account error, or the transport not
  // connected), and why: the dispatcher's pause, on any transport.
  bool sends_paused = false;
  std::string pause_reason;
  std::optional<int64_t>
      last_heartbeat_ms;  // keep-alive heartbeat (cloud transport)
  // The session snapshot (SESSION_*).
  std::string session_name = "default";
  std::string storage = "file";  // SESSION_STORAGE_TYPE
  bool encrypted = false;        // SESSION_ENCRYPTION_KEY is set
  bool backup_enabled = true;    // ENABLE_SESSION_BACKUP
  uint64_t sequence = 0;         // the last snapshot made
  struct Backup {
    int64_t at_ms = 0;
    std::string store;   // "file", "jsonbin", "mongodb", "postgres"
    std::string result;  // "ok" or the error
    uint64_t bytes = 0;
    uint64_t sequence = 0;
  };
  // The configured store's last backup (the remote store's; the file's when
  // the store is the file), and the local file's.
  std::optional<Backup> last_backup;
  std::optional<Backup> last_file_backup;
  // Where the session came from at start: "file", "jsonbin", "postgres",
  // "mongodb", "local" (DATA_DIR kept it), "fresh"; nullopt before.
  std::optional<std::string> restored_from;
  std::string restore_detail;  // one line: what was found, what failed
  bool store_ok = true;        // the remote store's last call succeeded
  bool over_cap = false;  // pending messages alone exceed SESSION_MAX_BYTES
};

// The dispatcher as /api/queue, /health and /metrics show it.
struct DispatcherStatus {
  // The messages being sent now, oldest start first (at most
  // SEND_CONCURRENCY).
  std::vector<std::string> in_flight_ids;
  // The oldest of in_flight_ids, if any (what the single-flight queue showed).
  std::optional<std::string> in_flight_id;
  std::optional<int64_t> next_send_ms;  // earliest time the next send may start
  bool stopping = false;                // draining for shutdown
  // No send starts: the transport is not connected, or a provider answer
  // paused every send (token, account, spam limit). `pause_reason` says why:
  // the transport's reason when it is not connected, else the pause's
  // ("token_invalid", "account_blocked", ...: PauseReason).
  bool paused = false;
  std::string pause_reason;
  // Recipients waiting out a 131056 slow-down now.
  size_t slowed_recipients = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_RUNTIME_STATUS_H_
