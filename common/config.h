// Config: the typed configuration of both binaries, read from environment
// variables (SPEC §3). Parsing is a pure function of a name → value map so it
// is unit-tested without touching the process environment; main() builds the
// map from `environ`.
#ifndef DYNOGUARD_COMMON_CONFIG_H_
#define DYNOGUARD_COMMON_CONFIG_H_

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/memory_probe.h"
#include "common/redacted.h"
#include "common/status.h"

namespace dynoguard::common {

using EnvMap = std::map<std::string, std::string, std::less<>>;

// The current process environment as a map.
EnvMap EnvironmentMap();

enum class TransportKind { kSandbox, kCloud };
enum class SessionStorageKind { kFile, kJsonBin, kMongoDb, kPostgres };
enum class LogFormat { kText, kJson };
// Which HTTP requests get a log line (LOG_REQUESTS): `errors` logs 5xx and
// slow requests (4xx at debug level); `all` logs every request.
enum class LogRequests { kErrors, kAll };

// LISTEN_SOCKET: whether the supervisor binds HOST:PORT and hands it over as
// fd 3 (kPass) or binds nothing and leaves PORT to the command (kNone).
enum class ListenSocketMode { kPass, kNone };

// WORKER_READY: how the supervisor learns the command serves.
enum class ReadyMode {
  kNotify,   // READY=1 on NOTIFY_SOCKET
  kStarted,  // at exec
  kHttp,     // the first HTTP answer (any status) from 127.0.0.1:$PORT/PATH
};

struct WorkerReady {
  ReadyMode mode = ReadyMode::kNotify;
  std::string http_path;  // kHttp only: begins with '/'
};

// CLEANUP_SIGNALS: the standard and emergency cleanup signals, or none.
struct CleanupSignals {
  bool enabled = true;  // false: "none" (memory restarts still happen)
  int standard = SIGUSR1;
  int emergency = SIGUSR2;
};

struct Config {
  // Where the HTTP API listens. Default: 0.0.0.0:8080.
  std::string host = "0.0.0.0";
  int port = 8080;
  // Local state: queue, session file, control socket. Default: ./data.
  std::string data_dir = "./data";

  // Memory budget in bytes; 0 = detect (cgroup limit, else MemTotal). Default:
  // 0.
  uint64_t memory_limit_bytes = 0;
  MemorySource memory_source = MemorySource::kRss;  // Default: rss.
  std::chrono::milliseconds memory_poll{1000};
  double standard_percent = 70;
  double emergency_percent = 85;
  double restart_percent = 95;
  std::chrono::seconds emergency_grace{15};
  std::chrono::seconds cleanup_cooldown{30};
  bool memory_optimization = true;

  std::chrono::seconds worker_stop_timeout{20};
  std::chrono::seconds worker_watchdog{60};  // 0 = off
  std::chrono::milliseconds restart_backoff_min{100};
  std::chrono::milliseconds restart_backoff_max{30000};

  // The supervisor's state machine: a worker not ready this long after its
  // spawn is restarted (reason start-timeout); 0 = never. Default: 60 s
  // (WORKER_START_TIMEOUT_S, 0 to 86400). The poll period while usage is at
  // or above the standard threshold. Default: 100 ms, or MEMORY_POLL_MS when
  // that is shorter (MEMORY_POLL_FAST_MS, 10 to 60000, at most
  // MEMORY_POLL_MS).
  std::chrono::seconds worker_start_timeout{60};
  std::chrono::milliseconds memory_poll_fast{100};

  // How the supervised command is driven (SPEC §3-§4). Unset (nullopt) means
  // "the default for the command": our worker speaks every protocol, another
  // COMMAND none; the supervisor resolves them (ResolveWorkerProtocol).
  std::optional<ListenSocketMode> listen_socket;
  std::optional<CleanupSignals> cleanup_signals;
  std::optional<WorkerReady> worker_ready;
  // What a graceful stop sends first, to the worker's process group. Default:
  // SIGTERM.
  int stop_signal = SIGTERM;

  Redacted api_key;  // empty = loopback clients only
  uint64_t max_body_bytes = 16384;
  std::chrono::milliseconds send_delay{600};
  // Sends in flight at once, always to different recipients (SPEC §3).
  int send_concurrency = 1;
  // The largest upload POST /api/media accepts (streamed to DATA_DIR/tmp).
  uint64_t media_max_bytes = 16 * 1024 * 1024;
  int send_max_attempts = 5;
  std::chrono::milliseconds send_retry_base{2000};

  TransportKind transport = TransportKind::kSandbox;
  Redacted whatsapp_token;
  std::string whatsapp_phone_number_id;
  Redacted whatsapp_app_secret;
  Redacted whatsapp_verify_token;
  std::string whatsapp_api_base = "https://graph.facebook.com/v25.0";
  std::string webhook_url;
  Redacted webhook_secret;

  SessionStorageKind session_storage = SessionStorageKind::kFile;
  Redacted jsonbin_master_key;
  Redacted jsonbin_api_key;
  std::string jsonbin_bin_id;
  std::string jsonbin_base_url = "https://api.jsonbin.io/v3";
  Redacted mongodb_uri;
  Redacted database_url;
  // The session's key in a shared store (SPEC §3); letters, digits, . _ -.
  std::string session_name = "default";
  // 32 bytes as hex or base64 (checked by the worker at start).
  Redacted session_encryption_key;
  bool session_backup = true;
  std::chrono::seconds session_autosave{10};
  uint64_t session_max_bytes = 524288;

  std::chrono::seconds heartbeat{30};
  std::chrono::seconds connection_check{60};
  LogFormat log_format = LogFormat::kText;
  LogRequests log_requests = LogRequests::kErrors;
  bool debug_endpoints = false;

  // "heroku" when DYNO is set, "render" when RENDER is set, else empty: a
  // platform whose instances start on an empty disk (DATA_DIR is lost on
  // every restart; the worker warns at start while no session store exists).
  std::string ephemeral_platform;

  // Every secret value that is set, for the logger's guard.
  std::vector<std::string> Secrets() const;
};

// Parses and validates every variable SPEC §3 names. On failure the Status
// message is one line naming the variable and what is allowed, e.g.
// "MEMORY_POLL_MS: expected an integer from 50 to 600000, got 'abc'". main()
// exits 2 with it.
Result<Config> ParseConfig(const EnvMap& env);

std::string_view ToString(TransportKind kind);
std::string_view ToString(SessionStorageKind kind);

// "SIGTERM" for 15; the number in decimal for a signal without a name.
std::string SignalName(int signal);
// The signal named `name`: "SIGUSR1", "USR1" or "sigusr1"; nullopt when no
// signal has that name (numbers are not accepted).
std::optional<int> ParseSignalName(std::string_view name);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_CONFIG_H_
