#include "worker/metrics/metrics.h"

#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace dynoguard::worker {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("metrics: counters render with labels", "[metrics]") {
  Metrics metrics(3);
  metrics.CountHttp(200);
  metrics.CountHttp(200);
  metrics.CountHttp(404);
  metrics.CountSend(SendOutcome::kSent);
  metrics.CountSend(SendOutcome::kRetry);
  metrics.CountSend(SendOutcome::kRetry);
  metrics.CountCleanup(CleanupLevel::kEmergency);
  MetricsSnapshot gauges;
  gauges.inbound_total = 1;
  gauges.webhook_parts_skipped = 2;
  std::string text = metrics.RenderPrometheus(gauges);
  CHECK(Contains(text, "dynoguard_http_requests_total{code=\"200\"} 2\n"));
  CHECK(Contains(text, "dynoguard_http_requests_total{code=\"404\"} 1\n"));
  CHECK(Contains(text, "dynoguard_sends_total{result=\"sent\"} 1\n"));
  CHECK(Contains(text, "dynoguard_sends_total{result=\"retry\"} 2\n"));
  CHECK(Contains(text, "dynoguard_sends_total{result=\"failed\"} 0\n"));
  CHECK(Contains(text, "dynoguard_cleanups_total{level=\"standard\"} 0\n"));
  CHECK(Contains(text, "dynoguard_cleanups_total{level=\"emergency\"} 1\n"));
  CHECK(Contains(text, "dynoguard_inbound_messages_total 1\n"));
  CHECK(Contains(text, "dynoguard_webhook_parts_skipped_total 2\n"));
  CHECK(Contains(text, "dynoguard_restarts_total 3\n"));
}

TEST_CASE("metrics: gauges come from the snapshot", "[metrics]") {
  Metrics metrics;
  MetricsSnapshot g;
  g.rss_bytes = 104857600;
  g.heap_used_bytes = 2048;
  g.cache_bytes = 4096;
  g.memory_limit_bytes = 536870912;
  g.memory_pressure = true;
  g.queue_depth = 7;
  g.queue_in_flight = 1;
  g.dead_letters = 2;
  g.cache_breakdown = {{"history", 4000}, {"ballast", 96}};
  std::string text = metrics.RenderPrometheus(g);
  CHECK(Contains(text, "dynoguard_memory_rss_bytes 104857600\n"));
  CHECK(Contains(text, "dynoguard_memory_heap_used_bytes 2048\n"));
  CHECK(Contains(text, "dynoguard_memory_cache_bytes 4096\n"));
  CHECK(Contains(text, "dynoguard_memory_limit_bytes 536870912\n"));
  CHECK(Contains(text, "dynoguard_memory_pressure 1\n"));
  CHECK(Contains(text, "dynoguard_queue_depth 7\n"));
  CHECK(Contains(text, "dynoguard_queue_in_flight 1\n"));
  CHECK(Contains(text, "dynoguard_queue_dead_letters 2\n"));
  CHECK(Contains(
      text,
      "dynoguard_memory_cache_component_bytes{component=\"history\"} 4000\n"));
}

// Every line is a comment (# HELP / # TYPE) or a sample of a metric whose
// TYPE was declared before it; each metric is declared once.
TEST_CASE("metrics: connection state, pause and forwarding", "[metrics]") {
  Metrics metrics;
  MetricsSnapshot gauges;
  gauges.connection_state = "disconnected";
  gauges.queue_paused = true;
  gauges.pause_reason = "token_invalid";
  gauges.slowed_recipients = 2;
  std::string text = metrics.RenderPrometheus(gauges);
  CHECK(text.find("dynoguard_connection_state{state=\"disconnected\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("dynoguard_connection_state{state=\"connected\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("dynoguard_queue_paused{reason=\"token_invalid\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("dynoguard_queue_slowed_recipients 2\n") !=
        std::string::npos);
  // Without WEBHOOK_URL there is no forwarding figure at all.
  CHECK(text.find("dynoguard_forward_") == std::string::npos);
  gauges.forwarding = true;
  gauges.forward_pending = 3;
  gauges.forward_dead_letters = 1;
  gauges.forward_delivered_total = 40;
  text = metrics.RenderPrometheus(gauges);
  CHECK(text.find("dynoguard_forward_pending 3\n") != std::string::npos);
  CHECK(text.find("dynoguard_forward_dead_letters 1\n") != std::string::npos);
  CHECK(text.find("dynoguard_forward_delivered_total 40\n") !=
        std::string::npos);
}

TEST_CASE("metrics: the output is valid Prometheus text format", "[metrics]") {
  Metrics metrics(1);
  metrics.CountHttp(500);
  metrics.CountSend(SendOutcome::kFailed);
  std::string text = metrics.RenderPrometheus({});
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  const std::regex help(R"(# HELP (dynoguard_[a-z_]+) \S.*)");
  const std::regex type(R"(# TYPE (dynoguard_[a-z_]+) (gauge|counter))");
  const std::regex sample(
      R"((dynoguard_[a-z_]+)(\{[a-z_]+="[^"]*"\})? -?[0-9]+(\.[0-9]+)?)");
  std::set<std::string> declared;
  std::istringstream lines(text);
  std::string line;
  std::smatch m;
  int samples = 0;
  while (std::getline(lines, line)) {
    INFO(line);
    if (std::regex_match(line, m, help)) continue;
    if (std::regex_match(line, m, type)) {
      CHECK(declared.insert(m[1].str()).second);
      continue;
    }
    REQUIRE(std::regex_match(line, m, sample));
    CHECK(declared.count(m[1].str()) == 1);
    ++samples;
  }
  CHECK(samples > 10);
}

TEST_CASE("metrics: DYNOGUARD_RESTARTS parsing", "[metrics]") {
  CHECK(Metrics::RestartsFromEnv(nullptr) == 0);
  CHECK(Metrics::RestartsFromEnv("") == 0);
  CHECK(Metrics::RestartsFromEnv("12") == 12);
  CHECK(Metrics::RestartsFromEnv("x") == 0);
  CHECK(Metrics::RestartsFromEnv("3x") == 0);
}

}  // namespace
}  // namespace dynoguard::worker
