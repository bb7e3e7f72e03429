#include "common/config.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <tuple>

namespace dynoguard::common {
namespace {

TEST_CASE("config: defaults match SPEC section 3", "[config]") {
  auto config = ParseConfig({});
  REQUIRE(config.ok());
  CHECK(config->port == 8080);
  CHECK(config->host == "0.0.0.0");
  CHECK(config->data_dir == "./data");
  CHECK(config->memory_limit_bytes == 0);
  CHECK(config->memory_source == MemorySource::kRss);
  CHECK(config->memory_poll == std::chrono::milliseconds(1000));
  CHECK(config->standard_percent == 70);
  CHECK(config->emergency_percent == 85);
  CHECK(config->restart_percent == 95);
  CHECK(config->emergency_grace == std::chrono::seconds(15));
  CHECK(config->cleanup_cooldown == std::chrono::seconds(30));
  CHECK(config->memory_optimization);
  CHECK(config->worker_stop_timeout == std::chrono::seconds(20));
  CHECK(config->worker_watchdog == std::chrono::seconds(60));
  CHECK(config->restart_backoff_min == std::chrono::milliseconds(100));
  CHECK(config->restart_backoff_max == std::chrono::milliseconds(30000));
  CHECK(config->max_body_bytes == 16384);
  CHECK(config->send_delay == std::chrono::milliseconds(600));
  CHECK(config->send_concurrency == 1);
  CHECK(config->media_max_bytes == 16 * 1024 * 1024);
  CHECK(config->transport == TransportKind::kSandbox);
  CHECK(config->session_storage == SessionStorageKind::kFile);
  CHECK(config->log_format == LogFormat::kText);
  CHECK(config->heartbeat == std::chrono::seconds(30));
  CHECK(config->connection_check == std::chrono::seconds(60));
  CHECK(config->log_requests == LogRequests::kErrors);
  CHECK_FALSE(config->debug_endpoints);
}

TEST_CASE("config: LOG_REQUESTS is errors or all", "[config]") {
  auto all = ParseConfig({{"LOG_REQUESTS", "all"}});
  REQUIRE(all.ok());
  CHECK(all->log_requests == LogRequests::kAll);
  auto errors = ParseConfig({{"LOG_REQUESTS", "errors"}});
  REQUIRE(errors.ok());
  CHECK(errors->log_requests == LogRequests::kErrors);
  auto bad = ParseConfig({{"LOG_REQUESTS", "some"}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("LOG_REQUESTS") != std::string::npos);
}

TEST_CASE("config: values are parsed with their types", "[config]") {
  auto config = ParseConfig({{"PORT", "9000"},
                             {"MEMORY_LIMIT_MB", "512"},
                             {"MEMORY_SOURCE", "pss"},
                             {"MEMORY_STANDARD_PERCENT", "60.5"},
                             {"ENABLE_MEMORY_OPTIMIZATION", "FALSE"},
                             {"DEBUG_ENDPOINTS", "1"},
                             {"LOG_FORMAT", "json"},
                             {"SESSION_STORAGE_TYPE", "postgres"},
                             {"DATABASE_URL", "postgres://u:p@db/x"}});
  REQUIRE(config.ok());
  CHECK(config->port == 9000);
  CHECK(config->memory_limit_bytes == 512ull * 1024 * 1024);
  CHECK(config->memory_source == MemorySource::kPss);
  CHECK(config->standard_percent == 60.5);
  CHECK_FALSE(config->memory_optimization);
  CHECK(config->debug_endpoints);
  CHECK(config->log_format == LogFormat::kJson);
  CHECK(config->session_storage == SessionStorageKind::kPostgres);
}

TEST_CASE("config: byte sizes take units", "[config]") {
  auto config =
      ParseConfig({{"MAX_BODY_BYTES", "64k"}, {"SESSION_MAX_BYTES", "1.5MiB"}});
  REQUIRE(config.ok());
  CHECK(config->max_body_bytes == 64 * 1024);
  CHECK(config->session_max_bytes == 3 * 1024 * 1024 / 2);
  CHECK(ParseConfig({{"MAX_BODY_BYTES", "65536"}})->max_body_bytes == 65536);

  auto too_big = ParseConfig({{"MAX_BODY_BYTES", "65M"}});
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().message() ==
        "MAX_BODY_BYTES: expected a size from 256 B to 64 MiB (bytes, or with "
        "a unit: 16k, 1M, 1.5MiB), got '65M'");
  CHECK_FALSE(ParseConfig({{"MAX_BODY_BYTES", "lots"}}).ok());
  CHECK_FALSE(ParseConfig({{"MAX_BODY_BYTES", "100"}}).ok());
}

TEST_CASE("config: an empty value means unset", "[config]") {
  auto config = ParseConfig({{"PORT", ""}, {"MEMORY_SOURCE", ""}});
  REQUIRE(config.ok());
  CHECK(config->port == 8080);
}

TEST_CASE("config: a bad number names the variable and the range", "[config]") {
  auto config = ParseConfig({{"MEMORY_POLL_MS", "abc"}});
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == Status::Code::kInvalidArgument);
  CHECK(config.status().message() ==
        "MEMORY_POLL_MS: expected an integer from 50 to 600000, got 'abc'");
  CHECK_FALSE(ParseConfig({{"PORT", "70000"}}).ok());
  CHECK_FALSE(ParseConfig({{"PORT", "80x"}}).ok());
  CHECK_FALSE(ParseConfig({{"PORT", "-1"}}).ok());
  CHECK_FALSE(ParseConfig({{"MEMORY_STANDARD_PERCENT", "0"}}).ok());
  CHECK_FALSE(ParseConfig({{"MEMORY_STANDARD_PERCENT", "nan"}}).ok());
}

TEST_CASE("config: an unknown enum value lists what is allowed", "[config]") {
  auto config = ParseConfig({{"MEMORY_SOURCE", "vsz"}});
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() ==
        "MEMORY_SOURCE: expected one of rss, pss, cgroup, got 'vsz'");
  auto boolean = ParseConfig({{"ENABLE_SESSION_BACKUP", "maybe"}});
  REQUIRE_FALSE(boolean.ok());
  CHECK(boolean.status().message() ==
        "ENABLE_SESSION_BACKUP: expected true or false, got 'maybe'");
}

TEST_CASE("config: thresholds must keep standard < emergency < restart",
          "[config]") {
  auto config = ParseConfig({{"MEMORY_STANDARD_PERCENT", "90"}});
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message().find(
            "MEMORY_STANDARD_PERCENT < MEMORY_EMERGENCY_PERCENT") == 0);
  CHECK_FALSE(ParseConfig({{"MEMORY_EMERGENCY_PERCENT", "95"}}).ok());
  CHECK(ParseConfig({{"MEMORY_STANDARD_PERCENT", "50"},
                     {"MEMORY_EMERGENCY_PERCENT", "60"},
                     {"MEMORY_RESTART_PERCENT", "70"}})
            .ok());
}

TEST_CASE("config: backoff minimum may not exceed maximum", "[config]") {
  CHECK_FALSE(ParseConfig({{"RESTART_BACKOFF_MIN_MS", "5000"},
                           {"RESTART_BACKOFF_MAX_MS", "1000"}})
                  .ok());
}

TEST_CASE("config: start timeout and fast poll have SPEC defaults",
          "[config]") {
  auto config = ParseConfig({});
  REQUIRE(config.ok());
  CHECK(config->worker_start_timeout == std::chrono::seconds(60));
  CHECK(config->memory_poll_fast == std::chrono::milliseconds(100));
  auto set = ParseConfig(
      {{"WORKER_START_TIMEOUT_S", "0"}, {"MEMORY_POLL_FAST_MS", "250"}});
  REQUIRE(set.ok());
  CHECK(set->worker_start_timeout == std::chrono::seconds(0));
  CHECK(set->memory_poll_fast == std::chrono::milliseconds(250));
}

TEST_CASE("config: the fast poll never exceeds the standard poll", "[config]") {
  // Unset, it follows a standard poll shorter than its default.
  auto short_poll = ParseConfig({{"MEMORY_POLL_MS", "50"}});
  REQUIRE(short_poll.ok());
  CHECK(short_poll->memory_poll_fast == std::chrono::milliseconds(50));
  auto slower =
      ParseConfig({{"MEMORY_POLL_MS", "500"}, {"MEMORY_POLL_FAST_MS", "600"}});
  REQUIRE_FALSE(slower.ok());
  CHECK(slower.status().message().find("MEMORY_POLL_FAST_MS") !=
        std::string::npos);
}

TEST_CASE("config: bad start timeout or fast poll name the variable",
          "[config]") {
  for (auto [name, value] : {std::pair{"WORKER_START_TIMEOUT_S", "-1"},
                             {"WORKER_START_TIMEOUT_S", "86401"},
                             {"MEMORY_POLL_FAST_MS", "9"},
                             {"MEMORY_POLL_FAST_MS", "abc"}}) {
    auto config = ParseConfig({{name, value}});
    INFO(name << "=" << value);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().message().rfind(std::string(name) + ":", 0) == 0);
  }
}

TEST_CASE("config: send and keep-alive variables take their whole range",
          "[config]") {
  auto low = ParseConfig({{"SEND_CONCURRENCY", "1"},
                          {"MEDIA_MAX_BYTES", "1k"},
                          {"HEARTBEAT_S", "1"},
                          {"CONNECTION_CHECK_S", "1"}});
  REQUIRE(low.ok());
  CHECK(low->send_concurrency == 1);
  CHECK(low->media_max_bytes == 1024);
  CHECK(low->heartbeat == std::chrono::seconds(1));
  CHECK(low->connection_check == std::chrono::seconds(1));
  auto high = ParseConfig({{"SEND_CONCURRENCY", "64"},
                           {"MEDIA_MAX_BYTES", "1GiB"},
                           {"HEARTBEAT_S", "86400"},
                           {"CONNECTION_CHECK_S", "86400"}});
  REQUIRE(high.ok());
  CHECK(high->send_concurrency == 64);
  CHECK(high->media_max_bytes == uint64_t{1} << 30);
  CHECK(high->heartbeat == std::chrono::seconds(86400));
  CHECK(high->connection_check == std::chrono::seconds(86400));
}

TEST_CASE(
    "config: send and keep-alive values out of range or malformed name the "
    "variable and the range",
    "[config]") {
  const std::string kConcurrency =
      "SEND_CONCURRENCY: expected an integer from 1 to 64, got ";
  const std::string kMedia =
      "MEDIA_MAX_BYTES: expected a size from 1 KiB to 1 GiB (bytes, or with a "
      "unit: 16k, 1M, 1.5MiB), got ";
  const std::string kHeartbeat =
      "HEARTBEAT_S: expected an integer from 1 to 86400, got ";
  const std::string kCheck =
      "CONNECTION_CHECK_S: expected an integer from 1 to 86400, got ";
  for (auto [name, value, message] :
       {std::tuple{"SEND_CONCURRENCY", "0", kConcurrency + "'0'"},
        {"SEND_CONCURRENCY", "65", kConcurrency + "'65'"},
        {"SEND_CONCURRENCY", "-1", kConcurrency + "'-1'"},
        {"SEND_CONCURRENCY", "4x", kConcurrency + "'4x'"},
        {"MEDIA_MAX_BYTES", "1023", kMedia + "'1023'"},
        {"MEDIA_MAX_BYTES", "2G", kMedia + "'2G'"},
        {"MEDIA_MAX_BYTES", "lots", kMedia + "'lots'"},
        {"HEARTBEAT_S", "0", kHeartbeat + "'0'"},
        {"HEARTBEAT_S", "86401", kHeartbeat + "'86401'"},
        {"HEARTBEAT_S", "30s", kHeartbeat + "'30s'"},
        {"CONNECTION_CHECK_S", "0", kCheck + "'0'"},
        {"CONNECTION_CHECK_S", "86401", kCheck + "'86401'"},
        {"CONNECTION_CHECK_S", "1.5", kCheck + "'1.5'"}}) {
    auto config = ParseConfig({{name, value}});
    INFO(name << "=" << value);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == Status::Code::kInvalidArgument);
    CHECK(config.status().message() == message);
  }
}

TEST_CASE("config: a WhatsApp token selects the cloud transport", "[config]") {
  auto config = ParseConfig(
      {{"WHATSAPP_TOKEN", "EAAG-secret"}, {"WHATSAPP_PHONE_NUMBER_ID", "1"}});
  REQUIRE(config.ok());
  CHECK(config->transport == TransportKind::kCloud);
  auto forced = ParseConfig(
      {{"WHATSAPP_TOKEN", "EAAG-secret"}, {"TRANSPORT", "sandbox"}});
  REQUIRE(forced.ok());
  CHECK(forced->transport == TransportKind::kSandbox);
  auto missing = ParseConfig({{"TRANSPORT", "cloud"}});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("WHATSAPP_TOKEN") != std::string::npos);
}

TEST_CASE("config: secrets are collected and never formatted", "[config]") {
  auto config = ParseConfig(
      {{"API_KEY", "key-123456"}, {"DATABASE_URL", "postgres://u:pw@h/db"}});
  REQUIRE(config.ok());
  auto secrets = config->Secrets();
  CHECK(secrets.size() == 2);
  CHECK(fmt::format("{}", config->api_key) == "[redacted]");
  CHECK(fmt::format("{}", config->webhook_secret) == "[unset]");
  CHECK(config->api_key.Reveal() == "key-123456");
}

TEST_CASE("config: the worker protocol variables are unset by default",
          "[config]") {
  auto config = ParseConfig({});
  REQUIRE(config.ok());
  CHECK_FALSE(config->listen_socket.has_value());
  CHECK_FALSE(config->cleanup_signals.has_value());
  CHECK_FALSE(config->worker_ready.has_value());
  CHECK(config->stop_signal == SIGTERM);
}

TEST_CASE("config: worker protocol variables are parsed", "[config]") {
  auto config = ParseConfig({{"LISTEN_SOCKET", "none"},
                             {"CLEANUP_SIGNALS", "SIGHUP, winch"},
                             {"WORKER_READY", "http:/health?deep=1"},
                             {"STOP_SIGNAL", "INT"}});
  REQUIRE(config.ok());
  CHECK(config->listen_socket == ListenSocketMode::kNone);
  REQUIRE(config->cleanup_signals.has_value());
  CHECK(config->cleanup_signals->enabled);
  CHECK(config->cleanup_signals->standard == SIGHUP);
  CHECK(config->cleanup_signals->emergency == SIGWINCH);
  REQUIRE(config->worker_ready.has_value());
  CHECK(config->worker_ready->mode == ReadyMode::kHttp);
  CHECK(config->worker_ready->http_path == "/health?deep=1");
  CHECK(config->stop_signal == SIGINT);

  auto other = ParseConfig({{"LISTEN_SOCKET", "pass"},
                            {"CLEANUP_SIGNALS", "none"},
                            {"WORKER_READY", "started"}});
  REQUIRE(other.ok());
  CHECK(other->listen_socket == ListenSocketMode::kPass);
  CHECK_FALSE(other->cleanup_signals->enabled);
  CHECK(other->worker_ready->mode == ReadyMode::kStarted);
  CHECK(ParseConfig({{"WORKER_READY", "notify"}})->worker_ready->mode ==
        ReadyMode::kNotify);
}

TEST_CASE("config: a bad worker protocol value names its variable",
          "[config]") {
  auto message = [](std::string name, std::string value) {
    auto config = ParseConfig({{name, value}});
    REQUIRE_FALSE(config.ok());
    return config.status().message();
  };
  CHECK(message("LISTEN_SOCKET", "fd3") ==
        "LISTEN_SOCKET: expected one of pass, none, got 'fd3'");
  CHECK(message("STOP_SIGNAL", "SIGNOPE") ==
        "STOP_SIGNAL: expected a signal name such as SIGTERM or SIGINT, got "
        "'SIGNOPE'");
  CHECK(message("STOP_SIGNAL", "15").starts_with("STOP_SIGNAL: "));
  CHECK(message("WORKER_READY", "http:health") ==
        "WORKER_READY: expected notify, started or http:/PATH (e.g. "
        "http:/health), got 'http:health'");
  CHECK(message("WORKER_READY", "http:/a b").starts_with("WORKER_READY: "));
  for (const char* bad : {"SIGUSR1", "SIGUSR1,SIGUSR1", "SIGUSR1,SIGKILL",
                          "SIGSTOP,SIGUSR2", "SIGUSR1,", "USR1,NOPE"}) {
    CAPTURE(bad);
    CHECK(message("CLEANUP_SIGNALS", bad)
              .starts_with("CLEANUP_SIGNALS: expected none or two different "
                           "signal names"));
  }
}

TEST_CASE("config: signal names round-trip", "[config]") {
  CHECK(SignalName(SIGTERM) == "SIGTERM");
  CHECK(SignalName(SIGUSR2) == "SIGUSR2");
  CHECK(ParseSignalName("SIGUSR1") == SIGUSR1);
  CHECK(ParseSignalName("usr1") == SIGUSR1);
  CHECK(ParseSignalName("sigint") == SIGINT);
  CHECK_FALSE(ParseSignalName("SIG").has_value());
  CHECK_FALSE(ParseSignalName("").has_value());
  CHECK_FALSE(ParseSignalName("9").has_value());
}

TEST_CASE("config: DYNO or RENDER mark a platform with an ephemeral disk",
          "[config]") {
  CHECK(ParseConfig({})->ephemeral_platform.empty());
  CHECK(ParseConfig({{"DYNO", "web.1"}})->ephemeral_platform == "heroku");
  CHECK(ParseConfig({{"RENDER", "true"}})->ephemeral_platform == "render");
}

TEST_CASE(
    "config: a session store needs its credentials, SESSION_NAME is a key",
    "[config]") {
  struct Case {
    EnvMap env;
    std::string message;  // empty: accepted
  };
  const Case cases[] = {
      {{{"SESSION_STORAGE_TYPE", "jsonbin"}},
       "SESSION_STORAGE_TYPE=jsonbin requires JSONBIN_MASTER_KEY or "
       "JSONBIN_API_KEY"},
      {{{"SESSION_STORAGE_TYPE", "jsonbin"}, {"JSONBIN_API_KEY", "k"}}, ""},
      {{{"SESSION_STORAGE_TYPE", "mongodb"}},
       "SESSION_STORAGE_TYPE=mongodb requires MONGODB_URI"},
      {{{"SESSION_STORAGE_TYPE", "postgres"}},
       "SESSION_STORAGE_TYPE=postgres requires DATABASE_URL"},
      {{{"SESSION_NAME", "bot-2.eu_1"}}, ""},
      {{{"SESSION_NAME", "has space"}},
       "SESSION_NAME: expected 1 to 64 letters, digits, '.', '_' or '-', got "
       "'has space'"},
      {{{"SESSION_NAME", std::string(65, 'a')}},
       "SESSION_NAME: expected 1 to 64 letters, digits, '.', '_' or '-', got "
       "'" +
           std::string(40, 'a') + "'"},
  };
  for (const Case& c : cases) {
    auto config = ParseConfig(c.env);
    INFO(c.message);
    if (c.message.empty()) {
      REQUIRE(config.ok());
    } else {
      REQUIRE_FALSE(config.ok());
      CHECK(config.status().message() == c.message);
    }
  }
  auto config = ParseConfig({{"SESSION_NAME", "shop"},
                             {"SESSION_ENCRYPTION_KEY", std::string(64, 'a')}});
  REQUIRE(config.ok());
  CHECK(config->session_name == "shop");
  CHECK(config->Secrets().back() == std::string(64, 'a'));
  CHECK(ParseConfig({})->session_name == "default");
}

}  // namespace
}  // namespace dynoguard::common
