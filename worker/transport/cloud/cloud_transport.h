// CloudTransport: the WhatsApp Business Platform Cloud API (Graph API) behind
// the Transport seam. Sends, mark-as-read and media go out through the
// worker's one asynchronous HttpClient with the Bearer token; a heartbeat
// (GET /{phone-number-id}) and a connection check drive the pure
// ConnectionStateMachine, whose steps set the connection state and its reason,
// emit OnConnection events and log one line per change.
//
//   CloudTransport::Options options;
//   options.api_base = config.whatsapp_api_base;  // ".../v25.0"
//   options.phone_number_id = …; options.token = …;
//   options.now_ms = [] { return NowMs(); };
//   CloudTransport cloud(std::move(options), http_client, log);
//   Status started = cloud.Start(loop, events);
//
// Error classes (model/provider_error.h) come back in SendResult::error; a
// pause-class send error (0/190 token, 368/131048, 131031/131042) takes the
// state to disconnected with its reason until a heartbeat succeeds again,
// which brings it back to connected (OnConnection) so the queue resumes.
#ifndef DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_TRANSPORT_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/net/http_client.h"
#include "worker/transport/cloud/connection_state_machine.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// What /session-status shows of the Cloud API traffic; nullopt: never.
struct CloudActivity {
  std::optional<int64_t> last_send_ok_ms;       // a send the provider accepted
  std::optional<int64_t> last_heartbeat_ms;     // a heartbeat ended (any way)
  std::optional<int64_t> last_heartbeat_ok_ms;  // a heartbeat answered 2xx
};

// The total timeout of a media download (the GET of its URL): one call's
// total plus the time `max_bytes` take at 64 KiB/s (257 s for 16 MiB, at
// most a day). The download runs at its consumer's pace, paused while the
// consumer catches up, so one call's total would cut a large media on a slow
// link or to a slow reader; Stop cancels downloads, so a stop never waits
// for one. Pure.
std::chrono::milliseconds MediaFetchTimeout(
    std::chrono::milliseconds call_total, uint64_t max_bytes);

// Thread-safety: state(), reason(), last_heartbeat_ms(), last_send_ok_ms() and
// activity() may be called from any thread; every other method on the loop
// thread only. Callbacks run on the loop thread, each exactly once, never from
// within the call that took it.
class CloudTransport : public Transport {
 public:
  struct Options {
    // WHATSAPP_API_BASE: the Graph API base URL with its version, http(s),
    // e.g. "http://127.0.0.1:PORT/v25.0"; a trailing '/' is ignored.
    // Default: "https://graph.facebook.com/v25.0".
    std::string api_base = "https://graph.facebook.com/v25.0";
    // WHATSAPP_PHONE_NUMBER_ID. Required.
    std::string phone_number_id;
    // WHATSAPP_TOKEN, sent as "Authorization: Bearer"; never logged nor put
    // in an error message. Required.
    std::string token;
    // HEARTBEAT_S: time between heartbeats while connected, and between
    // retries while disconnected (token or account). Default: 30 s.
    std::chrono::milliseconds heartbeat_interval{30'000};
    // CONNECTION_CHECK_S: period of the connection check (a connected state
    // with no successful heartbeat for 3 heartbeat intervals plus
    // total_timeout becomes reconnecting; an overdue heartbeat starts).
    // Default: 60 s.
    std::chrono::milliseconds connection_check{60'000};
    // Every request's connect and total timeouts (the app keeps them below
    // WORKER_STOP_TIMEOUT_S). Defaults: 5 s, 10 s.
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds total_timeout{10'000};
    // Reconnect backoff after network failures: base * 2^(n-1), capped.
    // Defaults: 1 s, 60 s.
    std::chrono::milliseconds reconnect_base{1'000};
    std::chrono::milliseconds reconnect_max{60'000};
    // Consecutive network failures (heartbeats, sends) that take a connected
    // transport to reconnecting. Default: 2.
    int failures_to_reconnect = 2;
    // The clock, in milliseconds since the epoch (stamps activity and drives
    // the state machine). Required.
    std::function<int64_t()> now_ms;
  };

  // `client` and `log` are borrowed and must outlive the transport.
  // REQUIRES: on the loop thread of `client`.
  CloudTransport(Options options, HttpClient& client,
                 const common::Logger& log);
  // Cancels what is still in flight without running its callbacks (call
  // Stop and wait for on_stopped first to have them run) and closes the
  // timers; their memory is freed when the loop runs the close callbacks.
  ~CloudTransport() override;
  // Cancels what is in flight and closes the loop handles (their memory is
  // freed when the loop runs the close callbacks), for an owner that closes
  // its loop before destroying the transport. Idempotent; the destructor
  // does the same. REQUIRES: loop thread.
  void Close();
  CloudTransport(const CloudTransport&) = delete;
  CloudTransport& operator=(const CloudTransport&) = delete;

  std::string_view name() const override { return "cloud"; }
  ConnectionState state() const override;
  std::string reason() const override;
  // The last heartbeat answered 2xx; nullopt before the first.
  std::optional<int64_t> last_heartbeat_ms() const override;
  // activity().last_send_ok_ms.
  std::optional<int64_t> last_send_ok_ms() const override;
  CloudActivity activity() const;

  // Checks the options (InvalidArgument naming the one that is wrong: an
  // api_base that is not http(s), a phone_number_id that is empty or not a
  // Graph id, a token empty or with spaces or control characters, no now_ms,
  // a heartbeat or check period that is not positive), creates the timers on
  // `loop` and starts the first heartbeat (state starting until it answers).
  // Call once. REQUIRES: `loop` is the client's loop; `events` outlives the
  // transport.
  common::Status Start(uv_loop_t* loop, TransportEvents& events) override;

  // POST /{phone-number-id}/messages (cloud_request_builder.h). 2xx with
  // messages[0].id: ok, provider_id and message_status. Otherwise the error
  // as ParseGraphErrorBody classifies it, or ClassifyGraphError(0, 0, …)
  // ("network_error", retryable) when no HTTP answer came; a request that
  // cannot be built fails with "invalid_request" (not retryable), a 2xx
  // without an id with "invalid_answer" (retryable). The connection state is
  // updated from the outcome before `done` runs.
  void Send(const SendRequest& request, SendCallback done) override;

  // POST /{phone-number-id}/messages {"status":"read",…}. Ok on 2xx;
  // InvalidArgument for an error the provider will not change its mind on
  // (e.g. 100, an unknown message id); Unavailable for no answer, a 5xx, a
  // rate limit or a pause-class error.
  void MarkRead(const std::string& message_id, bool typing,
                DoneCallback done) override;

  // POST /{phone-number-id}/media, multipart: messaging_product, type (the
  // MIME type) and file, streamed from disk. The media id on success;
  // InvalidArgument for no mime_type, an unreadable file or a refused
  // upload; Unavailable as for MarkRead.
  void UploadMedia(const MediaUpload& upload, UploadCallback done) override;

  // GET /{media-id} for the URL, then GET it with the Bearer header, streamed
  // into `sink` (the head's MIME type from the media object, else the
  // answer's Content-Type; its length from Content-Length). NotFound for an
  // unknown id (HTTP 404, Graph code 100) or an expired or vanished URL
  // (404, 403, 410); InvalidArgument for an id that is not a Graph object
  // id, or media larger than `max_bytes` (told by file_size or
  // Content-Length before the head, or by the bytes themselves after it);
  // Unavailable as for MarkRead, for a cancelled download and when the sink
  // answered kAbort. The GET of the URL may take MediaFetchTimeout (pauses
  // included); Stop cancels every download.
  MediaDownloadId DownloadMedia(const std::string& media_id, uint64_t max_bytes,
                                MediaStreamSink sink,
                                DownloadCallback done) override;
  void ResumeDownload(MediaDownloadId id) override;
  void CancelDownload(MediaDownloadId id) override;

  // Nothing is time-driven here: statuses arrive by webhook.
  void Poll(int64_t now_ms) override;

  // Cancels the timers and a heartbeat in flight (no new one starts); sends
  // and other requests in flight finish or time out, their callbacks first;
  // then `on_stopped` runs. Calls after Stop are answered with errors
  // (sends: "network_error", retryable; others: Unavailable). Idempotent:
  // each on_stopped given runs once.
  void Stop(std::function<void()> on_stopped) override;

 private:
  using Handler = std::function<void(HttpResponse response)>;

  HttpRequest NewRequest(HttpMethod method, std::string url) const;
  // Starts `request` and tracks it as in flight; `handler` runs once, later,
  // with its outcome. On a Start failure (its Status) `handler` never runs.
  common::Result<HttpRequestId> Issue(HttpRequest request, Handler handler);
  // Runs `task` from the loop soon (never now).
  void Defer(std::function<void()> task);
  static void OnDeferTimer(uv_timer_t* timer);
  static void OnHeartbeatTimer(uv_timer_t* timer);
  static void OnCheckTimer(uv_timer_t* timer);

  void Feed(ConnectionEvent event, std::string_view reason = {});
  void Apply(const ConnectionStep& step, int64_t now);
  void ArmHeartbeat(int64_t at_ms, int64_t now);
  void SendHeartbeat();
  void OnHeartbeatDone(const HttpResponse& response);
  void OnSendDone(const HttpResponse& response, SendCallback done);
  void FetchMedia(MediaDownloadId download, const std::string& media_id,
                  const std::string& url, const std::string& mime_type,
                  uint64_t max_bytes, MediaStreamSink sink,
                  DownloadCallback done);
  void MaybeFinishStop();
  void CloseTimers(bool all);

  // Constant after construction.
  const Options options_;
  const std::string base_;  // api_base without a trailing '/'
  HttpClient& client_;
  const common::Logger& log_;

  // Loop thread only.
  uv_loop_t* loop_ = nullptr;
  TransportEvents* events_ = nullptr;
  std::optional<ConnectionStateMachine> machine_;  // from Start
  uv_timer_t* heartbeat_timer_ = nullptr;  // freed in its close callback
  uv_timer_t* check_timer_ = nullptr;
  uv_timer_t* defer_timer_ = nullptr;
  std::deque<std::function<void()>> deferred_;
  std::unordered_set<HttpRequestId> in_flight_;  // ours, heartbeat included
  std::optional<HttpRequestId> heartbeat_id_;
  // Media downloads in progress: the request each has in flight (the media
  // object, then the media).
  std::unordered_map<MediaDownloadId, HttpRequestId> downloads_;
  MediaDownloadId next_download_ = 1;
  bool heartbeat_pending_ = false;  // started, its outcome not seen yet
  bool stopping_ = false;
  bool stopped_ = false;
  bool destroying_ = false;
  std::vector<std::function<void()>> on_stopped_;

  // Guarded by mu_ (read by HTTP threads).
  mutable std::mutex mu_;
  ConnectionState state_ = ConnectionState::kStarting;
  std::string reason_;
  CloudActivity activity_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_TRANSPORT_H_
