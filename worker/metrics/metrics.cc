#include "worker/metrics/metrics.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "common/number.h"

namespace dynoguard::worker {
namespace {

constexpr SendOutcome kOutcomes[] = {SendOutcome::kSent, SendOutcome::kRetry,
                                     SendOutcome::kFailed};
constexpr CleanupLevel kLevels[] = {CleanupLevel::kStandard,
                                    CleanupLevel::kEmergency};

void Header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name,
                 help, name, type);
}

template <typename T>
void Gauge(std::string& out, std::string_view name, std::string_view help,
           T value) {
  Header(out, name, "gauge", help);
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
}

// Label values are escaped as the text format requires (\\, \", \n).
std::string EscapeLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view ToString(SendOutcome outcome) {
  switch (outcome) {
    case SendOutcome::kSent:
      return "sent";
    case SendOutcome::kRetry:
      return "retry";
    case SendOutcome::kFailed:
      return "failed";
  }
  return "unknown";
}

Metrics::Metrics(uint64_t restarts_seen) : restarts_seen_(restarts_seen) {}

void Metrics::CountHttp(int status) {
  if (status < 0 || status >= kMaxStatus) status = 0;
  http_[status].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountSend(SendOutcome outcome) {
  sends_[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountCleanup(CleanupLevel level) {
  cleanups_[static_cast<size_t>(level)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t Metrics::http_requests(int status) const {
  if (status < 0 || status >= kMaxStatus) status = 0;
  return http_[status].load();
}

uint64_t Metrics::sends(SendOutcome outcome) const {
  return sends_[static_cast<size_t>(outcome)].load();
}

uint64_t Metrics::cleanups(CleanupLevel level) const {
  return cleanups_[static_cast<size_t>(level)].load();
}

uint64_t Metrics::RestartsFromEnv(const char* value) {
  if (value == nullptr) return 0;
  return common::ParseDecimal<uint64_t>(value).value_or(0);
}

std::string Metrics::RenderPrometheus(const MetricsSnapshot& gauges) const {
  std::string out;
  out.reserve(4096);
  auto it = std::back_inserter(out);

  Gauge(out, "dynoguard_memory_rss_bytes",
        "Resident memory of the worker process tree (plus swap).",
        gauges.rss_bytes);
  Gauge(out, "dynoguard_memory_heap_used_bytes",
        "Bytes in allocated malloc chunks (mallinfo2).",
        gauges.heap_used_bytes);
  Gauge(out, "dynoguard_memory_cache_bytes",
        "Bytes held by the worker's caches.", gauges.cache_bytes);
  if (!gauges.cache_breakdown.empty()) {
    Header(out, "dynoguard_memory_cache_component_bytes", "gauge",
           "Bytes held by each cache.");
    for (const auto& [name, bytes] : gauges.cache_breakdown) {
      fmt::format_to(
          it,
          "dynoguard_memory_cache_component_bytes{{component=\"{}\"}} "
          "{}\n",
          EscapeLabel(name), bytes);
    }
  }
  Gauge(out, "dynoguard_memory_limit_bytes", "The memory budget.",
        gauges.memory_limit_bytes);
  Gauge(out, "dynoguard_memory_pressure",
        "1 while above the emergency threshold (new sends refused), else 0.",
        gauges.memory_pressure ? 1 : 0);
  Gauge(out, "dynoguard_queue_depth", "Messages queued or being sent.",
        gauges.queue_depth);
  Gauge(out, "dynoguard_queue_in_flight", "Messages being sent now.",
        gauges.queue_in_flight);
  Gauge(out, "dynoguard_queue_dead_letters", "Messages that failed for good.",
        gauges.dead_letters);

  Header(out, "dynoguard_connection_state", "gauge",
         "1 for the transport's current connection state.");
  for (std::string_view state :
       {"starting", "restoring", "connected", "reconnecting", "disconnected"}) {
    fmt::format_to(it, "dynoguard_connection_state{{state=\"{}\"}} {}\n", state,
                   state == gauges.connection_state ? 1 : 0);
  }
  Header(out, "dynoguard_queue_paused", "gauge",
         "1 while no send starts (token, account, connection), with the "
         "reason as a label.");
  fmt::format_to(it, "dynoguard_queue_paused{{reason=\"{}\"}} {}\n",
                 EscapeLabel(gauges.queue_paused ? gauges.pause_reason : ""),
                 gauges.queue_paused ? 1 : 0);
  Gauge(out, "dynoguard_queue_slowed_recipients",
        "Recipients waiting out a 131056 (pair rate limit) slow-down.",
        gauges.slowed_recipients);
  if (gauges.forwarding) {
    Gauge(out, "dynoguard_forward_pending",
          "Events waiting to be POSTed to WEBHOOK_URL.",
          gauges.forward_pending);
    Gauge(out, "dynoguard_forward_dead_letters",
          "Events WEBHOOK_URL refused for good or never took.",
          gauges.forward_dead_letters);
    Header(out, "dynoguard_forward_delivered_total", "counter",
           "Events delivered to WEBHOOK_URL.");
    fmt::format_to(it, "dynoguard_forward_delivered_total {}\n",
                   gauges.forward_delivered_total);
  }

  Header(out, "dynoguard_http_requests_total", "counter",
         "HTTP requests answered, by status code.");
  bool any_http = false;
  for (int status = 0; status < kMaxStatus; ++status) {
    uint64_t count = http_[status].load();
    if (count == 0) continue;
    any_http = true;
    fmt::format_to(it, "dynoguard_http_requests_total{{code=\"{}\"}} {}\n",
                   status, count);
  }
  if (!any_http) {
    fmt::format_to(it, "dynoguard_http_requests_total{{code=\"200\"}} 0\n");
  }

  Header(out, "dynoguard_sends_total", "counter",
         "Send attempts, by result (sent, retry, failed).");
  for (SendOutcome outcome : kOutcomes) {
    fmt::format_to(it, "dynoguard_sends_total{{result=\"{}\"}} {}\n",
                   ToString(outcome), sends(outcome));
  }

  Header(out, "dynoguard_cleanups_total", "counter",
         "Memory cleanups run, by level.");
  for (CleanupLevel level : kLevels) {
    fmt::format_to(it, "dynoguard_cleanups_total{{level=\"{}\"}} {}\n",
                   ToString(level), cleanups(level));
  }

  Header(out, "dynoguard_inbound_messages_total", "counter",
         "Inbound messages received (after deduplication).");
  fmt::format_to(it, "dynoguard_inbound_messages_total {}\n",
                 gauges.inbound_total);

  Header(out, "dynoguard_webhook_parts_skipped_total", "counter",
         "Parts of webhook bodies (a message, status, error, change or "
         "entry) left out for an unexpected shape.");
  fmt::format_to(it, "dynoguard_webhook_parts_skipped_total {}\n",
                 gauges.webhook_parts_skipped);

  Header(out, "dynoguard_restarts_total", "counter",
         "Worker restarts by the supervisor before this process started.");
  fmt::format_to(it, "dynoguard_restarts_total {}\n", restarts_seen_);
  return out;
}

}  // namespace dynoguard::worker
