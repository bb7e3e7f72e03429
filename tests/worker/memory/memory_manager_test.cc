#include "worker/memory/memory_manager.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dynoguard::worker {
namespace {

// A cache of `bytes` that halves on standard and empties on emergency, and
// records the levels it was trimmed at.
class FakeCache : public Cleanable {
 public:
  FakeCache(std::string name, uint64_t bytes)
      : name_(std::move(name)), bytes_(bytes) {}
  std::string_view name() const override { return name_; }
  uint64_t bytes() const override { return bytes_; }
  uint64_t Trim(CleanupLevel level) override {
    trims.push_back(level);
    const uint64_t keep = level == CleanupLevel::kEmergency ? 0 : bytes_ / 2;
    const uint64_t freed = bytes_ - keep;
    bytes_ = keep;
    return freed;
  }
  std::vector<CleanupLevel> trims;

 private:
  std::string name_;
  uint64_t bytes_;
};

// read_rss fake: returns the given samples in order, then repeats the last.
std::function<uint64_t()> RssSequence(std::vector<uint64_t> samples) {
  auto index = std::make_shared<size_t>(0);
  return [samples = std::move(samples), index]() {
    const uint64_t value = samples[std::min(*index, samples.size() - 1)];
    ++*index;
    return value;
  };
}

constexpr uint64_t kMiB = 1024 * 1024;

TEST_CASE("ToString names cleanup levels", "[memory_manager]") {
  CHECK(ToString(CleanupLevel::kStandard) == "standard");
  CHECK(ToString(CleanupLevel::kEmergency) == "emergency");
}

TEST_CASE("standard cleanup trims every cleanable and reports figures",
          "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({300 * kMiB, 260 * kMiB}));
  FakeCache history("history", 1000);
  FakeCache buffers("buffers", 400);
  manager.Register(&history);
  manager.Register(&buffers);

  const CleanupReport report = manager.RunCleanup(CleanupLevel::kStandard);

  CHECK(history.trims == std::vector<CleanupLevel>{CleanupLevel::kStandard});
  CHECK(buffers.trims == std::vector<CleanupLevel>{CleanupLevel::kStandard});
  CHECK(report.level == CleanupLevel::kStandard);
  CHECK(report.rss_before == 300 * kMiB);
  CHECK(report.rss_after == 260 * kMiB);
  CHECK(report.freed() == 40 * kMiB);
  CHECK(report.cache_bytes_before == 1400);
  CHECK(report.cache_bytes_after == 700);
  CHECK(manager.last_rss() == 260 * kMiB);
  CHECK(manager.CacheBytes() == 700);
}

TEST_CASE("emergency cleanup empties the cleanables", "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({450 * kMiB, 200 * kMiB}));
  FakeCache history("history", 1000);
  FakeCache ballast("ballast", 64 * kMiB);
  manager.Register(&history);
  manager.Register(&ballast);

  const CleanupReport report = manager.RunCleanup(CleanupLevel::kEmergency);

  CHECK(report.level == CleanupLevel::kEmergency);
  CHECK(history.trims == std::vector<CleanupLevel>{CleanupLevel::kEmergency});
  CHECK(report.cache_bytes_before == 1000 + 64 * kMiB);
  CHECK(report.cache_bytes_after == 0);
  CHECK(manager.CacheBytes() == 0);
}

TEST_CASE("cleanup steps run after the cleanables, in order, at each level",
          "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({100 * kMiB}));
  FakeCache history("history", 1000);
  manager.Register(&history);
  std::vector<std::string> ran;
  manager.AddCleanupStep("temp-files", [&](CleanupLevel level) {
    // The caches were trimmed first.
    CHECK(history.trims.size() == ran.size() / 2 + 1);
    ran.push_back(std::string("temp-files:") + std::string(ToString(level)));
  });
  manager.AddCleanupStep("connections", [&](CleanupLevel level) {
    ran.push_back(std::string("connections:") + std::string(ToString(level)));
  });
  manager.RunCleanup(CleanupLevel::kStandard);
  manager.RunCleanup(CleanupLevel::kEmergency);
  CHECK(ran == std::vector<std::string>{
                   "temp-files:standard", "connections:standard",
                   "temp-files:emergency", "connections:emergency"});
}

TEST_CASE("freed is zero when RSS grew during the cleanup",
          "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({100 * kMiB, 120 * kMiB}));
  const CleanupReport report = manager.RunCleanup(CleanupLevel::kStandard);
  CHECK(report.rss_before == 100 * kMiB);
  CHECK(report.rss_after == 120 * kMiB);
  CHECK(report.freed() == 0);
}

TEST_CASE("cleanups are counted by level", "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({1}));
  CHECK(manager.cleanups(CleanupLevel::kStandard) == 0);
  CHECK(manager.cleanups(CleanupLevel::kEmergency) == 0);
  (void)manager.RunCleanup(CleanupLevel::kStandard);
  (void)manager.RunCleanup(CleanupLevel::kStandard);
  (void)manager.RunCleanup(CleanupLevel::kEmergency);
  CHECK(manager.cleanups(CleanupLevel::kStandard) == 2);
  CHECK(manager.cleanups(CleanupLevel::kEmergency) == 1);
}

TEST_CASE("pressure turns on at the emergency threshold and off below it",
          "[memory_manager]") {
  // 85% of 1000 MiB is exactly 850 MiB.
  MemoryManager manager(1000 * kMiB, 85, RssSequence({0}));
  CHECK_FALSE(manager.under_pressure());

  manager.UpdatePressure(850 * kMiB - 1);
  CHECK_FALSE(manager.under_pressure());
  CHECK(manager.last_rss() == 850 * kMiB - 1);

  manager.UpdatePressure(850 * kMiB);
  CHECK(manager.under_pressure());

  manager.UpdatePressure(900 * kMiB);
  CHECK(manager.under_pressure());

  manager.UpdatePressure(849 * kMiB);
  CHECK_FALSE(manager.under_pressure());
}

TEST_CASE("SetPressure forces pressure until the next sample",
          "[memory_manager]") {
  MemoryManager manager(1000 * kMiB, 85, RssSequence({0}));
  manager.SetPressure(true);
  CHECK(manager.under_pressure());
  manager.UpdatePressure(100 * kMiB);
  CHECK_FALSE(manager.under_pressure());
}

TEST_CASE("an unknown limit never puts the worker under pressure",
          "[memory_manager]") {
  MemoryManager manager(0, 85, RssSequence({0}));
  manager.UpdatePressure(UINT64_C(1) << 40);
  CHECK_FALSE(manager.under_pressure());
}

TEST_CASE("unregistered cleanables are neither trimmed nor counted",
          "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({1}));
  FakeCache kept("kept", 100);
  FakeCache gone("gone", 50);
  manager.Register(&kept);
  manager.Register(&gone);
  manager.Register(&gone);  // twice: still one entry
  CHECK(manager.CacheBytes() == 150);

  manager.Unregister(&gone);
  CHECK(manager.CacheBytes() == 100);
  const CleanupReport report = manager.RunCleanup(CleanupLevel::kStandard);
  CHECK(report.cache_bytes_before == 100);
  CHECK(kept.trims.size() == 1);
  CHECK(gone.trims.empty());
}

TEST_CASE("CacheBreakdown names each cleanable with its bytes",
          "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({1}));
  FakeCache history("history", 100);
  FakeCache ballast("ballast", 7);
  manager.Register(&history);
  manager.Register(&ballast);
  const auto breakdown = manager.CacheBreakdown();
  REQUIRE(breakdown.size() == 2);
  CHECK(breakdown[0] == std::pair<std::string, uint64_t>("history", 100));
  CHECK(breakdown[1] == std::pair<std::string, uint64_t>("ballast", 7));
}

TEST_CASE("ReadRss calls the reader", "[memory_manager]") {
  MemoryManager manager(512 * kMiB, 85, RssSequence({5, 6}));
  CHECK(manager.ReadRss() == 5);
  CHECK(manager.ReadRss() == 6);
  CHECK(manager.limit_bytes() == 512 * kMiB);
}

}  // namespace
}  // namespace dynoguard::worker
