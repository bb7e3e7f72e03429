#include "worker/transport/cloud/cloud_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <utility>

#include "worker/model/provider_error.h"
#include "worker/transport/cloud/cloud_answer_parser.h"
#include "worker/transport/cloud/cloud_request_builder.h"

namespace dynoguard::worker {

namespace {

using common::Status;

// What an error answer's body may add to a message; Graph errors are small.
constexpr size_t kMaxErrorBody = 4096;
// Graph object ids are digits; anything that could leave the path is refused.
constexpr size_t kMaxMediaId = 128;
// The slowest media download allowed for (MediaFetchTimeout).
constexpr uint64_t kMinMediaBytesPerS = 64 * 1024;
constexpr uint64_t kMaxMediaFetchS = 24 * 3600;  // whatever max_bytes says

bool Is2xx(int status) { return status >= 200 && status < 300; }

std::string TrimSlash(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

bool IsObjectId(std::string_view id) {
  if (id.empty() || id.size() > kMaxMediaId) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
  });
}

// "30s", "1.5s", "250ms": the log line's delay.
std::string FormatDelay(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
}

// The Status for a request that did not succeed: Unavailable when it may
// work later (no answer, 5xx, rate limits, a paused account), InvalidArgument
// when the provider refused it for good. `body` is the answer's body.
Status ErrorStatus(std::string_view what, const HttpResponse& response,
                   std::string_view body) {
  if (!response.ok()) {
    return Status::Unavailable(std::string(what) + ": " +
                               response.error.message);
  }
  ProviderError error = ParseGraphErrorBody(response.status, body);
  std::string message =
      fmt::format("{}: {} (code {})", what, error.message, error.code);
  if (ActionOf(error) == ProviderAction::kFail) {
    return Status::InvalidArgument(message);
  }
  return Status::Unavailable(message);
}

std::optional<uint64_t> ParseLength(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

void DeleteTimer(uv_handle_t* handle) {
  delete reinterpret_cast<uv_timer_t*>(handle);
}

void CloseTimer(uv_timer_t*& timer) {
  if (timer == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer), DeleteTimer);
  timer = nullptr;
}

// A media fetch in progress: shared by the response sink and the completion.
struct MediaFetch {
  uint64_t max_bytes = 0;
  std::string mime_type;  // from the media object; may be empty
  MediaStreamSink sink;
  int status = 0;
  uint64_t bytes = 0;      // taken by the sink
  bool too_large = false;  // by Content-Length or by the bytes
  bool aborted = false;    // the sink answered kAbort
  std::string error_body;  // a non-2xx answer's body, bounded
};

}  // namespace

CloudTransport::CloudTransport(Options options, HttpClient& client,
                               const common::Logger& log)
    : options_(std::move(options)),
      base_(TrimSlash(options_.api_base)),
      client_(client),
      log_(log) {}

CloudTransport::~CloudTransport() { Close(); }

void CloudTransport::Close() {
  destroying_ = true;
  std::vector<HttpRequestId> ids(in_flight_.begin(), in_flight_.end());
  for (HttpRequestId id : ids) client_.Cancel(id);
  in_flight_.clear();
  deferred_.clear();
  CloseTimer(heartbeat_timer_);
  CloseTimer(check_timer_);
  CloseTimer(defer_timer_);
}

ConnectionState CloudTransport::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::string CloudTransport::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

std::optional<int64_t> CloudTransport::last_heartbeat_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return activity_.last_heartbeat_ok_ms;
}

std::optional<int64_t> CloudTransport::last_send_ok_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return activity_.last_send_ok_ms;
}

CloudActivity CloudTransport::activity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return activity_;
}

common::Status CloudTransport::Start(uv_loop_t* loop, TransportEvents& events) {
  if (machine_)
    return Status::InvalidArgument("cloud transport: started twice");
  if (!IsHttpUrl(base_)) {
    return Status::InvalidArgument(
        "WHATSAPP_API_BASE: must be an http(s) URL with the version, e.g. "
        "https://graph.facebook.com/v25.0");
  }
  if (options_.phone_number_id.empty() ||
      !IsObjectId(options_.phone_number_id)) {
    return Status::InvalidArgument(
        "WHATSAPP_PHONE_NUMBER_ID: missing or not a Graph object id");
  }
  if (options_.token.empty()) {
    return Status::InvalidArgument("WHATSAPP_TOKEN: missing");
  }
  if (std::any_of(options_.token.begin(), options_.token.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
      })) {
    // Never quoted: it is a secret.
    return Status::InvalidArgument(
        "WHATSAPP_TOKEN: contains spaces or control characters");
  }
  if (!options_.now_ms) {
    return Status::InvalidArgument("cloud transport: no clock (now_ms)");
  }
  if (options_.heartbeat_interval.count() <= 0 ||
      options_.connection_check.count() <= 0) {
    return Status::InvalidArgument(
        "HEARTBEAT_S, CONNECTION_CHECK_S: must be positive");
  }
  loop_ = loop;
  events_ = &events;

  ConnectionOptions connection;
  connection.heartbeat_interval_ms = options_.heartbeat_interval.count();
  connection.failures_to_reconnect = options_.failures_to_reconnect;
  connection.reconnect_base_ms = options_.reconnect_base.count();
  connection.reconnect_max_ms = options_.reconnect_max.count();
  connection.disconnected_retry_ms = options_.heartbeat_interval.count();
  // A heartbeat may take up to total_timeout before it fails on its own.
  connection.stale_after_ms =
      3 * options_.heartbeat_interval.count() + options_.total_timeout.count();
  const int64_t now = options_.now_ms();
  machine_.emplace(connection, now);

  for (uv_timer_t** timer : {&heartbeat_timer_, &check_timer_, &defer_timer_}) {
    *timer = new uv_timer_t;
    uv_timer_init(loop_, *timer);
    (*timer)->data = this;
  }
  const auto check = static_cast<uint64_t>(options_.connection_check.count());
  uv_timer_start(check_timer_, OnCheckTimer, check, check);
  // The first heartbeat is due now; the timer starts it from the loop.
  ArmHeartbeat(machine_->next_heartbeat_ms(), now);
  return Status::Ok();
}

std::chrono::milliseconds MediaFetchTimeout(
    std::chrono::milliseconds call_total, uint64_t max_bytes) {
  const uint64_t seconds =
      std::min<uint64_t>(max_bytes / kMinMediaBytesPerS + 1, kMaxMediaFetchS);
  return call_total + std::chrono::seconds(static_cast<int64_t>(seconds));
}

HttpRequest CloudTransport::NewRequest(HttpMethod method,
                                       std::string url) const {
  HttpRequest request;
  request.method = method;
  request.url = std::move(url);
  request.headers.Add("Authorization", "Bearer " + options_.token);
  request.connect_timeout = options_.connect_timeout;
  request.total_timeout = options_.total_timeout;
  return request;
}

common::Result<HttpRequestId> CloudTransport::Issue(HttpRequest request,
                                                    Handler handler) {
  auto id = std::make_shared<HttpRequestId>(0);
  auto started = client_.Start(
      std::move(request),
      [this, id, handler = std::move(handler)](HttpResponse response) {
        in_flight_.erase(*id);
        if (destroying_) return;
        handler(std::move(response));
        MaybeFinishStop();  // last: on_stopped may destroy the transport
      });
  if (!started.ok()) return started.status();
  // The callback never runs from within Start, so the id is known first.
  *id = *started;
  in_flight_.insert(*id);
  return *id;
}

void CloudTransport::Defer(std::function<void()> task) {
  if (defer_timer_ == nullptr) {
    // Not started (REQUIRES broken) or being destroyed: the client's loop
    // still runs it later; a closed client leaves no loop to wait for.
    if (destroying_) return;
    if (!client_.Post(task)) task();
    return;
  }
  deferred_.push_back(std::move(task));
  uv_timer_start(defer_timer_, OnDeferTimer, 0, 0);
}

void CloudTransport::OnDeferTimer(uv_timer_t* timer) {
  auto* self = static_cast<CloudTransport*>(timer->data);
  // Only the tasks queued so far; those they queue run on the next turn.
  size_t count = self->deferred_.size();
  while (count-- > 0 && !self->deferred_.empty()) {
    std::function<void()> task = std::move(self->deferred_.front());
    self->deferred_.pop_front();
    task();
  }
  if (!self->deferred_.empty()) {
    uv_timer_start(self->defer_timer_, OnDeferTimer, 0, 0);
  }
  self->MaybeFinishStop();  // last: on_stopped may destroy the transport
}

void CloudTransport::OnHeartbeatTimer(uv_timer_t* timer) {
  auto* self = static_cast<CloudTransport*>(timer->data);
  self->Feed(ConnectionEvent::kTick);
  // The timer's clock (monotonic) and now_ms may disagree by a little: when
  // the machine found the heartbeat not yet due, wait for the rest.
  if (!self->stopping_ && !self->machine_->heartbeat_in_flight()) {
    self->ArmHeartbeat(self->machine_->next_heartbeat_ms(),
                       self->options_.now_ms());
  }
}

void CloudTransport::OnCheckTimer(uv_timer_t* timer) {
  static_cast<CloudTransport*>(timer->data)->Feed(ConnectionEvent::kTick);
}

void CloudTransport::Feed(ConnectionEvent event, std::string_view reason) {
  if (!machine_) return;
  const int64_t now = options_.now_ms();
  Apply(machine_->OnEvent(event, now, reason), now);
}

void CloudTransport::Apply(const ConnectionStep& step, int64_t now) {
  const bool changed = step.Has(kEmitConnectionEvent);
  if (changed) {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = step.state;
    reason_ = step.reason;
  }
  if (step.Has(kScheduleHeartbeat)) ArmHeartbeat(step.next_heartbeat_ms, now);
  // kPauseQueue / kResumeQueue need nothing here: the dispatcher holds the
  // queue while state() is not connected and learns of the change from
  // OnConnection.
  if (changed) {
    std::string next = FormatDelay(machine_->next_heartbeat_ms() - now);
    if (step.reason.empty()) {
      log_.Info("connection",
                {{"state", ToString(step.state)}, {"next_heartbeat_in", next}});
    } else {
      log_.Info("connection", {{"state", ToString(step.state)},
                               {"reason", step.reason},
                               {"next_heartbeat_in", next}});
    }
    if (events_ != nullptr) events_->OnConnection(step.state, step.reason);
  }
  if (step.Has(kSendHeartbeat)) SendHeartbeat();
}

void CloudTransport::ArmHeartbeat(int64_t at_ms, int64_t now) {
  if (stopping_ || heartbeat_timer_ == nullptr) return;
  const int64_t delay = std::max<int64_t>(0, at_ms - now);
  uv_timer_start(heartbeat_timer_, OnHeartbeatTimer,
                 static_cast<uint64_t>(delay), 0);
}

void CloudTransport::SendHeartbeat() {
  if (stopping_ || heartbeat_pending_) return;
  heartbeat_pending_ = true;
  auto id = Issue(
      NewRequest(HttpMethod::kGet, base_ + "/" + options_.phone_number_id),
      [this](HttpResponse response) {
        heartbeat_id_.reset();
        heartbeat_pending_ = false;
        OnHeartbeatDone(response);
      });
  if (id.ok()) {
    heartbeat_id_ = *id;
    return;
  }
  HttpResponse failed;
  failed.error.kind = HttpErrorKind::kOther;
  failed.error.message = id.status().message();
  Defer([this, failed] {
    heartbeat_pending_ = false;
    OnHeartbeatDone(failed);
  });
}

void CloudTransport::OnHeartbeatDone(const HttpResponse& response) {
  if (stopping_) return;  // cancelled by Stop: no outcome to learn from
  const int64_t now = options_.now_ms();
  const bool ok = response.ok() && Is2xx(response.status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    activity_.last_heartbeat_ms = now;
    if (ok) activity_.last_heartbeat_ok_ms = now;
  }
  if (ok) {
    Feed(ConnectionEvent::kHeartbeatOk);
    return;
  }
  if (!response.ok()) {
    log_.Debug("heartbeat_failed", {{"error", response.error.message}});
    Feed(ConnectionEvent::kNetworkFailure,
         ClassifyGraphError(0, 0, response.error.message).code);
    return;
  }
  ProviderError error = ParseGraphErrorBody(response.status, response.body);
  log_.Debug("heartbeat_failed",
             {{"status", response.status}, {"code", error.code}});
  std::string_view pause = PauseReason(error);
  if (!pause.empty()) {
    Feed(ConnectionEvent::kAuthError, pause);
  } else if (ActionOf(error) == ProviderAction::kRetry) {
    // 5xx, 408, 429, the transient Graph codes: the service, not us.
    Feed(ConnectionEvent::kNetworkFailure, error.code);
  } else {
    // Another 4xx (a wrong phone number id, a missing permission): no
    // network problem, and no send can work until it is fixed.
    Feed(ConnectionEvent::kAuthError, error.code);
  }
}

void CloudTransport::Send(const SendRequest& request, SendCallback done) {
  auto fail = [this, &done](ProviderError error) {
    SendResult result;
    result.error = std::move(error);
    Defer(
        [done = std::move(done), result = std::move(result)] { done(result); });
  };
  if (stopping_ || !machine_) {
    fail(ClassifyGraphError(
        0, 0,
        stopping_ ? "cloud transport stopped" : "cloud transport not started"));
    return;
  }
  common::Result<std::string> body = BuildSendBody(request);
  if (!body.ok()) {
    fail(ProviderError{"invalid_request", body.status().message(), false});
    return;
  }
  HttpRequest http = NewRequest(
      HttpMethod::kPost, base_ + "/" + options_.phone_number_id + "/messages");
  http.headers.Add("Content-Type", "application/json");
  http.body = std::move(body).value();
  auto shared_done = std::make_shared<SendCallback>(std::move(done));
  auto id = Issue(std::move(http), [this, shared_done](HttpResponse response) {
    OnSendDone(response, std::move(*shared_done));
  });
  if (!id.ok()) {
    done = std::move(*shared_done);
    fail(ClassifyGraphError(0, 0, id.status().message()));
  }
}

void CloudTransport::OnSendDone(const HttpResponse& response,
                                SendCallback done) {
  SendResult result;
  std::optional<ConnectionEvent> event;
  std::string reason;
  if (!response.ok()) {
    result.error = ClassifyGraphError(0, 0, response.error.message);
    event = ConnectionEvent::kSendNetworkFailure;
    reason = result.error.code;
  } else if (Is2xx(response.status)) {
    common::Result<SendAnswer> answer = ParseSendAnswer(response.body);
    if (answer.ok()) {
      result.ok = true;
      result.provider_id = std::move(answer->provider_id);
      result.message_status = std::move(answer->message_status);
      event = ConnectionEvent::kSendOk;
      std::lock_guard<std::mutex> lock(mu_);
      activity_.last_send_ok_ms = options_.now_ms();
    } else {
      // Not knowing the wamid, the message cannot be tracked: send it again
      // (the one duplicate SPEC §7 allows is preferable to a lost message).
      result.error = ProviderError{"invalid_answer",
                                   fmt::format("HTTP {}: {}", response.status,
                                               answer.status().message()),
                                   true};
    }
  } else {
    result.error = ParseGraphErrorBody(response.status, response.body);
    std::string_view pause = PauseReason(result.error);
    if (!pause.empty()) {
      event = ConnectionEvent::kPauseError;
      reason = std::string(pause);
    } else if (response.status >= 500 &&
               ActionOf(result.error) == ProviderAction::kRetry) {
      event = ConnectionEvent::kSendNetworkFailure;
      reason = result.error.code;
    }
  }
  // The state is right before the dispatcher hears of the outcome.
  if (event) Feed(*event, reason);
  done(std::move(result));
}

void CloudTransport::MarkRead(const std::string& message_id, bool typing,
                              DoneCallback done) {
  if (stopping_ || !machine_) {
    Defer([done = std::move(done), stopping = stopping_] {
      done(Status::Unavailable(stopping ? "cloud transport stopped"
                                        : "cloud transport not started"));
    });
    return;
  }
  if (message_id.empty()) {
    Defer([done = std::move(done)] {
      done(Status::InvalidArgument("message_id: missing"));
    });
    return;
  }
  HttpRequest http = NewRequest(
      HttpMethod::kPost, base_ + "/" + options_.phone_number_id + "/messages");
  http.headers.Add("Content-Type", "application/json");
  http.body = BuildMarkReadBody(message_id, typing);
  auto shared_done = std::make_shared<DoneCallback>(std::move(done));
  auto id = Issue(std::move(http), [shared_done](HttpResponse response) {
    if (response.ok() && Is2xx(response.status)) {
      (*shared_done)(Status::Ok());
    } else {
      (*shared_done)(ErrorStatus("mark read", response, response.body));
    }
  });
  if (!id.ok()) {
    Defer([shared_done, status = id.status()] { (*shared_done)(status); });
  }
}

void CloudTransport::UploadMedia(const MediaUpload& upload,
                                 UploadCallback done) {
  auto fail = [this, &done](Status status) {
    Defer(
        [done = std::move(done), status = std::move(status)] { done(status); });
  };
  if (stopping_ || !machine_) {
    fail(Status::Unavailable(stopping_ ? "cloud transport stopped"
                                       : "cloud transport not started"));
    return;
  }
  if (upload.file_path.empty()) {
    fail(Status::InvalidArgument("file_path: missing"));
    return;
  }
  if (upload.mime_type.empty()) {
    fail(Status::InvalidArgument("mime_type: missing"));
    return;
  }
  HttpRequest http = NewRequest(
      HttpMethod::kPost, base_ + "/" + options_.phone_number_id + "/media");
  http.multipart.push_back(
      MultipartPart::Field("messaging_product", "whatsapp"));
  http.multipart.push_back(MultipartPart::Field("type", upload.mime_type));
  http.multipart.push_back(MultipartPart::File(
      "file", upload.file_path, upload.mime_type, upload.filename));
  auto shared_done = std::make_shared<UploadCallback>(std::move(done));
  auto id = Issue(std::move(http), [shared_done](HttpResponse response) {
    if (!response.ok() || !Is2xx(response.status)) {
      (*shared_done)(ErrorStatus("upload media", response, response.body));
      return;
    }
    common::Result<std::string> media_id =
        ParseMediaUploadAnswer(response.body);
    if (!media_id.ok()) {
      (*shared_done)(
          Status::Unavailable("upload media: " + media_id.status().message()));
      return;
    }
    (*shared_done)(std::move(media_id).value());
  });
  if (!id.ok()) {
    done = std::move(*shared_done);
    fail(id.status());
  }
}

MediaDownloadId CloudTransport::DownloadMedia(const std::string& media_id,
                                              uint64_t max_bytes,
                                              MediaStreamSink sink,
                                              DownloadCallback done) {
  const MediaDownloadId download = next_download_++;
  auto fail = [this, &done](Status status) {
    Defer(
        [done = std::move(done), status = std::move(status)] { done(status); });
  };
  if (stopping_ || !machine_) {
    fail(Status::Unavailable(stopping_ ? "cloud transport stopped"
                                       : "cloud transport not started"));
    return download;
  }
  if (!IsObjectId(media_id)) {
    fail(Status::InvalidArgument("media id: not a Graph object id"));
    return download;
  }
  auto shared_done = std::make_shared<DownloadCallback>(std::move(done));
  auto id = Issue(
      NewRequest(HttpMethod::kGet, base_ + "/" + media_id),
      [this, download, shared_done, media_id, max_bytes,
       sink = std::move(sink)](HttpResponse response) mutable {
        downloads_.erase(download);
        const std::string what = "media " + media_id;
        if (response.error.kind == HttpErrorKind::kCancelled) {
          (*shared_done)(Status::Unavailable(what + ": download cancelled"));
          return;
        }
        if (response.ok() && !Is2xx(response.status)) {
          ProviderError error =
              ParseGraphErrorBody(response.status, response.body);
          if (response.status == 404 || error.code == "100") {
            (*shared_done)(Status::NotFound(what +
                                            ": unknown or expired media id (" +
                                            error.message + ")"));
          } else {
            (*shared_done)(ErrorStatus(what, response, response.body));
          }
          return;
        }
        if (!response.ok()) {
          (*shared_done)(ErrorStatus(what, response, response.body));
          return;
        }
        common::Result<MediaInfo> info = ParseMediaInfo(response.body);
        if (!info.ok()) {
          (*shared_done)(
              Status::Unavailable(what + ": " + info.status().message()));
          return;
        }
        if (info->file_size > max_bytes) {
          (*shared_done)(Status::InvalidArgument(
              fmt::format("{}: {} bytes, larger than the limit of {} bytes",
                          what, info->file_size, max_bytes)));
          return;
        }
        if (stopping_) {
          (*shared_done)(Status::Unavailable("cloud transport stopped"));
          return;
        }
        FetchMedia(download, media_id, info->url, info->mime_type, max_bytes,
                   std::move(sink), std::move(*shared_done));
      });
  if (!id.ok()) {
    done = std::move(*shared_done);
    fail(id.status());
    return download;
  }
  downloads_[download] = *id;
  return download;
}

void CloudTransport::FetchMedia(MediaDownloadId download,
                                const std::string& media_id,
                                const std::string& url,
                                const std::string& mime_type,
                                uint64_t max_bytes, MediaStreamSink sink,
                                DownloadCallback done) {
  const std::string what = "media " + media_id;
  auto state = std::make_shared<MediaFetch>();
  state->max_bytes = max_bytes;
  state->mime_type = mime_type;
  state->sink = std::move(sink);

  HttpRequest http = NewRequest(HttpMethod::kGet, url);
  http.total_timeout = MediaFetchTimeout(options_.total_timeout, max_bytes);
  http.cancelled_on_stop = true;  // Stop cancels downloads
  http.sink.on_head = [state](int status, const HttpHeaders& headers) {
    state->status = status;
    if (!Is2xx(status)) return true;  // its body is the error's
    MediaHead head;
    head.mime_type = state->mime_type;
    if (auto type = headers.Find("Content-Type");
        head.mime_type.empty() && type) {
      head.mime_type = std::string(*type);
    }
    if (head.mime_type.empty()) head.mime_type = "application/octet-stream";
    if (auto length = headers.Find("Content-Length")) {
      head.bytes = ParseLength(*length);
      if (head.bytes && *head.bytes > state->max_bytes) {
        state->too_large = true;
        return false;
      }
    }
    if (state->sink.on_head) state->sink.on_head(head);
    return true;
  };
  http.sink.on_data = [state](std::string_view chunk) {
    if (!Is2xx(state->status)) {
      size_t room =
          kMaxErrorBody - std::min(kMaxErrorBody, state->error_body.size());
      state->error_body.append(chunk.substr(0, room));
      return SinkAnswer::kContinue;
    }
    if (chunk.size() > state->max_bytes - state->bytes) {
      state->too_large = true;
      return SinkAnswer::kAbort;
    }
    // Counted only once taken: a paused chunk comes again.
    SinkAnswer answer = state->sink.on_data ? state->sink.on_data(chunk)
                                            : SinkAnswer::kContinue;
    if (answer == SinkAnswer::kContinue) state->bytes += chunk.size();
    if (answer == SinkAnswer::kAbort) state->aborted = true;
    return answer;
  };

  auto shared_done = std::make_shared<DownloadCallback>(std::move(done));
  auto id = Issue(std::move(http), [this, download, state, shared_done,
                                    what](HttpResponse response) {
    downloads_.erase(download);
    state->sink = {};  // what the sink holds goes now
    if (state->too_large) {
      (*shared_done)(Status::InvalidArgument(fmt::format(
          "{}: larger than the limit of {} bytes", what, state->max_bytes)));
    } else if (response.error.kind == HttpErrorKind::kCancelled) {
      (*shared_done)(Status::Unavailable(what + ": download cancelled"));
    } else if (state->aborted) {
      (*shared_done)(
          Status::Unavailable(what + ": the sink stopped the download"));
    } else if (!response.ok()) {
      (*shared_done)(ErrorStatus(what + " download", response, ""));
    } else if (response.status == 404 || response.status == 403 ||
               response.status == 410) {
      (*shared_done)(Status::NotFound(fmt::format(
          "{}: the download URL expired or the media is gone (HTTP {}); "
          "fetch the media id again",
          what, response.status)));
    } else if (!Is2xx(response.status)) {
      (*shared_done)(
          ErrorStatus(what + " download", response, state->error_body));
    } else {
      (*shared_done)(Status::Ok());
    }
  });
  if (!id.ok()) {
    Defer([shared_done, status = id.status()] { (*shared_done)(status); });
    return;
  }
  downloads_[download] = *id;
}

void CloudTransport::ResumeDownload(MediaDownloadId id) {
  auto it = downloads_.find(id);
  if (it != downloads_.end()) client_.Resume(it->second);
}

void CloudTransport::CancelDownload(MediaDownloadId id) {
  auto it = downloads_.find(id);
  // Its callback runs from Cancel, with kCancelled, and answers `done`.
  if (it != downloads_.end()) client_.Cancel(it->second);
}

void CloudTransport::Poll(int64_t) {}

void CloudTransport::Stop(std::function<void()> on_stopped) {
  if (!stopping_) {
    stopping_ = true;
    CloseTimers(false);
    // A heartbeat's outcome no longer matters; its callback runs now and is
    // ignored (before on_stopped is known, so that it cannot run from here).
    if (heartbeat_id_) client_.Cancel(*heartbeat_id_);
    // A download runs at its client's pace (a paused transfer waits for
    // it): a stop does not wait for one; each answers "cancelled".
    std::vector<HttpRequestId> downloads;
    for (const auto& [download, request] : downloads_)
      downloads.push_back(request);
    for (HttpRequestId request : downloads) client_.Cancel(request);
  }
  if (!on_stopped) return;
  if (defer_timer_ == nullptr) {
    // Never started: nothing can be in flight.
    Defer(std::move(on_stopped));
    return;
  }
  on_stopped_.push_back(std::move(on_stopped));
  // Runs from the loop, after what is in flight (possibly nothing): the
  // deferred-task runner ends with MaybeFinishStop.
  Defer([] {});
}

void CloudTransport::MaybeFinishStop() {
  if (!stopping_ || on_stopped_.empty()) return;
  if (!in_flight_.empty() || !deferred_.empty() || heartbeat_pending_) return;
  stopped_ = true;
  std::vector<std::function<void()>> callbacks;
  callbacks.swap(on_stopped_);
  // Nothing of `this` is touched after the first callback.
  for (std::function<void()>& callback : callbacks) callback();
}

void CloudTransport::CloseTimers(bool all) {
  CloseTimer(heartbeat_timer_);
  CloseTimer(check_timer_);
  if (all) CloseTimer(defer_timer_);
}

}  // namespace dynoguard::worker
