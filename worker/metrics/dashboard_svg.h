// Dashboard: the HTML page of GET /dashboard with its memory chart as inline
// SVG, rendered on the server from plain figures (no JavaScript, no external
// request). Pure: the same view gives the same bytes, so the shape is
// unit-tested and the picture checked in a browser by the integration test.
//
// What it shows, and nothing else: memory over time against the budget with
// the configured threshold lines, every event (worker start, cleanup,
// restart, exit) marked with its reason, the queue's figures, the connection
// state and the session's last backup. No message content, no ids, no
// numbers of contacts.
#ifndef DYNOGUARD_WORKER_METRICS_DASHBOARD_SVG_H_
#define DYNOGUARD_WORKER_METRICS_DASHBOARD_SVG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/memory_history.h"
#include "worker/model/runtime_status.h"

namespace dynoguard::worker {

// The chart's geometry, in CSS pixels (the browser test reads the picture
// with these). The y axis runs from 0 % (kPlotBottom) to 100 % of the budget
// (kPlotTop); a figure above 100 % is drawn at the top.
inline constexpr int kChartWidth = 960;
inline constexpr int kChartHeight = 372;
inline constexpr int kPlotLeft = 64;
inline constexpr int kPlotRight = 944;
inline constexpr int kPlotTop = 30;
inline constexpr int kPlotBottom = 330;

// Colours (#rrggbb), distinct from each other so a screenshot tells them
// apart.
inline constexpr std::string_view kColorFrame = "#495057";
inline constexpr std::string_view kColorMemory = "#1c7ed6";
inline constexpr std::string_view kColorMemoryFill = "#d0ebff";
inline constexpr std::string_view kColorStandardLine = "#e0a800";
inline constexpr std::string_view kColorEmergencyLine = "#f76707";
inline constexpr std::string_view kColorRestartLine = "#e03131";
inline constexpr std::string_view kColorStartMark = "#2f9e44";
inline constexpr std::string_view kColorStandardMark = "#1098ad";
inline constexpr std::string_view kColorEmergencyMark = "#ae3ec9";
inline constexpr std::string_view kColorRestartMark = "#c2255c";
inline constexpr std::string_view kColorExitMark = "#000000";

// The colour of an event's marker.
std::string_view MarkColor(common::MemoryEventKind kind);

// Everything the page shows.
struct DashboardView {
  // Memory samples and events, with the budget and thresholds they are
  // measured against (the supervisor's, or the worker's own).
  common::MemoryHistorySnapshot memory;
  // The span of the chart ending at memory.now_ms; 0: from the oldest point
  // (at least 1 minute, at most 1 hour).
  int64_t window_ms = 0;
  // Why the worker's own samples are shown ("" when they come from the
  // supervisor), e.g. "no supervisor".
  std::string fallback_reason;
  uint64_t rss_bytes = 0;            // the worker's RSS now
  int64_t supervisor_restarts = -1;  // -1 unknown
  // Connection.
  std::string transport;
  ConnectionState state = ConnectionState::kStarting;
  std::string reason;
  // Queue.
  bool queue_known = false;  // false: the queue could not be read
  int64_t queue_depth = 0;
  int64_t queue_in_flight = 0;
  int64_t dead_letters = 0;
  bool queue_paused = false;
  std::string pause_reason;
  bool under_pressure = false;  // new sends refused (503)
  // Session.
  std::optional<SessionStatus::Backup> last_backup;
  std::optional<std::string> restored_from;
  // <meta http-equiv="refresh"> period.
  int refresh_s = 5;
};

// The chart alone: one <svg> element of kChartWidth × kChartHeight. Points
// are reduced to at most two per pixel column, events to the last
// kMaxEvents, so the size is bounded whatever the history holds.
std::string RenderMemoryChartSvg(const DashboardView& view);

// The whole page (UTF-8 HTML5): the chart, the status cards, the last events
// (at most kMaxEventRows). Every text is escaped. Bounded in size
// (kMaxPageBytes for any view).
std::string RenderDashboardHtml(const DashboardView& view);

inline constexpr size_t kMaxEventRows = 20;
inline constexpr size_t kMaxPageBytes = 96 * 1024;

// `window` from the query (`?window=10m|1h|6h|24h`); nullopt for anything
// else (the route then answers the automatic span).
std::optional<int64_t> ParseDashboardWindow(std::string_view value);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_METRICS_DASHBOARD_SVG_H_
