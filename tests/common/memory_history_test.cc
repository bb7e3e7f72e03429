#include "common/memory_history.h"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::common {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kT0 = 1'764'590'400'000;  // 2025-12-01 12:00:00 UTC

TEST_CASE("memory history: samples in one second share a bucket with min/max",
          "[memory-history]") {
  MemoryHistory h;
  h.AddSample(kT0 + 100, 50 * kMiB);
  h.AddSample(kT0 + 400, 80 * kMiB);
  h.AddSample(kT0 + 900, 30 * kMiB);
  h.AddSample(kT0 + 1000, 40 * kMiB);
  MemoryHistorySnapshot s = h.Snapshot();
  // The 10 s and 5 min rings start with the same bucket as the 1 s one: only
  // the finest is reported where it reaches.
  REQUIRE(s.points.size() == 2);
  // The first bucket begins at the first sample, not before it.
  CHECK(s.points[0].time_ms == kT0 + 100);
  CHECK(s.points[0].width_ms == 1000);
  CHECK(s.points[0].min_bytes == 30 * kMiB);
  CHECK(s.points[0].max_bytes == 80 * kMiB);
  CHECK(s.points[1].time_ms == kT0 + 1000);
  CHECK(s.points[1].min_bytes == 40 * kMiB);
}

TEST_CASE("memory history: older spans come from the coarser rings",
          "[memory-history]") {
  MemoryHistory h;
  // Two hours at one sample a second, rising one MiB a minute.
  for (int64_t s = 0; s < 2 * 3600; ++s) {
    h.AddSample(kT0 + s * 1000, static_cast<uint64_t>(s / 60) * kMiB);
  }
  MemoryHistorySnapshot snap = h.Snapshot();
  // Bounded whatever the span: at most every ring full.
  size_t bound = 0;
  for (const auto& ring : MemoryHistory::kRings) bound += ring.capacity;
  CHECK(snap.points.size() <= bound);
  // In time order, no overlap, the newest second last.
  for (size_t i = 1; i < snap.points.size(); ++i) {
    CHECK(snap.points[i - 1].time_ms + snap.points[i - 1].width_ms <=
          snap.points[i].time_ms + snap.points[i].width_ms);
    CHECK(snap.points[i - 1].time_ms < snap.points[i].time_ms);
  }
  CHECK(snap.points.back().time_ms == kT0 + (2 * 3600 - 1) * 1000);
  CHECK(snap.points.back().width_ms == 1000);
  // The first point is a 5 min bucket from the start; 10 s buckets cover the
  // last hour, 1 s ones the last 10 minutes.
  CHECK(snap.points.front().time_ms == kT0);
  CHECK(snap.points.front().width_ms == 300000);
  size_t ones = 0, tens = 0;
  for (const auto& p : snap.points) {
    ones += p.width_ms == 1000;
    tens += p.width_ms == 10000;
  }
  CHECK(ones == 600);
  CHECK(tens == 300);  // 360 held, 60 of them where the 1 s ring reaches
}

TEST_CASE("memory history: a clock stepping back stays in the newest bucket",
          "[memory-history]") {
  MemoryHistory h;
  h.AddSample(kT0 + 5000, 10 * kMiB);
  h.AddSample(kT0 + 1000, 90 * kMiB);
  MemoryHistorySnapshot s = h.Snapshot();
  REQUIRE(s.points.size() == 1);
  CHECK(s.points.back().time_ms == kT0 + 5000);
  CHECK(s.points.back().width_ms == 1000);
  CHECK(s.points.back().min_bytes == 10 * kMiB);
  CHECK(s.points.back().max_bytes == 90 * kMiB);
}

TEST_CASE("memory history: events are bounded, sanitized and carry memory",
          "[memory-history]") {
  MemoryHistory h;
  h.AddSample(kT0, 100 * kMiB);
  h.AddEvent(kT0 + 1, MemoryEventKind::kStandardCleanup, "memory");
  h.AddEvent(kT0 + 2, MemoryEventKind::kRestart,
             "emergency-grace <script>\"x\" and a very long tail", 7 * kMiB);
  MemoryHistorySnapshot s = h.Snapshot();
  REQUIRE(s.events.size() == 2);
  CHECK(s.events[0].kind == MemoryEventKind::kStandardCleanup);
  CHECK(s.events[0].detail == "memory");
  CHECK(s.events[0].bytes == 100 * kMiB);
  CHECK(s.events[1].detail.size() == MemoryHistory::kMaxDetail);
  CHECK(s.events[1].detail == "emergency-grace__script");
  CHECK(s.events[1].bytes == 7 * kMiB);

  for (int i = 0; i < 300; ++i) {
    h.AddEvent(kT0 + 10 + i, MemoryEventKind::kExit, "code=3");
  }
  s = h.Snapshot();
  REQUIRE(s.events.size() == MemoryHistory::kMaxEvents);
  CHECK(s.events.front().time_ms == kT0 + 10 + 300 - 128);
  CHECK(s.events.back().time_ms == kT0 + 10 + 299);
}

TEST_CASE("memory history: kinds round-trip through their names",
          "[memory-history]") {
  for (MemoryEventKind kind :
       {MemoryEventKind::kWorkerStart, MemoryEventKind::kStandardCleanup,
        MemoryEventKind::kEmergencyCleanup, MemoryEventKind::kRestart,
        MemoryEventKind::kExit}) {
    CHECK(MemoryEventKindFromString(ToString(kind)) == kind);
  }
  CHECK_FALSE(MemoryEventKindFromString("reboot").has_value());
}

TEST_CASE("memory history: the footprint is fixed and small",
          "[memory-history]") {
  MemoryHistory h;
  size_t before = MemoryHistory::FootprintBytes();
  for (int64_t s = 0; s < 48 * 3600; s += 7) h.AddSample(kT0 + s * 1000, kMiB);
  CHECK(MemoryHistory::FootprintBytes() == before);
  CHECK(before < 32 * 1024);
}

TEST_CASE("memory history: the JSON answer carries every point and event",
          "[memory-history]") {
  MemoryHistory h;
  h.AddSample(kT0, 64 * kMiB);
  h.AddEvent(kT0 + 10, MemoryEventKind::kEmergencyCleanup, "control");
  MemoryHistorySnapshot s = h.Snapshot();
  s.now_ms = kT0 + 20;
  s.limit_bytes = 512 * kMiB;
  s.source = "rss";
  s.keeper = "supervisor";
  s.standard_percent = 60;
  std::string json = MemoryHistoryJson(s);
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["ok"].GetBool());
  CHECK(std::string(d["keeper"].GetString()) == "supervisor");
  CHECK(d["limit"].GetUint64() == 512 * kMiB);
  CHECK(d["thresholds"]["standard"].GetDouble() == 60);
  REQUIRE(d["points"].Size() == 1);
  CHECK(d["points"][0][0].GetInt64() == kT0);
  CHECK(d["points"][0][3].GetUint64() == 64 * kMiB);
  REQUIRE(d["events"].Size() == 1);
  CHECK(std::string(d["events"][0]["kind"].GetString()) == "cleanup-emergency");
  CHECK(std::string(d["events"][0]["detail"].GetString()) == "control");
}

}  // namespace
}  // namespace dynoguard::common
