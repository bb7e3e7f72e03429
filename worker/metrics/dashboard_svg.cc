#include "worker/metrics/dashboard_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <iterator>
#include <vector>

#include "common/time_format.h"

namespace dynoguard::worker {
namespace {

using common::MemoryEvent;
using common::MemoryEventKind;
using common::MemoryPoint;

constexpr int kPlotWidth = kPlotRight - kPlotLeft;
constexpr int kPlotHeight = kPlotBottom - kPlotTop;
constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr double kMiB = 1024.0 * 1024.0;
// Longer texts (a store's error) are cut: the page stays bounded.
constexpr size_t kMaxText = 120;

// `text` cut to kMaxText bytes (never inside a UTF-8 sequence) and escaped
// for HTML text and attribute values.
void AppendEscaped(std::string& out, std::string_view text) {
  if (text.size() > kMaxText) {
    size_t cut = kMaxText;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      --cut;
    text = text.substr(0, cut);
  }
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters are dropped (a stored error may hold one).
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
    }
  }
}

std::string Escaped(std::string_view text) {
  std::string out;
  AppendEscaped(out, text);
  return out;
}

std::string Megabytes(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / kMiB);
}

// "HH:MM:SS" (UTC) of `ms`.
std::string ClockTime(int64_t ms) {
  return common::FormatIsoUtc(ms).substr(11, 8);
}

std::string_view KindLabel(MemoryEventKind kind) {
  switch (kind) {
    case MemoryEventKind::kWorkerStart:
      return "worker start";
    case MemoryEventKind::kStandardCleanup:
      return "standard cleanup";
    case MemoryEventKind::kEmergencyCleanup:
      return "emergency cleanup";
    case MemoryEventKind::kRestart:
      return "restart";
    case MemoryEventKind::kExit:
      return "exit";
  }
  return "event";
}

// The chart's scale: percent of the budget, or of the largest figure when
// the budget is unknown.
struct Scale {
  int64_t start_ms = 0;
  int64_t window_ms = kMinute;
  double full_bytes = 0;  // the bytes at 100 %
  bool budget_known = false;

  double X(int64_t t) const {
    return kPlotLeft + static_cast<double>(t - start_ms) * kPlotWidth /
                           static_cast<double>(window_ms);
  }
  double Percent(uint64_t bytes) const {
    return full_bytes > 0 ? static_cast<double>(bytes) * 100.0 / full_bytes : 0;
  }
  static double Y(double percent) {
    percent = std::clamp(percent, 0.0, 100.0);
    return kPlotBottom - percent * kPlotHeight / 100.0;
  }
};

Scale MakeScale(const DashboardView& view) {
  const auto& m = view.memory;
  Scale s;
  int64_t window = view.window_ms;
  if (window <= 0) {
    int64_t oldest = m.now_ms;
    if (!m.points.empty()) oldest = std::min(oldest, m.points.front().time_ms);
    // The first worker's start comes just before its first sample.
    for (const MemoryEvent& e : m.events) oldest = std::min(oldest, e.time_ms);
    window = std::clamp<int64_t>(m.now_ms - oldest, kMinute, kHour);
  }
  s.window_ms = window;
  s.start_ms = m.now_ms - window;
  s.budget_known = m.limit_bytes > 0;
  if (s.budget_known) {
    s.full_bytes = static_cast<double>(m.limit_bytes);
  } else {
    uint64_t peak = 0;
    for (const MemoryPoint& p : m.points) peak = std::max(peak, p.max_bytes);
    s.full_bytes = std::max(1.25 * static_cast<double>(peak), kMiB);
  }
  return s;
}

// One pixel column of the memory series.
struct Column {
  bool used = false;
  bool break_before = false;  // a gap in the samples ends here
  double min_percent = 0;
  double max_percent = 0;
};

std::vector<Column> Columns(const DashboardView& view, const Scale& scale) {
  std::vector<Column> columns(kPlotWidth);
  const MemoryPoint* previous = nullptr;
  for (const MemoryPoint& p : view.memory.points) {
    if (p.time_ms + p.width_ms <= scale.start_ms ||
        p.time_ms > view.memory.now_ms)
      continue;
    int x = static_cast<int>(
        std::floor(scale.X(std::max(p.time_ms, scale.start_ms)) - kPlotLeft));
    x = std::clamp(x, 0, kPlotWidth - 1);
    Column& c = columns[static_cast<size_t>(x)];
    double lo = scale.Percent(p.min_bytes), hi = scale.Percent(p.max_bytes);
    // No sample for three bucket widths (a worker in backoff, a stopped
    // supervisor): the line is broken there rather than drawn across.
    bool gap =
        previous != nullptr && p.time_ms - previous->time_ms >
                                   3 * std::max(p.width_ms, previous->width_ms);
    if (!c.used) {
      c = Column{true, gap, lo, hi};
    } else {
      c.break_before = c.break_before || gap;
      c.min_percent = std::min(c.min_percent, lo);
      c.max_percent = std::max(c.max_percent, hi);
    }
    previous = &p;
  }
  return columns;
}

// A tick step with at most 8 ticks over the window.
int64_t TickStep(int64_t window_ms) {
  static constexpr std::array<int64_t, 13> kSteps = {
      10'000,       30'000,       kMinute,      2 * kMinute, 5 * kMinute,
      10 * kMinute, 15 * kMinute, 30 * kMinute, kHour,       2 * kHour,
      3 * kHour,    6 * kHour,    12 * kHour};
  for (int64_t step : kSteps) {
    if (window_ms / step <= 8) return step;
  }
  return kSteps.back();
}

void AppendGrid(std::string& out, const Scale& scale) {
  for (int percent : {0, 25, 50, 75, 100}) {
    double y = Scale::Y(percent);
    if (percent != 0 && percent != 100) {
      out += fmt::format(
          R"(<line x1="{}" y1="{:.0f}" x2="{}" y2="{:.0f}" stroke="#e9ecef" stroke-width="1" shape-rendering="crispEdges"/>)",
          kPlotLeft, y, kPlotRight, y);
    }
    std::string label = scale.budget_known
                            ? fmt::format("{}%", percent)
                            : Megabytes(static_cast<uint64_t>(scale.full_bytes *
                                                              percent / 100));
    out += fmt::format(
        R"(<text x="{}" y="{:.0f}" text-anchor="end" class="axis">{}</text>)",
        kPlotLeft - 6, y + 4, label);
  }
  const int64_t step = TickStep(scale.window_ms);
  const int64_t end_ms = scale.start_ms + scale.window_ms;
  int64_t first = (scale.start_ms / step + 1) * step;
  for (int64_t t = first; t <= end_ms; t += step) {
    double x = scale.X(t);
    std::string label = ClockTime(t);
    if (step >= kMinute) label.resize(5);
    out += fmt::format(
        R"(<line x1="{0:.0f}" y1="{1}" x2="{0:.0f}" y2="{2}" stroke="#e9ecef" stroke-width="1" shape-rendering="crispEdges"/>)"
        R"(<text x="{0:.0f}" y="{3}" text-anchor="middle" class="axis">{4}</text>)",
        x, kPlotTop, kPlotBottom, kPlotBottom + 18, label);
  }
  out += fmt::format(R"(<text x="{}" y="{}" class="axis">UTC</text>)",
                     kPlotRight - 24, kPlotBottom + 34);
}

// `c` then `value` in decimal: the series' vertices without a format
// string (this is the page's hot loop).
void AppendInt(std::string& out, char c, int value) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out += c;
  out.append(digits, end);
}

void AppendSeries(std::string& out, const std::vector<Column>& columns) {
  // Whole pixels: the browser would round sub-pixel vertices anyway.
  std::string fill, line, band;
  fill.reserve(10 * kPlotWidth);
  line.reserve(10 * kPlotWidth);
  bool open = false;
  int first_x = 0, last_x = 0;
  auto close_segment = [&] {
    if (!open) return;
    AppendInt(fill, 'L', last_x);
    AppendInt(fill, ',', kPlotBottom);
    AppendInt(fill, 'L', first_x);
    AppendInt(fill, ',', kPlotBottom);
    fill += 'Z';
    open = false;
  };
  for (int i = 0; i < kPlotWidth; ++i) {
    const Column& c = columns[static_cast<size_t>(i)];
    if (!c.used) continue;
    if (c.break_before) close_segment();
    const int x = i + kPlotLeft;
    const int y_max = static_cast<int>(std::lround(Scale::Y(c.max_percent)));
    const int y_min = static_cast<int>(std::lround(Scale::Y(c.min_percent)));
    if (!open) {
      AppendInt(fill, 'M', x);
      AppendInt(fill, ',', kPlotBottom);
      AppendInt(line, 'M', x);
      first_x = x;
      open = true;
    } else {
      AppendInt(line, 'L', x);
    }
    AppendInt(fill, 'L', x);
    AppendInt(fill, ',', y_max);
    AppendInt(line, ',', y_max);
    if (y_min - y_max >= 1) {
      AppendInt(band, 'M', x);
      band += ".5";
      AppendInt(band, ',', y_max);
      AppendInt(band, 'V', y_min);
    }
    last_x = x;
  }
  close_segment();
  if (!fill.empty()) {
    out += R"(<path d=")";
    out += fill;
    out += R"(" fill=")";
    out += kColorMemoryFill;
    out += R"(" stroke="none"/>)";
  }
  if (!band.empty()) {
    out += R"(<path d=")";
    out += band;
    out += R"(" stroke=")";
    out += kColorMemory;
    out += R"(" stroke-width="1" fill="none"/>)";
  }
  if (!line.empty()) {
    out += R"(<path d=")";
    out += line;
    out += R"(" stroke=")";
    out += kColorMemory;
    out += R"(" stroke-width="2" fill="none" stroke-linejoin="round"/>)";
  }
}

void AppendThresholds(std::string& out, const DashboardView& view) {
  const auto& m = view.memory;
  struct Line {
    double percent;
    std::string_view color;
    std::string_view name;
  };
  for (const Line& l :
       {Line{m.standard_percent, kColorStandardLine, "standard"},
        Line{m.emergency_percent, kColorEmergencyLine, "emergency"},
        Line{m.restart_percent, kColorRestartLine, "restart"}}) {
    if (!(l.percent > 0 && l.percent <= 100)) continue;
    double y = std::round(Scale::Y(l.percent));
    out += fmt::format(
        R"(<line x1="{}" y1="{:.0f}" x2="{}" y2="{:.0f}" stroke="{}" stroke-width="2" stroke-dasharray="10 4" shape-rendering="crispEdges"/>)"
        R"(<text x="{}" y="{:.0f}" class="mark" fill="{}">{} {:g}%</text>)",
        kPlotLeft, y, kPlotRight, y, l.color, kPlotLeft + 4, y - 5, l.color,
        l.name, l.percent);
  }
}

void AppendEvent(std::string& out, const MemoryEvent& e,
                 const DashboardView& view, const Scale& scale) {
  if (e.time_ms < scale.start_ms || e.time_ms > view.memory.now_ms) return;
  double x = std::round(scale.X(e.time_ms));
  x = std::clamp(x, static_cast<double>(kPlotLeft + 1),
                 static_cast<double>(kPlotRight - 1));
  std::string_view color = MarkColor(e.kind);
  fmt::format_to(
      std::back_inserter(out),
      R"(<g><title>{} {}{}{}{}</title>)"
      R"(<line x1="{:.0f}" y1="{}" x2="{:.0f}" y2="{}" stroke="{}" stroke-width="2" shape-rendering="crispEdges"/>)"
      R"(<path d="M{:.0f},{}l-6,-12h12z" fill="{}"/></g>)",
      ClockTime(e.time_ms), KindLabel(e.kind), e.detail.empty() ? "" : " ",
      Escaped(e.detail),
      // A start's figure would be the previous worker's last sample.
      e.bytes > 0 && e.kind != MemoryEventKind::kWorkerStart
          ? " at " + Megabytes(e.bytes)
          : std::string(),
      x, kPlotTop, x, kPlotBottom, color, x, kPlotTop, color);
}

void AppendEvents(std::string& out, const DashboardView& view,
                  const Scale& scale) {
  // Worker starts first: a restart's start follows it within a second and
  // would hide its marker.
  for (bool starts : {true, false}) {
    for (const MemoryEvent& e : view.memory.events) {
      if ((e.kind == MemoryEventKind::kWorkerStart) != starts) continue;
      AppendEvent(out, e, view, scale);
    }
  }
}

void AppendSwatch(std::string& out, std::string_view color) {
  out +=
      fmt::format(R"(<span class="sw" style="background:{}"></span>)", color);
}

void AppendCard(std::string& out, std::string_view title,
                const std::string& body_html) {
  out +=
      fmt::format(R"(<div class="card"><h2>{}</h2>{}</div>)", title, body_html);
}

std::string Row(std::string_view key, const std::string& value_html) {
  return fmt::format("<div><span class=k>{}</span> {}</div>", key, value_html);
}

constexpr std::string_view kStyle =
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#212529;"
    "background:#f8f9fa}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:14px;margin:0 0 6px;"
    "color:#495057}.sub{color:#868e96;margin:0 0 12px}"
    "svg{background:#fff;border:1px solid #dee2e6;display:block}"
    ".axis{font-size:11px;fill:#868e96}.mark{font-size:11px}"
    ".legend{margin:6px 0 14px;color:#495057;font-size:12px}"
    ".legend span.item{margin-right:14px;white-space:nowrap}"
    ".sw{display:inline-block;width:10px;height:10px;margin-right:4px;"
    "vertical-align:-1px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}"
    ".card{background:#fff;border:1px solid #dee2e6;padding:10px 14px;"
    "min-width:200px}.k{color:#868e96}.bad{color:#c92a2a;font-weight:600}"
    ".ok{color:#2f9e44;font-weight:600}"
    "table{border-collapse:collapse;background:#fff;font-size:13px}"
    "td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:left}";

}  // namespace

std::string_view MarkColor(MemoryEventKind kind) {
  switch (kind) {
    case MemoryEventKind::kWorkerStart:
      return kColorStartMark;
    case MemoryEventKind::kStandardCleanup:
      return kColorStandardMark;
    case MemoryEventKind::kEmergencyCleanup:
      return kColorEmergencyMark;
    case MemoryEventKind::kRestart:
      return kColorRestartMark;
    case MemoryEventKind::kExit:
      return kColorExitMark;
  }
  return kColorExitMark;
}

namespace {

void AppendChart(std::string& out, const DashboardView& view) {
  const Scale scale = MakeScale(view);
  out += fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img" aria-label="memory over time">)",
      kChartWidth, kChartHeight);
  AppendGrid(out, scale);
  AppendSeries(out, Columns(view, scale));
  if (scale.budget_known) AppendThresholds(out, view);
  AppendEvents(out, view, scale);
  out += fmt::format(
      R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{}" stroke-width="1" shape-rendering="crispEdges"/>)",
      kPlotLeft, kPlotTop, kPlotWidth, kPlotHeight, kColorFrame);
  std::string caption = scale.budget_known
                            ? fmt::format("memory ({}) in % of the {} budget",
                                          Escaped(view.memory.source),
                                          Megabytes(view.memory.limit_bytes))
                            : fmt::format("memory ({}); budget unknown",
                                          Escaped(view.memory.source));
  out += fmt::format(R"(<text x="{}" y="{}" class="axis">{}</text></svg>)",
                     kPlotLeft, kPlotBottom + 34, caption);
}

}  // namespace

std::string RenderMemoryChartSvg(const DashboardView& view) {
  std::string out;
  out.reserve(40 * 1024);
  AppendChart(out, view);
  return out;
}

std::string RenderDashboardHtml(const DashboardView& view) {
  const auto& m = view.memory;
  std::string out;
  out.reserve(64 * 1024);
  out += fmt::format(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"{}\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>dynoguard</title><style>{}</style></head><body>",
      std::max(1, view.refresh_s), kStyle);
  out += "<h1>dynoguard</h1><p class=sub>";
  if (view.fallback_reason.empty()) {
    out += fmt::format("memory as the {} measures it",
                       Escaped(m.keeper.empty() ? "supervisor" : m.keeper));
  } else {
    out += fmt::format("the worker's own samples ({})",
                       Escaped(view.fallback_reason));
  }
  out += fmt::format(" · {} UTC · refreshes every {} s</p>",
                     Escaped(common::FormatIsoUtc(m.now_ms).substr(0, 19)),
                     std::max(1, view.refresh_s));

  AppendChart(out, view);

  out += "<div class=legend>";
  struct Item {
    std::string_view color;
    std::string_view label;
  };
  for (const Item& item :
       {Item{kColorMemory, "memory"},
        Item{kColorStandardLine, "standard threshold"},
        Item{kColorEmergencyLine, "emergency threshold"},
        Item{kColorRestartLine, "restart threshold"},
        Item{kColorStartMark, "worker start"},
        Item{kColorStandardMark, "standard cleanup"},
        Item{kColorEmergencyMark, "emergency cleanup"},
        Item{kColorRestartMark, "restart"}, Item{kColorExitMark, "exit"}}) {
    out += "<span class=item>";
    AppendSwatch(out, item.color);
    out += item.label;
    out += "</span>";
  }
  out += "</div><div class=cards>";

  // Memory.
  std::string memory;
  if (!m.points.empty()) {
    uint64_t now_bytes = m.points.back().max_bytes;
    memory += Row(Escaped(m.source),
                  m.limit_bytes > 0
                      ? fmt::format("{} of {} ({:.1f} %)", Megabytes(now_bytes),
                                    Megabytes(m.limit_bytes),
                                    100.0 * static_cast<double>(now_bytes) /
                                        static_cast<double>(m.limit_bytes))
                      : Megabytes(now_bytes));
  }
  memory += Row("worker RSS", Megabytes(view.rss_bytes));
  memory +=
      Row("thresholds", fmt::format("{:g} / {:g} / {:g} %", m.standard_percent,
                                    m.emergency_percent, m.restart_percent));
  if (view.supervisor_restarts >= 0)
    memory += Row("restarts", fmt::format("{}", view.supervisor_restarts));
  if (view.under_pressure)
    memory += Row("sends", "<span class=bad>refused (memory pressure)</span>");
  AppendCard(out, "Memory", memory);

  // Connection.
  std::string connection;
  bool connected = view.state == ConnectionState::kConnected;
  connection += Row("transport", Escaped(view.transport));
  connection += Row(
      "state", fmt::format("<span class={}>{}</span>", connected ? "ok" : "bad",
                           Escaped(ToString(view.state))));
  if (!view.reason.empty()) connection += Row("reason", Escaped(view.reason));
  AppendCard(out, "Connection", connection);

  // Queue.
  std::string queue;
  if (view.queue_known) {
    queue += Row("waiting", fmt::format("{}", view.queue_depth));
    queue += Row("in flight", fmt::format("{}", view.queue_in_flight));
    queue += Row("dead letters", fmt::format("{}", view.dead_letters));
    if (view.queue_paused) {
      queue += Row("paused", fmt::format("<span class=bad>{}</span>",
                                         Escaped(view.pause_reason.empty()
                                                     ? std::string_view("yes")
                                                     : view.pause_reason)));
    }
  } else {
    queue += "<span class=bad>the queue cannot be read</span>";
  }
  AppendCard(out, "Queue", queue);

  // Session.
  std::string session;
  if (view.last_backup) {
    const auto& b = *view.last_backup;
    bool ok = b.result == "ok";
    session +=
        Row("last backup",
            Escaped(common::FormatIsoUtc(b.at_ms).substr(0, 19)) + " UTC");
    session += Row("store", Escaped(b.store));
    session += Row("result", fmt::format("<span class={}>{}</span>",
                                         ok ? "ok" : "bad", Escaped(b.result)));
  } else {
    session += Row("last backup", "none yet");
  }
  if (view.restored_from)
    session += Row("restored from", Escaped(*view.restored_from));
  AppendCard(out, "Session", session);
  out += "</div>";

  // The last events, newest first.
  out += "<h2>Events</h2>";
  if (m.events.empty()) {
    out += "<p class=sub>none yet</p>";
  } else {
    out +=
        "<table><tr><th>time (UTC)</th><th>event</th><th>reason</th>"
        "<th>memory</th></tr>";
    size_t rows = 0;
    for (auto it = m.events.rbegin();
         it != m.events.rend() && rows < kMaxEventRows; ++it, ++rows) {
      out += "<tr><td>";
      out += Escaped(common::FormatIsoUtc(it->time_ms).substr(0, 19));
      out += "</td><td>";
      AppendSwatch(out, MarkColor(it->kind));
      out += KindLabel(it->kind);
      out += "</td><td>";
      AppendEscaped(out, it->detail);
      out += "</td><td>";
      // A start's figure would be the previous worker's last sample.
      if (it->bytes > 0 && it->kind != MemoryEventKind::kWorkerStart)
        out += Megabytes(it->bytes);
      out += "</td></tr>";
    }
    out += "</table>";
  }
  out += "</body></html>";
  return out;
}

std::optional<int64_t> ParseDashboardWindow(std::string_view value) {
  if (value == "10m") return 10 * kMinute;
  if (value == "1h") return kHour;
  if (value == "6h") return 6 * kHour;
  if (value == "24h") return 24 * kHour;
  return std::nullopt;
}

}  // namespace dynoguard::worker
