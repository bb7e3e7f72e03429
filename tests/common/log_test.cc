#include "common/log.h"

#include <rapidjson/document.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("log: text lines read as event key=value", "[log]") {
  Logger log("supervisor", LogFormat::kText);
  auto line =
      log.Format(LogLevel::kInfo, "2026-01-01T00:00:00.000Z", "restart",
                 {{"reason", "memory"}, {"rss", "489MB"}, {"", "(95.5%)"}});
  CHECK(line ==
        "2026-01-01T00:00:00.000Z info supervisor: restart reason=memory "
        "rss=489MB (95.5%)");
}

TEST_CASE("log: values with spaces are quoted", "[log]") {
  Logger log("worker", LogFormat::kText);
  auto line = log.Format(LogLevel::kWarn, "T", "spawn",
                         {{"command", "node bot.js"}, {"n", 3}});
  CHECK(line == "T warn worker: spawn command=\"node bot.js\" n=3");
}

TEST_CASE("log: json lines are one object", "[log]") {
  Logger log("worker", LogFormat::kJson);
  auto line = log.Format(LogLevel::kError, "T", "send",
                         {{"id", "msg_1"}, {"", "x\"y"}});
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["level"].GetString()) == "error");
  CHECK(std::string(doc["event"].GetString()) == "send");
  CHECK(std::string(doc["id"].GetString()) == "msg_1");
  CHECK(std::string(doc["detail"].GetString()) == "x\"y");
}

TEST_CASE("log: configured secrets never reach a line", "[log]") {
  Logger log("worker", LogFormat::kText);
  log.SetSecrets({"EAAGsecrettoken", "pw"});
  auto line = log.Format(LogLevel::kInfo, "T", "request",
                         {{"auth", "Bearer EAAGsecrettoken"},
                          {"again", "EAAGsecrettokenEAAGsecrettoken"}});
  CHECK(line.find("EAAGsecrettoken") == std::string::npos);
  CHECK(line.find("[redacted]") != std::string::npos);
  // Two-letter "secrets" are not scrubbed: they would redact ordinary words.
  CHECK(log.Format(LogLevel::kInfo, "T", "pwd", {}).find("pwd") !=
        std::string::npos);
}

TEST_CASE("log: lines below the level are dropped and others written whole",
          "[log]") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  {
    Logger log("t", LogFormat::kText, LogLevel::kInfo, fds[1]);
    log.Debug("hidden");
    log.Info("shown", {{"k", 1}});
  }
  close(fds[1]);
  char buffer[256] = {};
  ssize_t n = read(fds[0], buffer, sizeof buffer - 1);
  close(fds[0]);
  REQUIRE(n > 0);
  std::string text(buffer, static_cast<size_t>(n));
  CHECK(text.find("hidden") == std::string::npos);
  CHECK(text.find("info t: shown k=1\n") != std::string::npos);
}

TEST_CASE("log: megabytes are formatted for humans", "[log]") {
  CHECK(FormatMegabytes(42ull * 1024 * 1024) == "42MB");
  CHECK(FormatMegabytes(1536ull * 1024) == "1.5MB");
}

}  // namespace
}  // namespace dynoguard::common
