#include "common/config.h"

#include <fmt/format.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "common/byte_size.h"

extern char** environ;

namespace dynoguard::common {
namespace {

// Reads typed values out of the map; the first error wins and later reads
// become no-ops, so ParseConfig reads like the table in SPEC §3 and still
// reports exactly one line.
class EnvReader {
 public:
  explicit EnvReader(const EnvMap& env) : env_(env) {}

  const Status& status() const { return status_; }

  // The raw value, or nullopt when unset or empty (an empty Heroku config var
  // means "unset").
  std::optional<std::string> Raw(std::string_view name) const {
    auto it = env_.find(name);
    if (it == env_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }

  void String(std::string_view name, std::string& out) {
    if (auto raw = Raw(name)) out = *raw;
  }
  void Secret(std::string_view name, Redacted& out) {
    if (auto raw = Raw(name)) out = Redacted(*raw);
  }

  void Integer(std::string_view name, int64_t min, int64_t max, int64_t& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    int64_t value = 0;
    const char* end = raw->data() + raw->size();
    auto [ptr, ec] = std::from_chars(raw->data(), end, value);
    if (ec != std::errc() || ptr != end || value < min || value > max) {
      Fail(name, fmt::format("an integer from {} to {}", min, max), *raw);
      return;
    }
    out = value;
  }

  template <typename Duration>
  void Duration_(std::string_view name, int64_t min, int64_t max,
                 Duration& out) {
    int64_t count = out.count();
    Integer(name, min, max, count);
    out = Duration(count);
  }

  void Int(std::string_view name, int64_t min, int64_t max, int& out) {
    int64_t value = out;
    Integer(name, min, max, value);
    out = static_cast<int>(value);
  }

  void Bytes(std::string_view name, uint64_t min, uint64_t max, uint64_t& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    std::optional<uint64_t> value = ParseByteSize(*raw);
    if (!value || *value < min || *value > max) {
      Fail(name,
           fmt::format("a size from {} to {} (bytes, or with a unit: 16k, "
                       "1M, 1.5MiB)",
                       FormatByteSize(min), FormatByteSize(max)),
           *raw);
      return;
    }
    out = *value;
  }

  void Percent(std::string_view name, double& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    double value = 0;
    const char* end = raw->data() + raw->size();
    auto [ptr, ec] = std::from_chars(raw->data(), end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value) ||
        value <= 0 || value > 100) {
      Fail(name, "a number above 0 and at most 100", *raw);
      return;
    }
    out = value;
  }

  void Bool(std::string_view name, bool& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    std::string lower;
    for (char c : *raw)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
      out = true;
    } else if (lower == "false" || lower == "0" || lower == "no" ||
               lower == "off") {
      out = false;
    } else {
      Fail(name, "true or false", *raw);
    }
  }

  template <typename Enum>
  void Choice(std::string_view name,
              std::initializer_list<std::pair<std::string_view, Enum>> choices,
              Enum& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    std::string allowed;
    for (const auto& [text, value] : choices) {
      if (*raw == text) {
        out = value;
        return;
      }
      allowed += allowed.empty() ? "" : ", ";
      allowed += text;
    }
    Fail(name, "one of " + allowed, *raw);
  }

  // A signal name (SIGTERM, TERM, sigterm).
  void Signal(std::string_view name, int& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    if (auto sig = ParseSignalName(*raw)) {
      out = *sig;
      return;
    }
    Fail(name, "a signal name such as SIGTERM or SIGINT", *raw);
  }

  // CLEANUP_SIGNALS: "none" or two different catchable signal names separated
  // by a comma, standard first.
  void SignalPair(std::string_view name, std::optional<CleanupSignals>& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    constexpr std::string_view kAllowed =
        "none or two different signal names, standard first "
        "(SIGUSR1,SIGUSR2)";
    if (strcasecmp(raw->c_str(), "none") == 0) {
      out = CleanupSignals{
          .enabled = false, .standard = SIGUSR1, .emergency = SIGUSR2};
      return;
    }
    size_t comma = raw->find(',');
    if (comma == std::string::npos) {
      Fail(name, kAllowed, *raw);
      return;
    }
    auto trim = [](std::string_view s) {
      while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      return s;
    };
    std::string_view text(*raw);
    auto standard = ParseSignalName(trim(text.substr(0, comma)));
    auto emergency = ParseSignalName(trim(text.substr(comma + 1)));
    // SIGKILL and SIGSTOP cannot be handled, so they can never mean "clean
    // up".
    auto catchable = [](std::optional<int> sig) {
      return sig && *sig != SIGKILL && *sig != SIGSTOP;
    };
    if (!catchable(standard) || !catchable(emergency) ||
        *standard == *emergency) {
      Fail(name, kAllowed, *raw);
      return;
    }
    out = CleanupSignals{
        .enabled = true, .standard = *standard, .emergency = *emergency};
  }

  // WORKER_READY: notify, started or http:/PATH.
  void Ready(std::string_view name, std::optional<WorkerReady>& out) {
    auto raw = Raw(name);
    if (!raw || !status_.ok()) return;
    constexpr std::string_view kHttpPrefix = "http:";
    if (*raw == "notify") {
      out = WorkerReady{.mode = ReadyMode::kNotify, .http_path = {}};
    } else if (*raw == "started") {
      out = WorkerReady{.mode = ReadyMode::kStarted, .http_path = {}};
    } else if (raw->starts_with(kHttpPrefix) &&
               raw->size() > kHttpPrefix.size() &&
               (*raw)[kHttpPrefix.size()] == '/' &&
               raw->find_first_of(" \t\r\n") == std::string::npos) {
      out = WorkerReady{.mode = ReadyMode::kHttp,
                        .http_path = raw->substr(kHttpPrefix.size())};
    } else {
      Fail(name, "notify, started or http:/PATH (e.g. http:/health)", *raw);
    }
  }

  // A rule across variables; `message` is the whole line.
  void Require(bool condition, std::string_view message) {
    if (!condition && status_.ok()) status_ = Status::InvalidArgument(message);
  }

 private:
  void Fail(std::string_view name, std::string_view allowed,
            std::string_view got) {
    if (!status_.ok()) return;
    // Values are shown truncated; config values here are not secrets (secrets
    // are strings and are never validated this way).
    std::string shown(got.substr(0, 40));
    status_ = Status::InvalidArgument(
        fmt::format("{}: expected {}, got '{}'", name, allowed, shown));
  }

  const EnvMap& env_;
  Status status_;
};

}  // namespace

EnvMap EnvironmentMap() {
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)),
                std::string(text.substr(eq + 1)));
  }
  return env;
}

namespace {

// SESSION_NAME is a key in a shared store (a row, a document, a bin name).
bool IsSessionName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                    ch == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<Config> ParseConfig(const EnvMap& env) {
  Config c;
  EnvReader r(env);

  r.String("HOST", c.host);
  r.Int("PORT", 0, 65535, c.port);
  r.String("DATA_DIR", c.data_dir);

  int64_t limit_mb = 0;
  r.Integer("MEMORY_LIMIT_MB", 16, 1024 * 1024, limit_mb);
  c.memory_limit_bytes = static_cast<uint64_t>(limit_mb) * 1024 * 1024;
  r.Choice<MemorySource>("MEMORY_SOURCE",
                         {{"rss", MemorySource::kRss},
                          {"pss", MemorySource::kPss},
                          {"cgroup", MemorySource::kCgroup}},
                         c.memory_source);
  r.Duration_("MEMORY_POLL_MS", 50, 600000, c.memory_poll);
  r.Percent("MEMORY_STANDARD_PERCENT", c.standard_percent);
  r.Percent("MEMORY_EMERGENCY_PERCENT", c.emergency_percent);
  r.Percent("MEMORY_RESTART_PERCENT", c.restart_percent);
  r.Duration_("MEMORY_EMERGENCY_GRACE_S", 1, 3600, c.emergency_grace);
  r.Duration_("MEMORY_CLEANUP_COOLDOWN_S", 0, 3600, c.cleanup_cooldown);
  r.Bool("ENABLE_MEMORY_OPTIMIZATION", c.memory_optimization);
  r.Require(
      c.standard_percent < c.emergency_percent &&
          c.emergency_percent < c.restart_percent,
      fmt::format("MEMORY_STANDARD_PERCENT < MEMORY_EMERGENCY_PERCENT < "
                  "MEMORY_RESTART_PERCENT required, got {} / {} / {}",
                  c.standard_percent, c.emergency_percent, c.restart_percent));

  r.Duration_("WORKER_STOP_TIMEOUT_S", 1, 3600, c.worker_stop_timeout);
  r.Duration_("WORKER_WATCHDOG_S", 0, 86400, c.worker_watchdog);
  r.Duration_("RESTART_BACKOFF_MIN_MS", 10, 3600000, c.restart_backoff_min);
  r.Duration_("RESTART_BACKOFF_MAX_MS", 10, 3600000, c.restart_backoff_max);
  r.Require(c.restart_backoff_min <= c.restart_backoff_max,
            fmt::format("RESTART_BACKOFF_MIN_MS must not exceed "
                        "RESTART_BACKOFF_MAX_MS, got {} > {}",
                        c.restart_backoff_min.count(),
                        c.restart_backoff_max.count()));

  r.Duration_("WORKER_START_TIMEOUT_S", 0, 86400, c.worker_start_timeout);
  c.memory_poll_fast = std::min(c.memory_poll_fast, c.memory_poll);
  r.Duration_("MEMORY_POLL_FAST_MS", 10, 60000, c.memory_poll_fast);
  r.Require(c.memory_poll_fast <= c.memory_poll,
            fmt::format("MEMORY_POLL_FAST_MS must not exceed MEMORY_POLL_MS, "
                        "got {} > {}",
                        c.memory_poll_fast.count(), c.memory_poll.count()));

  // Unset here means "the default for the command" (see Config).
  if (r.Raw("LISTEN_SOCKET")) {
    ListenSocketMode mode = ListenSocketMode::kPass;
    r.Choice<ListenSocketMode>(
        "LISTEN_SOCKET",
        {{"pass", ListenSocketMode::kPass}, {"none", ListenSocketMode::kNone}},
        mode);
    c.listen_socket = mode;
  }
  r.SignalPair("CLEANUP_SIGNALS", c.cleanup_signals);
  r.Ready("WORKER_READY", c.worker_ready);
  r.Signal("STOP_SIGNAL", c.stop_signal);

  r.Secret("API_KEY", c.api_key);
  r.Bytes("MAX_BODY_BYTES", 256, 64 * 1024 * 1024, c.max_body_bytes);
  r.Duration_("SEND_DELAY_MS", 0, 600000, c.send_delay);
  r.Int("SEND_CONCURRENCY", 1, 64, c.send_concurrency);
  r.Bytes("MEDIA_MAX_BYTES", 1024, uint64_t{1} << 30, c.media_max_bytes);
  r.Int("SEND_MAX_ATTEMPTS", 1, 100, c.send_max_attempts);
  r.Duration_("SEND_RETRY_BASE_MS", 1, 3600000, c.send_retry_base);

  r.Secret("WHATSAPP_TOKEN", c.whatsapp_token);
  c.transport = c.whatsapp_token.empty() ? TransportKind::kSandbox
                                         : TransportKind::kCloud;
  r.Choice<TransportKind>(
      "TRANSPORT",
      {{"sandbox", TransportKind::kSandbox}, {"cloud", TransportKind::kCloud}},
      c.transport);
  r.String("WHATSAPP_PHONE_NUMBER_ID", c.whatsapp_phone_number_id);
  r.Secret("WHATSAPP_APP_SECRET", c.whatsapp_app_secret);
  r.Secret("WHATSAPP_VERIFY_TOKEN", c.whatsapp_verify_token);
  r.String("WHATSAPP_API_BASE", c.whatsapp_api_base);
  r.String("WEBHOOK_URL", c.webhook_url);
  r.Secret("WEBHOOK_SECRET", c.webhook_secret);
  r.Require(
      c.transport != TransportKind::kCloud ||
          (!c.whatsapp_token.empty() && !c.whatsapp_phone_number_id.empty()),
      "TRANSPORT=cloud requires WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID");

  r.Choice<SessionStorageKind>("SESSION_STORAGE_TYPE",
                               {{"file", SessionStorageKind::kFile},
                                {"jsonbin", SessionStorageKind::kJsonBin},
                                {"mongodb", SessionStorageKind::kMongoDb},
                                {"postgres", SessionStorageKind::kPostgres}},
                               c.session_storage);
  r.Secret("JSONBIN_MASTER_KEY", c.jsonbin_master_key);
  r.Secret("JSONBIN_API_KEY", c.jsonbin_api_key);
  r.String("JSONBIN_BIN_ID", c.jsonbin_bin_id);
  r.String("JSONBIN_BASE_URL", c.jsonbin_base_url);
  r.Secret("MONGODB_URI", c.mongodb_uri);
  r.Secret("DATABASE_URL", c.database_url);
  r.String("SESSION_NAME", c.session_name);
  r.Require(IsSessionName(c.session_name),
            "SESSION_NAME: expected 1 to 64 letters, digits, '.', '_' or '-', "
            "got '" +
                c.session_name.substr(0, 40) + "'");
  r.Secret("SESSION_ENCRYPTION_KEY", c.session_encryption_key);
  r.Require(c.session_storage != SessionStorageKind::kJsonBin ||
                !c.jsonbin_master_key.empty() || !c.jsonbin_api_key.empty(),
            "SESSION_STORAGE_TYPE=jsonbin requires JSONBIN_MASTER_KEY or "
            "JSONBIN_API_KEY");
  r.Require(c.session_storage != SessionStorageKind::kMongoDb ||
                !c.mongodb_uri.empty(),
            "SESSION_STORAGE_TYPE=mongodb requires MONGODB_URI");
  r.Require(c.session_storage != SessionStorageKind::kPostgres ||
                !c.database_url.empty(),
            "SESSION_STORAGE_TYPE=postgres requires DATABASE_URL");
  r.Bool("ENABLE_SESSION_BACKUP", c.session_backup);
  r.Duration_("SESSION_AUTOSAVE_S", 1, 86400, c.session_autosave);
  r.Bytes("SESSION_MAX_BYTES", 1024, 64 * 1024 * 1024, c.session_max_bytes);

  r.Duration_("HEARTBEAT_S", 1, 86400, c.heartbeat);
  r.Duration_("CONNECTION_CHECK_S", 1, 86400, c.connection_check);
  r.Choice<LogFormat>("LOG_FORMAT",
                      {{"text", LogFormat::kText}, {"json", LogFormat::kJson}},
                      c.log_format);
  r.Choice<LogRequests>(
      "LOG_REQUESTS",
      {{"errors", LogRequests::kErrors}, {"all", LogRequests::kAll}},
      c.log_requests);
  r.Bool("DEBUG_ENDPOINTS", c.debug_endpoints);
  if (env.find("DYNO") != env.end()) {
    c.ephemeral_platform = "heroku";
  } else if (env.find("RENDER") != env.end()) {
    c.ephemeral_platform = "render";
  }

  if (!r.status().ok()) return r.status();
  return c;
}

std::vector<std::string> Config::Secrets() const {
  std::vector<std::string> secrets;
  for (const Redacted* secret :
       {&api_key, &whatsapp_token, &whatsapp_app_secret, &whatsapp_verify_token,
        &webhook_secret, &jsonbin_master_key, &jsonbin_api_key, &mongodb_uri,
        &database_url, &session_encryption_key}) {
    if (!secret->empty()) secrets.push_back(secret->Reveal());
  }
  return secrets;
}

std::string_view ToString(TransportKind kind) {
  return kind == TransportKind::kCloud ? "cloud" : "sandbox";
}

std::string_view ToString(SessionStorageKind kind) {
  switch (kind) {
    case SessionStorageKind::kFile:
      return "file";
    case SessionStorageKind::kJsonBin:
      return "jsonbin";
    case SessionStorageKind::kMongoDb:
      return "mongodb";
    case SessionStorageKind::kPostgres:
      return "postgres";
  }
  return "?";
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev
                           : std::to_string(signal);
}

std::optional<int> ParseSignalName(std::string_view name) {
  if (name.size() > 3 && strncasecmp(name.data(), "SIG", 3) == 0)
    name.remove_prefix(3);
  if (name.empty()) return std::nullopt;
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && std::strlen(abbrev) == name.size() &&
        strncasecmp(abbrev, name.data(), name.size()) == 0) {
      return sig;
    }
  }
  return std::nullopt;
}

}  // namespace dynoguard::common
