#include "worker/forward/forwarder.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "worker/crypto/digest.h"
#include "worker/net/http_error.h"

namespace dynoguard::worker {

namespace {

// "scheme://host[:port]" of `url`, without user info, path, query or
// fragment; "" when it is not http(s).
std::string OriginOf(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return "";
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    rest.remove_prefix(at + 1);
  }
  if (rest.empty()) return "";
  return std::string(scheme) + "://" + std::string(rest);
}

// "sha256=" + lowercase hex HMAC-SHA256(secret, body); "" if OpenSSL fails.
std::string Signature(std::string_view secret, std::string_view body) {
  std::optional<Sha256Digest> digest = HmacSha256(secret, body);
  if (!digest) return "";
  return "sha256=" + HexLower(*digest);
}

Forwarder* Self(void* data) { return static_cast<Forwarder*>(data); }

}  // namespace

struct Forwarder::LoopHandles {
  uv_async_t wake{};
  uv_timer_t timer{};
  uv_check_t check{};  // writes the outcomes of a loop turn after its I/O
  int open = 0;        // handles not yet closed; the last close frees this
};

common::Result<std::unique_ptr<Forwarder>> Forwarder::Create(
    uv_loop_t* loop, HttpClient& http, EventOutbox& outbox,
    const common::Logger& log, Options options) {
  if (OriginOf(options.url).empty()) {
    return common::Status::InvalidArgument(
        "WEBHOOK_URL: not an http:// or https:// URL");
  }
  if (options.max_in_flight == 0) options.max_in_flight = 1;
  return std::unique_ptr<Forwarder>(
      new Forwarder(loop, http, outbox, log, std::move(options)));
}

Forwarder::Forwarder(uv_loop_t* loop, HttpClient& http, EventOutbox& outbox,
                     const common::Logger& log, Options options)
    : loop_(loop),
      http_(http),
      outbox_(outbox),
      log_(log),
      options_(std::move(options)),
      origin_(OriginOf(options_.url)) {
  handles_ = new LoopHandles();
  uv_async_init(loop_, &handles_->wake, [](uv_async_t* handle) {
    if (handle->data != nullptr) Self(handle->data)->Pump();
  });
  uv_timer_init(loop_, &handles_->timer);
  uv_check_init(loop_, &handles_->check);
  handles_->wake.data = this;
  handles_->timer.data = this;
  handles_->check.data = this;
}

Forwarder::~Forwarder() { Close(); }

int64_t Forwarder::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Forwarder::Random() {
  if (options_.unit_random) return options_.unit_random();
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void Forwarder::Start() {
  if (started_) return;
  started_ = true;
  if (options_.secret.empty()) {
    log_.Warn("forward-unsigned",
              {{"url", origin_},
               {"",
                "WEBHOOK_SECRET is unset: events are POSTed without "
                "X-Dynoguard-Signature-256"}});
  }
  Pump();
}

void Forwarder::Wake() {
  std::lock_guard lock(mu_);
  if (!closed_) uv_async_send(&handles_->wake);
}

void Forwarder::ScheduleIn(int64_t delay_ms) {
  delay_ms = std::clamp<int64_t>(delay_ms, 0, options_.max_wait.count());
  uv_timer_start(
      &handles_->timer, [](uv_timer_t* timer) { Self(timer->data)->Pump(); },
      static_cast<uint64_t>(delay_ms), 0);
}

void Forwarder::Pump() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
  }
  if (!started_) return;
  if (!FlushRecords()) {
    // The outbox does not take writes: nothing new goes out until the
    // answers already received are written (their chats stay busy).
    ScheduleIn(options_.error_retry.count());
    UpdateStatus();
    return;
  }
  if (draining_) {
    MaybeFinishDrain();
    return;
  }
  const size_t slots = options_.max_in_flight > busy_.size()
                           ? options_.max_in_flight - busy_.size()
                           : 0;
  const int64_t now = Now();
  common::Result<DuePick> pick = outbox_.NextDue(now, slots, busy_);
  if (!pick.ok()) {
    log_.Log(
        outbox_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
        "forward-outbox-read-failed", {{"error", pick.status().message()}});
    outbox_failing_ = true;
    ScheduleIn(options_.error_retry.count());
    UpdateStatus();
    return;
  }
  outbox_failing_ = false;
  bool start_failed = false;
  for (const StoredEvent& stored : pick->due) {
    if (!Post(stored)) start_failed = true;
  }
  {
    std::lock_guard lock(mu_);
    status_.next_attempt_ms = pick->next_due_ms;
  }
  if (start_failed) {
    ScheduleIn(options_.error_retry.count());
  } else if (pick->next_due_ms) {
    ScheduleIn(*pick->next_due_ms - now);
  } else {
    uv_timer_stop(&handles_->timer);
  }
  UpdateStatus();
}

bool Forwarder::Post(const StoredEvent& stored) {
  const ForwardEvent& event = stored.event;
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.url = options_.url;
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("User-Agent", "dynoguard");
  request.headers.Add("X-Dynoguard-Event-Id", event.id);
  if (!options_.secret.empty()) {
    request.headers.Add("X-Dynoguard-Signature-256",
                        Signature(options_.secret, event.json));
  }
  request.body = event.json;
  // The answer's body is not needed: dropped as it arrives (no cap, no
  // memory), so only the status counts.
  request.sink.on_data = [](std::string_view) { return SinkAnswer::kContinue; };
  request.connect_timeout = options_.connect_timeout;
  request.total_timeout = options_.total_timeout;

  const uint64_t token = next_token_++;
  common::Result<HttpRequestId> started = http_.Start(
      std::move(request),
      [this, token](HttpResponse response) { OnDone(token, response); });
  if (!started.ok()) {
    // The client is closed (a stop under way) or refused the request: the
    // event stays pending and is looked at again later.
    log_.Log(
        start_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
        "forward-start-failed",
        {{"id", event.id}, {"error", started.status().message()}});
    start_failing_ = true;
    return false;
  }
  start_failing_ = false;
  InFlight flight;
  flight.request = *started;
  flight.id = event.id;
  flight.type = event.type;
  flight.chat = event.chat;
  flight.attempts = stored.attempts;
  flight.first_failure_ms = stored.first_failure_ms;
  in_flight_.emplace(token, std::move(flight));
  busy_.insert(event.chat);
  return true;
}

void Forwarder::OnDone(uint64_t token, const HttpResponse& response) {
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return;
  InFlight flight = std::move(it->second);
  in_flight_.erase(it);

  if (response.error.kind == HttpErrorKind::kCancelled) {
    // Stop or Close: the event stays pending, its attempts unchanged.
    busy_.erase(flight.chat);
    UpdateStatus();
    MaybeFinishDrain();
    return;
  }

  const int64_t now = Now();
  ForwardAnswer answer;
  if (response.ok()) {
    answer.status = response.status;
    if (auto retry_after = response.headers.Find("Retry-After")) {
      answer.retry_after = std::string(*retry_after);
    }
    answer.error = "http_" + std::to_string(response.status);
  } else {
    answer.error = std::string(HttpErrorKindName(response.error.kind));
  }
  const ForwardDecision decision =
      DecideForward(options_.retry, answer, flight.attempts + 1,
                    flight.first_failure_ms.value_or(now), now, Random());

  Pending pending;
  pending.chat = flight.chat;
  pending.outcome.id = flight.id;
  switch (decision.verdict) {
    case ForwardVerdict::kDelivered:
      pending.outcome.kind = EventOutcome::Kind::kDelivered;
      if (failing_) {
        failing_ = false;
        log_.Info("forward-recovered", {{"url", origin_}});
      }
      break;
    case ForwardVerdict::kRetry:
      pending.outcome.kind = EventOutcome::Kind::kRetry;
      pending.outcome.next_attempt_ms = decision.next_attempt_ms;
      pending.outcome.error = answer.error;
      break;
    case ForwardVerdict::kDead:
      pending.outcome.kind = EventOutcome::Kind::kDead;
      pending.outcome.error = answer.error;
      log_.Warn("forward-dead", {{"id", flight.id},
                                 {"type", flight.type},
                                 {"attempts", flight.attempts + 1},
                                 {"status", answer.error}});
      break;
  }
  const bool receiver_failed =
      answer.status == 0 || IsRetryableStatus(answer.status);
  if (receiver_failed && !failing_) {
    failing_ = true;
    log_.Warn("forward-failing", {{"url", origin_}, {"status", answer.error}});
  }
  {
    std::lock_guard lock(mu_);
    status_.failing = failing_;
    if (decision.verdict != ForwardVerdict::kDelivered) {
      status_.last_failure = answer.error;
    }
  }
  records_.push_back(std::move(pending));
  // Written after this loop turn's I/O, together with the other answers
  // that arrived in it.
  uv_check_start(&handles_->check,
                 [](uv_check_t* check) { Self(check->data)->Pump(); });
}

bool Forwarder::FlushRecords() {
  uv_check_stop(&handles_->check);
  if (records_.empty()) return true;
  std::vector<EventOutcome> outcomes;
  outcomes.reserve(records_.size());
  for (const Pending& pending : records_) outcomes.push_back(pending.outcome);
  common::Status written = outbox_.Record(outcomes, Now());
  if (!written.ok()) {
    log_.Log(
        outbox_failing_ ? common::LogLevel::kDebug : common::LogLevel::kWarn,
        "forward-outbox-write-failed", {{"error", written.message()}});
    outbox_failing_ = true;
    return false;
  }
  if (outbox_failing_) log_.Info("forward-outbox-recovered");
  outbox_failing_ = false;
  {
    std::lock_guard lock(mu_);
    for (const Pending& pending : records_) {
      switch (pending.outcome.kind) {
        case EventOutcome::Kind::kDelivered:
          ++status_.delivered;
          break;
        case EventOutcome::Kind::kRetry:
          ++status_.retried;
          break;
        case EventOutcome::Kind::kDead:
          ++status_.dead;
          break;
      }
    }
  }
  for (const Pending& pending : records_) busy_.erase(pending.chat);
  records_.clear();
  return true;
}

void Forwarder::Drain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  uv_timer_stop(&handles_->timer);
  {
    std::lock_guard lock(mu_);
    status_.stopping = true;
  }
  MaybeFinishDrain();
}

void Forwarder::MaybeFinishDrain() {
  if (!draining_ || !in_flight_.empty()) return;
  if (!records_.empty() && !FlushRecords()) {
    // Their events stay pending: the next run POSTs them again.
    log_.Warn("forward-outcomes-dropped", {{"count", records_.size()}});
    for (const Pending& pending : records_) busy_.erase(pending.chat);
    records_.clear();
  }
  uv_timer_stop(&handles_->timer);
  uv_check_stop(&handles_->check);
  UpdateStatus();
  if (on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    done();
  }
}

void Forwarder::CancelInFlight() {
  std::vector<HttpRequestId> requests;
  for (const auto& [token, flight] : in_flight_) {
    requests.push_back(flight.request);
  }
  // Each callback runs within Cancel (kCancelled) and erases its entry.
  for (HttpRequestId request : requests) http_.Cancel(request);
  // Requests the client already completed but whose callbacks did not run
  // cannot exist (callbacks run from the client's own loop turn); anything
  // left is forgotten, its event stays pending.
  for (const auto& [token, flight] : in_flight_) busy_.erase(flight.chat);
  in_flight_.clear();
}

void Forwarder::Stop(std::function<void()> on_stopped) {
  draining_ = true;
  {
    std::lock_guard lock(mu_);
    status_.stopping = true;
  }
  on_drained_ = std::move(on_stopped);
  CancelInFlight();
  MaybeFinishDrain();
}

void Forwarder::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
  }
  draining_ = true;
  CancelInFlight();
  if (!records_.empty()) (void)FlushRecords();
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  LoopHandles* handles = handles_;
  handles->open = 3;
  for (uv_handle_t* handle :
       {reinterpret_cast<uv_handle_t*>(&handles->wake),
        reinterpret_cast<uv_handle_t*>(&handles->timer),
        reinterpret_cast<uv_handle_t*>(&handles->check)}) {
    uv_handle_set_data(handle, handles);
    uv_close(handle, [](uv_handle_t* h) {
      auto* owner = static_cast<LoopHandles*>(uv_handle_get_data(h));
      if (--owner->open == 0) delete owner;
    });
  }
}

ForwarderStatus Forwarder::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Forwarder::UpdateStatus() {
  std::lock_guard lock(mu_);
  status_.in_flight = in_flight_.size();
  status_.failing = failing_;
}

}  // namespace dynoguard::worker
