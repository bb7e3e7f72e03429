// GET /dashboard from the outside: the real supervisor guarding the real
// worker, a cleanup asked through `supervisor cleanup`, the page read over
// HTTP and rendered by headless Chromium (Debian's `chromium`), whose
// screenshot is decoded and looked at: the threshold lines in their colours
// at their rows, the cleanup's marker inside the chart.
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "tests/support/png_image.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "worker/metrics/dashboard_svg.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::testing::Completed;
using dynoguard::testing::PngImage;
using dynoguard::testing::Process;
using dynoguard::testing::Rgb;
using dynoguard::testing::SpawnOptions;
using dynoguard::testing::TempDir;
namespace t = dynoguard::testing;
namespace w = dynoguard::worker;

constexpr auto kWait = 20s;
constexpr const char* kChromium = "/usr/bin/chromium";

// The worker under the supervisor (MEMORY_LIMIT_MB=200), or alone.
class Gateway {
 public:
  explicit Gateway(bool supervised) {
    std::map<std::string, std::string> env = {
        {"HOST", "127.0.0.1"},
        {"PORT", "0"},
        {"DATA_DIR", dir_.path()},
        {"MEMORY_LIMIT_MB", "200"},
        {"MEMORY_POLL_MS", "100"},
        {"WORKER_STOP_TIMEOUT_S", "5"},
        {"LOG_FORMAT", "text"},
        {"SEND_DELAY_MS", "0"},
        {"MEMORY_STANDARD_PERCENT", "60"}};
    SpawnOptions options;
    options.env = env;
    options.log_path = dir_.File("gateway.log");
    std::string binary = DYNOGUARD_WORKER_BIN;
    if (supervised) {
      binary = DYNOGUARD_SUPERVISOR_BIN;
      options.args = {"start", "--", DYNOGUARD_WORKER_BIN};
    }
    auto spawned = Process::Spawn(binary, options);
    INFO(spawned.status().ToString());
    REQUIRE(spawned.ok());
    process_.emplace(std::move(spawned).value());
    port_ = t::ListenPort(*process_);
    INFO(process_->LogText());
    REQUIRE(process_->WaitForLog(R"(worker: ready)", kWait));
  }

  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  std::string Log() const { return process_->LogText(); }

  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10s);
    return client;
  }
  std::string Dashboard(const std::string& query = "") const {
    auto res = Client().Get(("/dashboard" + query).c_str());
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return res->body;
  }
  Completed Control(std::vector<std::string> args) const {
    auto done = t::Run(DYNOGUARD_SUPERVISOR_BIN, std::move(args),
                       {{"DATA_DIR", dir_.path()}}, dir_.path(), kWait);
    INFO(done.status().ToString());
    REQUIRE(done.ok());
    return *done;
  }

 private:
  TempDir dir_;
  std::optional<Process> process_;
  int port_ = 0;
};

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The rows (top to bottom) where at least `min_pixels` of `color` are.
std::vector<int> RowsWith(const PngImage& png, Rgb color, int min_pixels,
                          int x0 = 0, int x1 = -1) {
  std::vector<int> rows;
  for (int y = 0; y < png.height(); ++y) {
    if (png.CountInRow(y, color, 6, x0, x1) >= min_pixels) rows.push_back(y);
  }
  return rows;
}

TEST_CASE("dashboard: the supervisor's history, a cleanup marked, no content",
          "[dashboard]") {
  Gateway gw(/*supervised=*/true);
  // A user writes and gets an answer: neither the text nor the number may
  // appear on the public page.
  auto client = gw.Client();
  auto in =
      client.Post("/api/sandbox/inbound",
                  R"({"from":"15557654321","text":"dashboard-secret-inbound"})",
                  "application/json");
  REQUIRE(in);
  REQUIRE(in->status == 202);
  REQUIRE(t::WaitUntil(
      [&] {
        auto res = client.Post(
            "/api/messages",
            R"({"to":"15557654321","text":"dashboard-secret-outbound"})",
            "application/json");
        return res && res->status == 202;
      },
      kWait, 100ms));

  Completed cleanup = gw.Control({"cleanup"});
  INFO(cleanup.stdout_text << cleanup.stderr_text);
  REQUIRE(cleanup.exit_code == 0);

  std::string page;
  bool marked = t::WaitUntil(
      [&] {
        page = gw.Dashboard();
        // The cleanup is in the history and the supervisor's samples too.
        return page.find("standard cleanup</td><td>control</td>") !=
                   std::string::npos &&
               page.find("of 200.0 MB") != std::string::npos;
      },
      kWait, 200ms);
  INFO(page);
  REQUIRE(marked);
  CHECK(page.find("memory as the supervisor measures it") != std::string::npos);
  CHECK(page.find("worker start</td>") != std::string::npos);
  CHECK(page.find("standard 60%") != std::string::npos);
  CHECK(page.find("of 200.0 MB") != std::string::npos);
  CHECK(page.find("15557654321") == std::string::npos);
  CHECK(page.find("dashboard-secret") == std::string::npos);
  CHECK(page.find("wamid") == std::string::npos);

  // Public like /health, even with an API key: not here, but no auth header
  // was sent either. A bad window is a JSON error.
  auto bad = client.Get("/dashboard?window=2d");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("invalid_field") != std::string::npos);
  CHECK(gw.Dashboard("?window=24h").find("<svg") != std::string::npos);

  // The restart is kept in the supervisor's history across the new worker.
  Completed restart = gw.Control({"restart"});
  REQUIRE(restart.exit_code == 0);
  marked = t::WaitUntil(
      [&] {
        page = gw.Dashboard();
        return page.find("restart</td><td>control</td>") != std::string::npos &&
               page.find("standard cleanup</td><td>control</td>") !=
                   std::string::npos;
      },
      kWait, 200ms);
  INFO(page);
  CHECK(marked);
}

TEST_CASE("dashboard: a worker alone shows its own samples", "[dashboard]") {
  Gateway gw(/*supervised=*/false);
  auto client = gw.Client();
  auto cleaned = client.Post("/cleanup?level=emergency", "", "text/plain");
  REQUIRE(cleaned);
  REQUIRE(cleaned->status == 200);
  std::string page;
  bool shown = t::WaitUntil(
      [&] {
        page = gw.Dashboard();
        return page.find("emergency cleanup</td>") != std::string::npos &&
               page.find("<path d=\"M") != std::string::npos;
      },
      kWait, 200ms);
  INFO(page);
  CHECK(shown);
  CHECK(page.find("the worker's own samples (no supervisor)") !=
        std::string::npos);
}

TEST_CASE("dashboard: headless Chromium draws the thresholds and a marker",
          "[dashboard][chromium]") {
  if (::access(kChromium, X_OK) != 0) {
    // CI installs it (scripts/setup.sh's test packages); a developer
    // machine may not have it.
    if (std::getenv("CI") != nullptr) FAIL("chromium is not installed");
    WARN("skipped: no " << kChromium << " (apt-get install chromium)");
    return;
  }
  Gateway gw(/*supervised=*/true);
  Completed cleanup = gw.Control({"cleanup"});
  REQUIRE(cleanup.exit_code == 0);
  REQUIRE(t::WaitUntil(
      [&] {
        const std::string page = gw.Dashboard();
        return page.find("standard cleanup</td><td>control</td>") !=
                   std::string::npos &&
               page.find("of 200.0 MB") != std::string::npos &&
               page.find("memory as the supervisor measures it") !=
                   std::string::npos;
      },
      kWait, 200ms));

  const std::string png_path = gw.dir().File("dashboard.png");
  const std::string url =
      "http://127.0.0.1:" + std::to_string(gw.port()) + "/dashboard";
  auto shot =
      t::Run(kChromium,
             {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + gw.dir().File("chromium"),
              "--hide-scrollbars", "--force-device-scale-factor=1",
              "--window-size=1000,760", "--screenshot=" + png_path, url},
             {{"HOME", gw.dir().path()}}, gw.dir().path(), 90s);
  INFO(shot.status().ToString());
  REQUIRE(shot.ok());
  INFO("chromium: exit " << shot->exit_code << "\n" << shot->stderr_text);
  REQUIRE(shot->exit_code == 0);
  auto bytes = ReadFile(png_path);
  REQUIRE(bytes.has_value());
  auto decoded = PngImage::Decode(*bytes);
  INFO(decoded.status().ToString());
  REQUIRE(decoded.ok());
  const PngImage& png = decoded.value();
  CHECK(png.width() == 1000);

  // The plot's frame: its top and bottom edges are the two long runs of the
  // frame colour; the threshold rows are measured from them.
  const int plot_width = w::kPlotRight - w::kPlotLeft;
  std::vector<int> frame =
      RowsWith(png, t::ParseHexColor(w::kColorFrame), plot_width * 9 / 10);
  INFO("frame rows: " << frame.size());
  REQUIRE(frame.size() >= 2);
  const int top = frame.front(), bottom = frame.back();
  CHECK(bottom - top == w::kPlotBottom - w::kPlotTop);
  // The frame's left edge: the first frame-coloured pixel of its top row.
  int left = 0;
  while (left < png.width() &&
         !png.At(left, top).Near(t::ParseHexColor(w::kColorFrame), 6)) {
    ++left;
  }
  const int right = left + plot_width;

  struct Line {
    double percent;
    std::string_view color;
  };
  for (const Line& line :
       {Line{60, w::kColorStandardLine}, Line{85, w::kColorEmergencyLine},
        Line{95, w::kColorRestartLine}}) {
    const double expected = top + (100 - line.percent) / 100 * (bottom - top);
    std::vector<int> rows = RowsWith(png, t::ParseHexColor(line.color),
                                     plot_width / 3, left, right);
    INFO("threshold " << line.percent << "% " << line.color << ": expected row "
                      << expected << ", found " << rows.size() << " rows");
    REQUIRE(!rows.empty());
    for (int row : rows) CHECK(std::abs(row - expected) <= 2.0);
  }

  // The cleanup's marker: its colour inside the plot (the legend's swatch is
  // outside it), a vertical line most of the plot's height.
  const Rgb marker = t::ParseHexColor(w::kColorStandardMark);
  const int in_plot = png.CountIn(marker, 6, left, top, right, bottom);
  INFO("marker pixels in the plot: " << in_plot);
  CHECK(in_plot >= (bottom - top) / 2);
  const Rgb start = t::ParseHexColor(w::kColorStartMark);
  CHECK(png.CountIn(start, 6, left, top, right, bottom) >= (bottom - top) / 2);
}

}  // namespace
