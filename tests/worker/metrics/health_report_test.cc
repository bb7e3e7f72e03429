#include "worker/metrics/health_report.h"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::worker {
namespace {

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

// The figures of seed 003's example, in C++ terms.
HealthFigures SeedFigures() {
  HealthFigures f;
  f.now_ms = 1743873212189;  // 2025-04-05T17:13:32.189Z
  f.uptime_s = 4.172818665;
  f.rss = 112119808;
  f.heap_total = 44113920;
  f.heap_used = 27160048;
  f.external = 3504748;
  f.array_buffers = 77927;
  f.system_total = 64313ull * 1024 * 1024;
  f.system_free = 14752ull * 1024 * 1024;
  f.limit = 536870912;
  f.memory_optimization = true;
  f.database_connected = true;
  f.queue_ok = true;
  f.transport = "sandbox";
  f.state = ConnectionState::kConnected;
  f.queue_depth = 3;
  f.queue_in_flight = 1;
  f.dead_letters = 2;
  return f;
}

TEST_CASE("health: keeps seed 003's shape and figures", "[health_report]") {
  rapidjson::Document doc = Parse(HealthJson(SeedFigures()));
  CHECK(std::string(doc["status"].GetString()) == "ok");
  CHECK(std::string(doc["timestamp"].GetString()) ==
        "2025-04-05T17:13:32.189Z");
  CHECK(doc["uptime"].GetDouble() == Approx(4.172818665));
  const auto& raw = doc["memory"]["raw"];
  CHECK(raw["rss"].GetUint64() == 112119808);
  CHECK(raw["heapTotal"].GetUint64() == 44113920);
  CHECK(raw["heapUsed"].GetUint64() == 27160048);
  CHECK(raw["external"].GetUint64() == 3504748);
  CHECK(raw["arrayBuffers"].GetUint64() == 77927);
  // The seed's formatted values, exactly.
  const auto& formatted = doc["memory"]["formatted"];
  CHECK(formatted["heapUsed"].GetInt() == 26);
  CHECK(formatted["heapTotal"].GetInt() == 42);
  CHECK(formatted["rss"].GetInt() == 107);
  CHECK(formatted["external"].GetInt() == 3);
  CHECK(formatted["arrayBuffers"].GetInt() == 0);
  CHECK(formatted["systemTotal"].GetInt() == 64313);
  CHECK(formatted["systemFree"].GetInt() == 14752);
  CHECK(formatted["systemUsed"].GetInt() == 49561);
  const auto& percentages = doc["memory"]["percentages"];
  CHECK(percentages["heapUsage"].GetInt() == 62);
  CHECK(percentages["systemUsage"].GetInt() == 77);
  CHECK(doc["memoryOptimizationEnabled"].GetBool());
  CHECK(doc["databaseConnected"].GetBool());
}

TEST_CASE("health: adds limit, limitUsage, session and queue",
          "[health_report]") {
  rapidjson::Document doc = Parse(HealthJson(SeedFigures()));
  CHECK(doc["memory"]["limit"].GetUint64() == 536870912);
  CHECK(doc["memory"]["percentages"]["limitUsage"].GetInt() == 21);
  CHECK(std::string(doc["session"]["transport"].GetString()) == "sandbox");
  CHECK(std::string(doc["session"]["state"].GetString()) == "connected");
  CHECK(doc["queue"]["depth"].GetInt() == 3);
  CHECK(doc["queue"]["inFlight"].GetInt() == 1);
  CHECK(doc["queue"]["deadLetters"].GetInt() == 2);
}

TEST_CASE("health: zero denominators give 0 percent", "[health_report]") {
  HealthFigures f;
  f.rss = 100;
  rapidjson::Document doc = Parse(HealthJson(f));
  CHECK(doc["memory"]["percentages"]["heapUsage"].GetInt() == 0);
  CHECK(doc["memory"]["percentages"]["systemUsage"].GetInt() == 0);
  CHECK(doc["memory"]["percentages"]["limitUsage"].GetInt() == 0);
  CHECK_FALSE(doc["databaseConnected"].GetBool());
}

TEST_CASE("session status: absent parts are null", "[health_report]") {
  SessionStatus s;
  s.transport = "cloud";
  s.state = ConnectionState::kReconnecting;
  s.started_ms = 0;
  rapidjson::Document doc = Parse(SessionStatusJson(s));
  CHECK(std::string(doc["transport"].GetString()) == "cloud");
  CHECK(std::string(doc["state"].GetString()) == "reconnecting");
  CHECK(std::string(doc["startedAt"].GetString()) ==
        "1970-01-01T00:00:00.000Z");
  CHECK(doc["lastHeartbeat"].IsNull());
  CHECK(doc["lastBackup"].IsNull());
  CHECK(doc["restoredFrom"].IsNull());
  CHECK_FALSE(doc["sendsPaused"].GetBool());
  CHECK(doc["pauseReason"].IsNull());
}

TEST_CASE("session status: a pause of every send shows with its reason",
          "[health_report]") {
  SessionStatus s;
  s.transport = "sandbox";
  s.state = ConnectionState::kConnected;
  s.sends_paused = true;
  s.pause_reason = "spam_rate_limited";
  rapidjson::Document doc = Parse(SessionStatusJson(s));
  CHECK(doc["sendsPaused"].GetBool());
  CHECK(std::string(doc["pauseReason"].GetString()) == "spam_rate_limited");
  // A reason without the pause is not shown.
  s.sends_paused = false;
  doc = Parse(SessionStatusJson(s));
  CHECK(doc["pauseReason"].IsNull());
}

TEST_CASE("session status: heartbeat, backup and restore source",
          "[health_report]") {
  SessionStatus s;
  s.transport = "sandbox";
  s.state = ConnectionState::kConnected;
  s.started_ms = 1743873212189;
  s.last_heartbeat_ms = 1743873213000;
  s.last_backup =
      SessionStatus::Backup{1743873214005, "jsonbin", "ok", 2048, 7};
  s.restored_from = "file";
  s.storage = "jsonbin";
  s.encrypted = true;
  s.sequence = 7;
  s.restore_detail = "sequence 6: 2 pending restored";
  rapidjson::Document doc = Parse(SessionStatusJson(s));
  CHECK(std::string(doc["startedAt"].GetString()) ==
        "2025-04-05T17:13:32.189Z");
  CHECK(std::string(doc["lastHeartbeat"].GetString()) ==
        "2025-04-05T17:13:33.000Z");
  CHECK(std::string(doc["lastBackup"]["time"].GetString()) ==
        "2025-04-05T17:13:34.005Z");
  CHECK(std::string(doc["lastBackup"]["store"].GetString()) == "jsonbin");
  CHECK(std::string(doc["lastBackup"]["result"].GetString()) == "ok");
  CHECK(std::string(doc["restoredFrom"].GetString()) == "file");
  CHECK(doc["lastBackup"]["bytes"].GetUint64() == 2048);
  CHECK(doc["lastBackup"]["sequence"].GetUint64() == 7);
  const auto& store = doc["sessionStore"];
  CHECK(std::string(store["name"].GetString()) == "default");
  CHECK(std::string(store["storage"].GetString()) == "jsonbin");
  CHECK(store["encrypted"].GetBool());
  CHECK(store["connected"].GetBool());
  CHECK(store["sequence"].GetUint64() == 7);
  CHECK_FALSE(store["overCap"].GetBool());
  CHECK(std::string(store["restoreDetail"].GetString()) ==
        "sequence 6: 2 pending restored");
  CHECK(store["lastFileBackup"].IsNull());
}

TEST_CASE(
    "health: a failing session store clears databaseConnected, not the "
    "status",
    "[health_report]") {
  HealthFigures f = SeedFigures();
  f.database_connected = false;  // the store failed; the queue is fine
  f.backup_store = "postgres";
  f.backup_result = "postgres: unreachable";
  f.restored_from = "fresh";
  rapidjson::Document doc = Parse(HealthJson(f));
  CHECK(std::string(doc["status"].GetString()) == "ok");
  CHECK_FALSE(doc["databaseConnected"].GetBool());
  CHECK(std::string(doc["session"]["store"].GetString()) == "postgres");
  CHECK(std::string(doc["session"]["lastBackup"].GetString()) ==
        "postgres: unreachable");
  CHECK(std::string(doc["session"]["restoredFrom"].GetString()) == "fresh");
}

}  // namespace
}  // namespace dynoguard::worker
