#include "common/log.h"

#include <rapidjson/document.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

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

// The members of a JSON object named `key`, in order: RapidJSON keeps
// duplicates, and doc[key] would only show the first.
int CountMembers(const rapidjson::Value& object, std::string_view key) {
  int n = 0;
  for (const auto& member : object.GetObject()) {
    if (std::string_view(member.name.GetString()) == key) ++n;
  }
  return n;
}

rapidjson::Document ParseLine(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  INFO(line);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

TEST_CASE("log: json has one level key, the severity", "[log]") {
  Logger log("supervisor", LogFormat::kJson);
  auto line = log.Format(LogLevel::kWarn, "T", "cleanup",
                         {{"level", "emergency"}, {"pid", 42}});
  auto doc = ParseLine(line);
  CHECK(CountMembers(doc, "level") == 1);
  CHECK(std::string(doc["level"].GetString()) == "warn");
  // The field keeps its value under "<event>_<key>".
  CHECK(std::string(doc["cleanup_level"].GetString()) == "emergency");
  CHECK(line == R"({"time":"T","level":"warn","component":"supervisor",)"
                R"("event":"cleanup","cleanup_level":"emergency","pid":42})");
}

TEST_CASE("log: json renames every reserved or repeated key", "[log]") {
  Logger log("worker", LogFormat::kJson);
  auto line = log.Format(LogLevel::kInfo, "T", "x",
                         {{"time", "a"},
                          {"component", "b"},
                          {"event", "c"},
                          {"", "d"},
                          {"detail", "e"},
                          {"x_detail", "f"},
                          {"k", 1},
                          {"k", 2}});
  auto doc = ParseLine(line);
  for (const auto& member : doc.GetObject()) {
    CHECK(CountMembers(doc, member.name.GetString()) == 1);
  }
  CHECK(std::string(doc["time"].GetString()) == "T");
  CHECK(std::string(doc["component"].GetString()) == "worker");
  CHECK(std::string(doc["event"].GetString()) == "x");
  CHECK(std::string(doc["x_time"].GetString()) == "a");
  CHECK(std::string(doc["x_component"].GetString()) == "b");
  CHECK(std::string(doc["x_event"].GetString()) == "c");
  CHECK(std::string(doc["detail"].GetString()) == "d");
  CHECK(std::string(doc["x_detail"].GetString()) == "e");
  CHECK(std::string(doc["x_x_detail"].GetString()) == "f");
  CHECK(doc["k"].GetInt() == 1);
  CHECK(doc["x_k"].GetInt() == 2);
  // A rename that is itself taken counts up.
  auto again = ParseLine(log.Format(
      LogLevel::kInfo, "T", "e", {{"e_level", 1}, {"level", 2}, {"level", 3}}));
  CHECK(again["e_level"].GetInt() == 1);
  CHECK(again["e_level_2"].GetInt() == 2);
  CHECK(again["e_level_3"].GetInt() == 3);
}

TEST_CASE("log: json values keep their type", "[log]") {
  Logger log("worker", LogFormat::kJson);
  const uint64_t big = 18446744073709551615ull;
  const std::string_view view = "tab\there";
  auto doc = ParseLine(log.Format(LogLevel::kInfo, "T", "types",
                                  {{"int", -3},
                                   {"long", int64_t{1} << 40},
                                   {"big", big},
                                   {"size", size_t{7}},
                                   {"ratio", 8.25},
                                   {"on", true},
                                   {"off", false},
                                   {"char", 'c'},
                                   {"freed", "12MB"},
                                   {"view", view},
                                   {"nan", std::nan("")},
                                   {"inf", -HUGE_VAL},
                                   {"quoted", "a\"b\\c\n"}}));
  CHECK(doc["int"].IsInt());
  CHECK(doc["int"].GetInt() == -3);
  CHECK(doc["long"].GetInt64() == int64_t{1} << 40);
  CHECK(doc["big"].GetUint64() == big);
  CHECK(doc["size"].GetUint64() == 7);
  CHECK(doc["ratio"].IsDouble());
  CHECK(doc["ratio"].GetDouble() == 8.25);
  CHECK(doc["on"].IsTrue());
  CHECK(doc["off"].IsFalse());
  CHECK(std::string(doc["char"].GetString()) == "c");
  CHECK(std::string(doc["freed"].GetString()) == "12MB");
  CHECK(std::string(doc["view"].GetString()) == "tab\there");
  // JSON has no NaN or infinity: fmt's text, as a string.
  CHECK(std::string(doc["nan"].GetString()) == "nan");
  CHECK(std::string(doc["inf"].GetString()) == "-inf");
  CHECK(std::string(doc["quoted"].GetString()) == "a\"b\\c\n");
}

TEST_CASE("log: typed values print in text as before", "[log]") {
  Logger log("worker", LogFormat::kText);
  auto line = log.Format(LogLevel::kInfo, "T", "types",
                         {{"n", -3},
                          {"ratio", 8.25},
                          {"on", true},
                          {"char", 'c'},
                          {"size", size_t{7}}});
  CHECK(line == "T info worker: types n=-3 ratio=8.25 on=true char=c size=7");
}

TEST_CASE("log: the supervisor's memory and cleanup lines in json", "[log]") {
  // The fields as supervisor/supervisor.cc and worker/memory/cleanup_runner.cc
  // pass them; the text lines are the ones SPEC §6 and the integration tests
  // read.
  Logger text("supervisor", LogFormat::kText);
  Logger json("supervisor", LogFormat::kJson);
  auto memory = [](const Logger& log) {
    return log.Format(LogLevel::kWarn, "T", "memory",
                      {{"rss", FormatMegabytes(489ull << 20)},
                       {"limit", FormatMegabytes(512ull << 20)},
                       {"", "(95.5%)"},
                       {"level", "restart"},
                       {"processes", size_t{2}}});
  };
  auto cleanup = [](const Logger& log) {
    return log.Format(LogLevel::kInfo, "T", "cleanup",
                      {{"level", "standard"},
                       {"freed", FormatMegabytes(12ull << 20)},
                       {"trigger", std::string_view("memory")},
                       {"ms", std::chrono::milliseconds(3).count()}});
  };
  CHECK(memory(text) ==
        "T warn supervisor: memory rss=489MB limit=512MB (95.5%) "
        "level=restart processes=2");
  CHECK(cleanup(text) ==
        "T info supervisor: cleanup level=standard freed=12MB trigger=memory "
        "ms=3");

  auto m = ParseLine(memory(json));
  CHECK(CountMembers(m, "level") == 1);
  CHECK(std::string(m["level"].GetString()) == "warn");
  CHECK(std::string(m["memory_level"].GetString()) == "restart");
  CHECK(std::string(m["rss"].GetString()) == "489MB");
  CHECK(std::string(m["detail"].GetString()) == "(95.5%)");
  CHECK(m["processes"].GetUint64() == 2);

  auto c = ParseLine(cleanup(json));
  CHECK(CountMembers(c, "level") == 1);
  CHECK(std::string(c["level"].GetString()) == "info");
  CHECK(std::string(c["cleanup_level"].GetString()) == "standard");
  CHECK(std::string(c["freed"].GetString()) == "12MB");
  CHECK(c["ms"].GetInt64() == 3);
}

TEST_CASE("log: secrets never reach a json line, whatever the value", "[log]") {
  Logger log("worker", LogFormat::kJson);
  log.SetSecrets({"EAAG\"secret\\token", "123456", "hunter2"});
  auto line = log.Format(LogLevel::kInfo, "T", "request",
                         {{"auth", "Bearer EAAG\"secret\\token"},
                          {"pin", 91234567},
                          {"hunter2", true},
                          {"hunter2x", 1},
                          {"ok", 42}});
  INFO(line);
  CHECK(line.find("secret") == std::string::npos);
  CHECK(line.find("123456") == std::string::npos);
  CHECK(line.find("hunter2") == std::string::npos);
  auto doc = ParseLine(line);
  CHECK(std::string(doc["auth"].GetString()) == "Bearer [redacted]");
  // A number holding a secret is a string now: "[redacted]" is no number.
  CHECK(std::string(doc["pin"].GetString()) == "9[redacted]7");
  CHECK(doc["[redacted]"].IsTrue());
  CHECK(doc["[redacted]x"].GetInt() == 1);
  CHECK(doc["ok"].GetInt() == 42);
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
