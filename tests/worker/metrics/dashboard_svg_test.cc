#include "worker/metrics/dashboard_svg.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <string>

#include "common/memory_history.h"

namespace dynoguard::worker {
namespace {

using common::MemoryEventKind;
using common::MemoryHistory;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kNow = 1'764'590'400'000;  // 2025-12-01 12:00:00 UTC

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// A view over the last `seconds` of a leak from 20 % to 90 % of 512 MiB.
DashboardView LeakView(MemoryHistory& history, int seconds) {
  for (int s = 0; s < seconds; ++s) {
    uint64_t bytes = (100 + 360 * static_cast<uint64_t>(s) / seconds) * kMiB;
    history.AddSample(kNow - (seconds - s) * 1000, bytes);
  }
  DashboardView view;
  view.memory = history.Snapshot();
  view.memory.now_ms = kNow;
  view.memory.limit_bytes = 512 * kMiB;
  view.memory.source = "rss";
  view.memory.keeper = "supervisor";
  view.transport = "sandbox";
  view.state = ConnectionState::kConnected;
  view.queue_known = true;
  return view;
}

TEST_CASE("dashboard: threshold lines at their percent in their colours",
          "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 120);
  view.memory.standard_percent = 60;
  std::string svg = RenderMemoryChartSvg(view);
  // y = kPlotBottom - percent * (kPlotBottom - kPlotTop) / 100.
  auto y = [](double percent) {
    return static_cast<int>(kPlotBottom -
                            percent * (kPlotBottom - kPlotTop) / 100);
  };
  for (auto [percent, color] : {std::pair{60.0, kColorStandardLine},
                                {85.0, kColorEmergencyLine},
                                {95.0, kColorRestartLine}}) {
    std::string line = "y1=\"" + std::to_string(y(percent)) + "\" x2=\"" +
                       std::to_string(kPlotRight) + "\" y2=\"" +
                       std::to_string(y(percent)) + "\" stroke=\"" +
                       std::string(color) + "\"";
    INFO(line);
    CHECK(svg.find(line) != std::string::npos);
  }
  CHECK(svg.find("standard 60%") != std::string::npos);
  CHECK(svg.starts_with("<svg "));
  CHECK(svg.ends_with("</svg>"));
}

TEST_CASE("dashboard: every event is marked in its kind's colour",
          "[dashboard]") {
  MemoryHistory history;
  history.AddEvent(kNow - 100000, MemoryEventKind::kWorkerStart, "");
  history.AddEvent(kNow - 60000, MemoryEventKind::kStandardCleanup, "memory");
  history.AddEvent(kNow - 40000, MemoryEventKind::kEmergencyCleanup, "control");
  history.AddEvent(kNow - 20000, MemoryEventKind::kRestart, "memory");
  history.AddEvent(kNow - 10000, MemoryEventKind::kExit, "SIGKILL");
  DashboardView view = LeakView(history, 120);
  std::string svg = RenderMemoryChartSvg(view);
  for (std::string_view color :
       {kColorStartMark, kColorStandardMark, kColorEmergencyMark,
        kColorRestartMark, kColorExitMark}) {
    INFO(color);
    CHECK(Count(svg, "fill=\"" + std::string(color) + "\"") == 1);
  }
  // Recorded before any sample: no figure.
  CHECK(svg.find("<title>11:59:00 standard cleanup memory</title>") !=
        std::string::npos);
  std::string page = RenderDashboardHtml(view);
  CHECK(page.find("restart</td><td>memory</td>") != std::string::npos);
  CHECK(page.find("exit</td><td>SIGKILL</td>") != std::string::npos);
}

TEST_CASE("dashboard: the page refreshes itself and loads nothing",
          "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 30);
  view.refresh_s = 7;
  std::string page = RenderDashboardHtml(view);
  CHECK(page.starts_with("<!doctype html>"));
  CHECK(page.find("<meta http-equiv=\"refresh\" content=\"7\">") !=
        std::string::npos);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find(" src=") == std::string::npos);
  CHECK(page.find(" href=") == std::string::npos);
  CHECK(page.find("url(") == std::string::npos);
  CHECK(page.find("<svg ") != std::string::npos);
}

TEST_CASE("dashboard: texts are escaped", "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 30);
  view.reason = "<img onerror=x>";
  view.last_backup =
      SessionStatus::Backup{kNow, "postgres", "error: \"x\" <script>&"};
  view.memory.source = "rss<b>";
  std::string page = RenderDashboardHtml(view);
  CHECK(page.find("<img") == std::string::npos);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("<b>") == std::string::npos);
  CHECK(page.find("&lt;img onerror=x&gt;") != std::string::npos);
  CHECK(page.find("error: &quot;x&quot; &lt;script&gt;&amp;") !=
        std::string::npos);
}

TEST_CASE("dashboard: the status cards", "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 30);
  view.state = ConnectionState::kDisconnected;
  view.reason = "token_invalid";
  view.queue_depth = 12;
  view.queue_in_flight = 1;
  view.dead_letters = 3;
  view.queue_paused = true;
  view.pause_reason = "token_invalid";
  view.last_backup = SessionStatus::Backup{kNow - 5000, "postgres", "ok"};
  view.restored_from = "postgres";
  std::string page = RenderDashboardHtml(view);
  CHECK(page.find("<span class=bad>disconnected</span>") != std::string::npos);
  CHECK(page.find("waiting</span> 12") != std::string::npos);
  CHECK(page.find("dead letters</span> 3") != std::string::npos);
  CHECK(page.find("2025-12-01T11:59:55 UTC") != std::string::npos);
  CHECK(page.find("<span class=ok>ok</span>") != std::string::npos);
  CHECK(page.find("restored from</span> postgres") != std::string::npos);

  view.queue_known = false;
  view.last_backup.reset();
  page = RenderDashboardHtml(view);
  CHECK(page.find("the queue cannot be read") != std::string::npos);
  CHECK(page.find("last backup</span> none yet") != std::string::npos);
}

TEST_CASE("dashboard: the worker's own samples say why", "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 30);
  view.memory.keeper = "worker";
  view.fallback_reason = "no supervisor";
  std::string page = RenderDashboardHtml(view);
  CHECK(page.find("the worker's own samples (no supervisor)") !=
        std::string::npos);
}

TEST_CASE("dashboard: a gap in the samples breaks the line", "[dashboard]") {
  MemoryHistory history;
  for (int s = 0; s < 20; ++s)
    history.AddSample(kNow - 60000 + s * 1000, 100 * kMiB);
  for (int s = 0; s < 20; ++s)
    history.AddSample(kNow - 20000 + s * 1000, 50 * kMiB);
  DashboardView view;
  view.memory = history.Snapshot();
  view.memory.now_ms = kNow;
  view.memory.limit_bytes = 512 * kMiB;
  std::string svg = RenderMemoryChartSvg(view);
  std::smatch line;
  REQUIRE(std::regex_search(
      svg, line,
      std::regex(
          "<path d=\"([^\"]*)\" stroke=\"#1c7ed6\" stroke-width=\"2\"")));
  CHECK(Count(line[1].str(), "M") == 2);
}

TEST_CASE("dashboard: without a budget the axis is in MB and no threshold",
          "[dashboard]") {
  MemoryHistory history;
  DashboardView view = LeakView(history, 30);
  view.memory.limit_bytes = 0;
  std::string svg = RenderMemoryChartSvg(view);
  CHECK(svg.find(std::string(kColorRestartLine)) == std::string::npos);
  CHECK(svg.find(" MB</text>") != std::string::npos);
  CHECK(svg.find("budget unknown") != std::string::npos);
}

TEST_CASE("dashboard: the size is bounded for a full history", "[dashboard]") {
  MemoryHistory history;
  // 24 hours at one sample every 100 ms (fast polling all day) would be 864k
  // samples; one a second is enough to fill every ring.
  for (int64_t s = 0; s < 24 * 3600; ++s) {
    history.AddSample(kNow - (24 * 3600 - s) * 1000,
                      (50 + static_cast<uint64_t>(s % 400)) * kMiB);
  }
  for (size_t i = 0; i < 2 * MemoryHistory::kMaxEvents; ++i) {
    history.AddEvent(kNow - 3600000 + static_cast<int64_t>(i) * 10000,
                     MemoryEventKind::kEmergencyCleanup,
                     "a-very-long-trigger-name-that-is-cut");
  }
  DashboardView view = LeakView(history, 1);
  view.reason = std::string(5000, 'x');
  view.last_backup = SessionStatus::Backup{kNow, std::string(5000, 's'),
                                           std::string(5000, 'r')};
  for (int64_t window : {int64_t{0}, *ParseDashboardWindow("10m"),
                         *ParseDashboardWindow("24h")}) {
    view.window_ms = window;
    std::string svg = RenderMemoryChartSvg(view);
    std::string page = RenderDashboardHtml(view);
    INFO("window " << window << " page " << page.size());
    CHECK(page.size() < kMaxPageBytes);
    // At most one vertex per pixel column in the line.
    std::smatch line;
    REQUIRE(std::regex_search(
        svg, line,
        std::regex(
            "<path d=\"([^\"]*)\" stroke=\"#1c7ed6\" stroke-width=\"2\"")));
    CHECK(Count(line[1].str(), "L") + Count(line[1].str(), "M") <=
          static_cast<size_t>(kPlotRight - kPlotLeft));
    CHECK(Count(page, "<tr>") <= kMaxEventRows + 1);
  }
}

TEST_CASE("dashboard: window names", "[dashboard]") {
  CHECK(ParseDashboardWindow("10m") == 600000);
  CHECK(ParseDashboardWindow("1h") == 3600000);
  CHECK(ParseDashboardWindow("6h") == 6 * 3600000);
  CHECK(ParseDashboardWindow("24h") == 24 * 3600000);
  CHECK_FALSE(ParseDashboardWindow("1d"));
  CHECK_FALSE(ParseDashboardWindow(""));
}

// Not a test: how long one page takes for a full history (run by hand,
// `unit_tests '[.dashboard-bench]'`; figures in docs/benchmarks.md).
TEST_CASE("dashboard: render time of a full history", "[.dashboard-bench]") {
  MemoryHistory history;
  for (int64_t s = 0; s < 24 * 3600; ++s) {
    history.AddSample(kNow - (24 * 3600 - s) * 1000,
                      (50 + static_cast<uint64_t>(s % 400)) * kMiB);
  }
  for (size_t i = 0; i < MemoryHistory::kMaxEvents; ++i) {
    history.AddEvent(kNow - 3000000 + static_cast<int64_t>(i) * 20000,
                     MemoryEventKind::kStandardCleanup, "memory");
  }
  DashboardView view = LeakView(history, 1);
  constexpr int kRounds = 2000;
  size_t bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) bytes += RenderDashboardHtml(view).size();
  auto elapsed = std::chrono::steady_clock::now() - start;
  auto snap_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) bytes += history.Snapshot().points.size();
  auto snap_elapsed = std::chrono::steady_clock::now() - snap_start;
  using Micros = std::chrono::duration<double, std::micro>;
  const double render_us = Micros(elapsed).count() / kRounds;
  const double snapshot_us = Micros(snap_elapsed).count() / kRounds;
  const size_t page_bytes = RenderDashboardHtml(view).size();
  WARN("history " << MemoryHistory::FootprintBytes() << " bytes, page "
                  << page_bytes << " bytes, render " << render_us
                  << " us, snapshot " << snapshot_us << " us (" << bytes
                  << ")");
}

}  // namespace
}  // namespace dynoguard::worker
