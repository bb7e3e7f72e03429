#include "worker/http/http_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_writer.h"
#include "common/malloc_stats.h"
#include "common/memory_probe.h"
#include "common/number.h"
#include "common/proc_fs.h"
#include "worker/http/api_auth.h"
#include "worker/http/api_error.h"
#include "worker/http/body_limit.h"
#include "worker/metrics/health_report.h"
#include "worker/outbound/message_request.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;
using Handler = std::function<void(const Request&, Response&)>;

constexpr int kDeadLettersShown = 20;
constexpr uint64_t kMaxBallastStepMb = 4096;
constexpr uint64_t kMaxStallMs = 600000;
// How old /health's memory and queue figures may be.
constexpr auto kHealthSampleTtl = std::chrono::milliseconds(250);

using Json = common::JsonWriter;

void SendJson(Response& res, int status, const Json& json) {
  res.status = status;
  res.set_content(json.str(), "application/json");
}

void WriteMessage(Json& j, const OutboundMessage& m) {
  j.StartObject();
  j.Key("id").String(m.id);
  j.Key("to").String(m.to);
  j.Key("status").String(ToString(m.status));
  j.Key("attempts").Int(m.attempts);
  if (!m.provider_id.empty()) j.Key("providerId").String(m.provider_id);
  if (m.error) {
    j.Key("error").StartObject();
    j.Key("code").String(m.error->code);
    j.Key("message").String(m.error->message);
    j.Key("retryable").Bool(m.error->retryable);
    j.EndObject();
  }
  j.EndObject();
}

void SendRequestError(Response& res, const RequestError& error) {
  SendError(res, 400, error.code, error.message, error.field);
}

// The routes, sharing the borrowed parts. Handlers hold a shared_ptr to it.
class Api : public std::enable_shared_from_this<Api> {
 public:
  explicit Api(ApiDeps deps)
      : d_(std::move(deps)),
        owned_cleanup_(d_.cleanup != nullptr
                           ? nullptr
                           : std::make_unique<CleanupRunner>(
                                 *d_.memory, *d_.log,
                                 [m = d_.metrics](CleanupLevel level) {
                                   m->CountCleanup(level);
                                 })),
        cleanup_(d_.cleanup != nullptr ? d_.cleanup : owned_cleanup_.get()) {}

  void Install(httplib::Server& server);

 private:
  // Wraps `fn` so that it never throws and, when `auth` is set, runs only
  // for authorized clients.
  Handler Wrap(bool auth, void (Api::*fn)(const Request&, Response&));
  bool Authorize(const Request& req, Response& res) const;

  void Health(const Request& req, Response& res);
  void SessionStatusRoute(const Request& req, Response& res);
  void Cleanup(const Request& req, Response& res);
  void MetricsRoute(const Request& req, Response& res);
  void PostMessage(const Request& req, Response& res);
  void GetMessage(const Request& req, Response& res);
  void Queue(const Request& req, Response& res);
  void SandboxInbound(const Request& req, Response& res);
  void SandboxOutbox(const Request& req, Response& res);
  void SandboxFail(const Request& req, Response& res);
  void BallastRoute(const Request& req, Response& res);
  void StallRoute(const Request& req, Response& res);

  // False (answered 404 or 415) unless the sandbox is on and the body may
  // be JSON.
  bool SandboxReady(Response& res) const;

  // The sampled part of /health (memory from /proc, malloc figures, the
  // queue from SQLite): refreshed when older than kHealthSampleTtl, so a
  // monitoring loop or a load balancer hammering /health costs a /proc walk
  // and a query a few times a second, not per request. Fills `f`.
  void SampleHealth(HealthFigures& f);

  const ApiDeps d_;
  const std::unique_ptr<CleanupRunner> owned_cleanup_;
  CleanupRunner* const cleanup_;
  std::mutex health_mu_;
  std::optional<std::chrono::steady_clock::time_point>
      health_sampled_at_;        // guarded by health_mu_
  HealthFigures health_sample_;  // guarded by health_mu_
};

Handler Api::Wrap(bool auth, void (Api::*fn)(const Request&, Response&)) {
  std::shared_ptr<Api> self = shared_from_this();
  return [self, auth, fn](const Request& req, Response& res) {
    try {
      // The server reads up to the largest route limit (LargestBodyLimit);
      // each route holds its own here.
      const uint64_t limit =
          BodyLimitFor(self->d_.config->max_body_bytes, req.method, req.path);
      if (req.body.size() > limit) {
        SendError(
            res, 413, api_error::kPayloadTooLarge,
            "request body larger than " + std::to_string(limit) + " bytes" +
                (limit == self->d_.config->max_body_bytes ? " (MAX_BODY_BYTES)"
                                                          : ""));
        return;
      }
      if (auth && !self->Authorize(req, res)) return;
      ((*self).*fn)(req, res);
    } catch (const std::exception& e) {
      self->d_.log->Error("http-handler-failed",
                          {{"path", req.path}, {"error", e.what()}});
      SendError(res, 500, api_error::kInternal, "internal error");
    } catch (...) {
      self->d_.log->Error("http-handler-failed", {{"path", req.path}});
      SendError(res, 500, api_error::kInternal, "internal error");
    }
  };
}

bool Api::Authorize(const Request& req, Response& res) const {
  const std::string authorization = req.get_header_value("Authorization");
  const std::string x_api_key = req.get_header_value("X-Api-Key");
  const std::string host = req.get_header_value("Host");
  const std::string origin = req.get_header_value("Origin");
  CallerInfo caller;
  caller.authorization = authorization;
  caller.x_api_key = x_api_key;
  caller.remote_addr = req.remote_addr;
  caller.host = host;
  caller.origin = origin;
  caller.has_proxy_header = req.has_header("Forwarded") ||
                            req.has_header("X-Forwarded-For") ||
                            req.has_header("X-Real-IP");
  AuthDecision decision =
      worker::Authorize(d_.config->api_key, d_.config->host, caller);
  switch (decision.result) {
    case AuthResult::kAllowed:
      return true;
    case AuthResult::kUnauthorized:
      res.set_header("WWW-Authenticate", "Bearer");
      SendError(res, 401, api_error::kUnauthorized, decision.message);
      return false;
    case AuthResult::kForbidden:
      SendError(res, 403, api_error::kForbidden, decision.message);
      return false;
  }
  return false;
}

void Api::SampleHealth(HealthFigures& f) {
  std::lock_guard<std::mutex> lock(health_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!health_sampled_at_ || now - *health_sampled_at_ >= kHealthSampleTtl) {
    HealthFigures& s = health_sample_;
    s.rss = d_.memory->ReadRss();
    if (s.rss == 0) s.rss = d_.memory->last_rss();
    common::MallocStats malloc_stats = common::ReadMallocStats();
    s.heap_total = malloc_stats.heap_total;
    s.heap_used = malloc_stats.heap_used;
    s.external = malloc_stats.mmapped;
    s.array_buffers = d_.memory->CacheBytes();
    common::Result<common::MemInfo> meminfo =
        common::ReadMeminfo(common::ProcFs());
    if (meminfo.ok()) {
      s.system_total = meminfo->total_bytes;
      s.system_free = meminfo->available_bytes != 0 ? meminfo->available_bytes
                                                    : meminfo->free_bytes;
    }
    common::Result<QueueStats> stats = d_.queue->Stats();
    // A queue that answers Stats but fails reads or writes elsewhere (a
    // corrupt page) is not connected either.
    s.database_connected = stats.ok() && d_.queue->health().ok;
    if (stats.ok()) {
      s.queue_depth = stats->depth;
      s.queue_in_flight = stats->in_flight;
      s.dead_letters = stats->dead_letters;
    }
    health_sampled_at_ = now;
  }
  f = health_sample_;
}

void Api::Health(const Request&, Response& res) {
  HealthFigures f;
  SampleHealth(f);
  f.now_ms = d_.now_ms();
  f.uptime_s = std::chrono::duration<double>(std::chrono::system_clock::now() -
                                             d_.started)
                   .count();
  f.limit = d_.memory->limit_bytes();
  f.memory_optimization = d_.config->memory_optimization;
  SessionStatus session = d_.session_status();
  f.transport = session.transport;
  f.state = session.state;
  res.status = 200;
  res.set_content(HealthJson(f), "application/json");
}

void Api::SessionStatusRoute(const Request&, Response& res) {
  res.status = 200;
  res.set_content(SessionStatusJson(d_.session_status()), "application/json");
}

void Api::Cleanup(const Request& req, Response& res) {
  std::string level_text = req.has_param("level") ? req.get_param_value("level")
                                                  : std::string("standard");
  CleanupLevel level;
  if (level_text == "standard") {
    level = CleanupLevel::kStandard;
  } else if (level_text == "emergency") {
    level = CleanupLevel::kEmergency;
  } else {
    SendError(res, 400, api_error::kInvalidField,
              "level must be standard or emergency", "level");
    return;
  }
  CleanupReport report = cleanup_->Run(level, "http");
  Json j;
  j.StartObject();
  j.Key("level").String(ToString(level));
  j.Key("before").StartObject();
  j.Key("rss").Uint(report.rss_before);
  j.Key("cacheBytes").Uint(report.cache_bytes_before);
  j.EndObject();
  j.Key("after").StartObject();
  j.Key("rss").Uint(report.rss_after);
  j.Key("cacheBytes").Uint(report.cache_bytes_after);
  j.EndObject();
  j.Key("freed").Uint(report.freed());
  j.Key("tookMs").Int(report.took.count());
  j.EndObject();
  SendJson(res, 200, j);
}

void Api::MetricsRoute(const Request&, Response& res) {
  MetricsSnapshot g;
  g.rss_bytes = d_.memory->ReadRss();
  g.heap_used_bytes = common::ReadMallocStats().heap_used;
  g.cache_bytes = d_.memory->CacheBytes();
  g.cache_breakdown = d_.memory->CacheBreakdown();
  g.memory_limit_bytes = d_.memory->limit_bytes();
  g.memory_pressure = d_.memory->under_pressure();
  if (d_.events != nullptr) g.inbound_total = d_.events->inbound_total();
  common::Result<QueueStats> stats = d_.queue->Stats();
  if (stats.ok()) {
    g.queue_depth = stats->depth;
    g.queue_in_flight = stats->in_flight;
    g.dead_letters = stats->dead_letters;
  }
  res.status = 200;
  res.set_content(d_.metrics->RenderPrometheus(g),
                  std::string(kPrometheusContentType));
}

void Api::PostMessage(const Request& req, Response& res) {
  if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
    SendError(res, 415, api_error::kInvalidField,
              "Content-Type must be application/json", "Content-Type");
    return;
  }
  if (d_.memory->under_pressure()) {
    SendError(res, 503, api_error::kMemoryPressure,
              "memory above the emergency threshold; new sends are refused "
              "until it is back under");
    return;
  }
  Parsed<NewMessage> parsed = ParseMessageRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  const NewMessage& message = std::get<NewMessage>(parsed);
  common::Result<MessageQueue::EnqueueResult> queued =
      d_.queue->Enqueue(message, d_.now_ms());
  if (!queued.ok()) {
    d_.log->Error("enqueue-failed", {{"error", queued.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  if (queued->conflict) {
    SendError(res, 422, "conflict",
              "idempotencyKey was already used for a different request (" +
                  queued->id + "); use a new key for a new message",
              "idempotencyKey");
    return;
  }
  Json j;
  if (queued->created) {
    d_.log->Info("queued", {{"id", queued->id}});
    j.StartObject()
        .Key("id")
        .String(queued->id)
        .Key("status")
        .String("queued")
        .EndObject();
    SendJson(res, 202, j);
    if (d_.wake_dispatcher) d_.wake_dispatcher();
    return;
  }
  // The idempotency key is known: report the original message as it is now.
  common::Result<std::optional<OutboundMessage>> existing =
      d_.queue->Get(queued->id);
  std::string_view status = "queued";
  if (existing.ok() && existing->has_value()) {
    status = ToString((*existing)->status);
  }
  j.StartObject()
      .Key("id")
      .String(queued->id)
      .Key("status")
      .String(status)
      .EndObject();
  SendJson(res, 200, j);
}

void Api::GetMessage(const Request& req, Response& res) {
  std::string id = req.matches.size() > 1 ? req.matches[1].str() : "";
  common::Result<std::optional<OutboundMessage>> found = d_.queue->Get(id);
  if (!found.ok()) {
    d_.log->Error("queue-read-failed", {{"error", found.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  if (!found->has_value()) {
    SendError(res, 404, api_error::kNotFound, "no message with this id");
    return;
  }
  Json j;
  WriteMessage(j, **found);
  SendJson(res, 200, j);
}

void Api::Queue(const Request&, Response& res) {
  common::Result<QueueStats> stats = d_.queue->Stats();
  common::Result<std::vector<OutboundMessage>> dead =
      d_.queue->DeadLetters(kDeadLettersShown);
  if (!stats.ok() || !dead.ok()) {
    d_.log->Error(
        "queue read failed",
        {{"error", (!stats.ok() ? stats.status() : dead.status()).ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the message queue is unavailable; try again");
    return;
  }
  // The next send starts when a queued message is due and the dispatcher's
  // pause (SEND_DELAY_MS, pacing) is over: the later of the two.
  std::optional<int64_t> next_send = stats->next_attempt_ms;
  if (next_send && d_.dispatcher_status) {
    DispatcherStatus dispatcher = d_.dispatcher_status();
    if (dispatcher.next_send_ms) {
      next_send = std::max(*next_send, *dispatcher.next_send_ms);
    }
  }
  Json j;
  j.StartObject();
  j.Key("depth").Int(stats->depth);
  j.Key("inFlight").Int(stats->in_flight);
  j.Key("nextSendAt");
  if (next_send) {
    j.Int(*next_send);
  } else {
    j.Null();
  }
  j.Key("deadLetters").StartObject();
  j.Key("count").Int(stats->dead_letters);
  j.Key("recent").StartArray();
  for (const OutboundMessage& m : *dead) WriteMessage(j, m);
  j.EndArray();
  j.EndObject();
  j.EndObject();
  SendJson(res, 200, j);
}

bool Api::SandboxReady(Response& res) const {
  if (d_.sandbox == nullptr) {
    SendError(res, 404, api_error::kNotFound,
              "the sandbox transport is not in use (TRANSPORT=cloud)");
    return false;
  }
  return true;
}

void Api::SandboxInbound(const Request& req, Response& res) {
  if (!SandboxReady(res)) return;
  if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
    SendError(res, 415, api_error::kInvalidField,
              "Content-Type must be application/json", "Content-Type");
    return;
  }
  if (d_.events == nullptr) {
    SendError(res, 503, api_error::kUnavailable, "inbound path not ready");
    return;
  }
  Parsed<InboundRequest> parsed = ParseInboundRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  InboundRequest& in = std::get<InboundRequest>(parsed);
  InboundMessage message = d_.sandbox->SimulateInbound(
      std::move(in.from), std::move(in.text), d_.now_ms(), *d_.events);
  Json j;
  j.StartObject().Key("id").String(message.id).EndObject();
  SendJson(res, 202, j);
}

void Api::SandboxOutbox(const Request&, Response& res) {
  if (!SandboxReady(res)) return;
  Json j;
  j.StartObject().Key("messages").StartArray();
  for (const SandboxTransport::OutboxEntry& e : d_.sandbox->Outbox()) {
    j.StartObject();
    j.Key("id").String(e.id);
    j.Key("to").String(e.to);
    j.Key("text").String(e.text);
    j.Key("sentAt").Int(e.sent_at_ms);
    j.EndObject();
  }
  j.EndArray().EndObject();
  SendJson(res, 200, j);
}

void Api::SandboxFail(const Request& req, Response& res) {
  if (!SandboxReady(res)) return;
  if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
    SendError(res, 415, api_error::kInvalidField,
              "Content-Type must be application/json", "Content-Type");
    return;
  }
  Parsed<FailRequest> parsed = ParseFailRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  FailRequest& fail = std::get<FailRequest>(parsed);
  d_.sandbox->FailNext(fail.count, fail.code, fail.message);
  d_.log->Info("sandbox-fail-next",
               {{"count", fail.count}, {"code", fail.code}});
  Json j;
  j.StartObject()
      .Key("count")
      .Int(fail.count)
      .Key("code")
      .Int(fail.code)
      .EndObject();
  SendJson(res, 200, j);
}

void Api::BallastRoute(const Request& req, Response& res) {
  Ballast& ballast = *d_.ballast;
  Json j;
  if (req.method == "DELETE" ||
      (req.has_param("release") && req.get_param_value("release") != "0")) {
    uint64_t released = ballast.Release();
    d_.log->Info("ballast-released", {{"mb", released}});
    j.StartObject().Key("ballastMb").Uint(ballast.megabytes());
    j.Key("releasedMb").Uint(released).EndObject();
    SendJson(res, 200, j);
    return;
  }
  if (req.has_param("mb")) {
    std::optional<uint64_t> mb = common::ParseDecimalInRange<uint64_t>(
        req.get_param_value("mb"), 1, kMaxBallastStepMb);
    if (!mb) {
      SendError(res, 400, api_error::kInvalidField,
                "mb must be an integer from 1 to 4096", "mb");
      return;
    }
    const bool pinned =
        req.has_param("pinned") && req.get_param_value("pinned") != "0";
    uint64_t total = ballast.Grow(*mb, pinned);
    d_.log->Info("ballast-grown",
                 {{"mb", *mb}, {"pinned", pinned}, {"total_mb", total}});
    j.StartObject().Key("ballastMb").Uint(total).EndObject();
    SendJson(res, 200, j);
    return;
  }
  if (req.method == "POST") {
    SendError(res, 400, api_error::kInvalidField,
              "give ?mb=N (1-4096) or ?release=1", "mb");
    return;
  }
  j.StartObject().Key("ballastMb").Uint(ballast.megabytes()).EndObject();
  SendJson(res, 200, j);
}

void Api::StallRoute(const Request& req, Response& res) {
  std::optional<uint64_t> ms = common::ParseDecimalInRange<uint64_t>(
      req.get_param_value("ms"), 1, kMaxStallMs);
  if (!ms) {
    SendError(res, 400, api_error::kInvalidField,
              "ms must be an integer from 1 to 600000", "ms");
    return;
  }
  d_.stall_loop(std::chrono::milliseconds(*ms));
  Json j;
  j.StartObject().Key("stallMs").Uint(*ms).EndObject();
  SendJson(res, 202, j);
}

// Answers 405 with the methods `pattern` does allow.
Handler MethodNotAllowed(std::string allow) {
  return [allow](const Request&, Response& res) {
    res.set_header("Allow", allow);
    SendError(res, 405, api_error::kMethodNotAllowed,
              "method not allowed; use " + allow);
  };
}

enum Method : unsigned { kGet = 1, kPost = 2, kDelete = 4 };

void Route(httplib::Server& server, const std::string& pattern,
           unsigned methods, const Handler& handler) {
  std::string allow;
  for (auto [bit, name] : {std::pair{kGet, "GET"}, std::pair{kPost, "POST"},
                           std::pair{kDelete, "DELETE"}}) {
    if (methods & bit) allow += (allow.empty() ? "" : ", ") + std::string(name);
  }
  Handler refuse = MethodNotAllowed(allow);
  server.Get(pattern, (methods & kGet) ? handler : refuse);
  server.Post(pattern, (methods & kPost) ? handler : refuse);
  server.Delete(pattern, (methods & kDelete) ? handler : refuse);
  server.Put(pattern, refuse);
  server.Patch(pattern, refuse);
  server.Options(pattern, refuse);
}

void Api::Install(httplib::Server& server) {
  Route(server, "/health", kGet, Wrap(false, &Api::Health));
  Route(server, "/session-status", kGet, Wrap(false, &Api::SessionStatusRoute));
  Route(server, "/cleanup", kGet | kPost, Wrap(true, &Api::Cleanup));
  Route(server, "/metrics", kGet, Wrap(false, &Api::MetricsRoute));
  Route(server, "/api/messages", kPost, Wrap(true, &Api::PostMessage));
  Route(server, "/api/messages/([^/]+)", kGet, Wrap(true, &Api::GetMessage));
  Route(server, "/api/queue", kGet, Wrap(true, &Api::Queue));
  Route(server, "/api/sandbox/inbound", kPost,
        Wrap(true, &Api::SandboxInbound));
  Route(server, "/api/sandbox/outbox", kGet, Wrap(true, &Api::SandboxOutbox));
  Route(server, "/api/sandbox/fail", kPost, Wrap(true, &Api::SandboxFail));
  if (d_.ballast != nullptr) {
    Route(server, "/debug/ballast", kGet | kPost | kDelete,
          Wrap(true, &Api::BallastRoute));
  }
  if (d_.stall_loop) {
    Route(server, "/debug/stall", kPost, Wrap(true, &Api::StallRoute));
  }
}

}  // namespace

void InstallRoutes(httplib::Server& server, ApiDeps deps) {
  std::make_shared<Api>(std::move(deps))->Install(server);
}

}  // namespace dynoguard::worker
