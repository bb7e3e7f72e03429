// HttpClient: the worker's one asynchronous HTTP client (Graph API, forwarding
// to the user's webhook, session stores). libcurl's multi interface driven by
// a libuv loop: one uv_poll_t per socket libcurl asks to watch, one uv_timer_t
// for libcurl's timeouts; no thread ever blocks on the network. Connections
// are kept alive and reused across requests; HTTP/2 is negotiated over TLS
// where the server offers it (plain http is HTTP/1.1); TLS peers are always
// verified; libcurl never uses signals.
//
//   auto client = HttpClient::Create(loop, {});
//   HttpRequest request;
//   request.url = "https://graph.facebook.com/v25.0/123";
//   request.headers.Add("Authorization", "Bearer " + token);
//   request.total_timeout = std::chrono::seconds(10);
//   (*client)->Start(std::move(request), [](HttpResponse response) { … });
//
// The client logs nothing; the owner logs from the results. Error messages
// never contain request headers nor the URL's query or user info.
#ifndef DYNOGUARD_WORKER_NET_HTTP_CLIENT_H_
#define DYNOGUARD_WORKER_NET_HTTP_CLIENT_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "worker/net/http_request.h"
#include "worker/net/http_response.h"

namespace dynoguard::worker {

using HttpRequestId = uint64_t;

// Thread-safety: every method runs on the loop thread only, except Post (any
// thread). Callbacks run on the loop thread.
class HttpClient {
 public:
  struct Options {
    // Used for a request whose connect_timeout is 0. Default: 10 s.
    std::chrono::milliseconds connect_timeout{10000};
    // Used for a request whose total_timeout is 0. Default: 15 s.
    std::chrono::milliseconds total_timeout{15000};
    // The ceiling on any request's timeouts; larger ones are lowered to it.
    // The owner sets it below WORKER_STOP_TIMEOUT_S so that a stop never
    // waits on a hung call. Default: 15 s.
    std::chrono::milliseconds max_timeout{15000};
    // The ceiling on the total timeout of a request marked
    // cancelled_on_stop: its owner cancels it on stop, so a stop does not
    // wait for it. Default: 1 h.
    std::chrono::milliseconds max_cancelled_on_stop_timeout{3'600'000};
    // The cap on a collected response body for a request whose
    // max_body_bytes is 0. Default: 1 MiB.
    uint64_t max_body_bytes = 1024 * 1024;
    // Idle connections kept for reuse (CURLMOPT_MAXCONNECTS). Default: 8.
    long max_idle_connections = 8;
    // Connections open to one host at once; more requests wait in libcurl's
    // queue (CURLMOPT_MAX_HOST_CONNECTIONS); HTTP/2 multiplexes on one.
    // 0: no limit. Default: 0.
    long max_host_connections = 0;
    // Sent as User-Agent unless a request sets one. Default: "dynoguard".
    std::string user_agent = "dynoguard";
    // A PEM bundle of the CAs to trust instead of the system's; empty: the
    // system's store. Default: empty.
    std::string ca_file;
  };

  // Called once per started request with its outcome, on the loop thread.
  // It may call Start, Cancel, CancelAll and CloseIdleConnections; it must
  // not destroy the client.
  using Callback = std::function<void(HttpResponse response)>;

  // Initialises libcurl on first use (EnsureCurlInitialized) and creates a
  // client on `loop`. Fails with Internal when libcurl cannot be initialised
  // or a handle cannot be created. REQUIRES: called on the loop thread;
  // `loop` outlives the client and runs after it is destroyed until the
  // client's handles are closed (they are freed in their uv_close callbacks).
  static common::Result<std::unique_ptr<HttpClient>> Create(uv_loop_t* loop,
                                                            Options options);

  // Close(), then the handles' memory is freed when the loop runs their
  // close callbacks.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts `request`; `done` runs exactly once, later, from the loop (never
  // from within Start), with the response or the error. Fails (and never
  // calls `done`) with InvalidArgument for a request that cannot be sent as
  // given (URL not http(s), more than one body, a body file that is not a
  // readable regular file, a header with CR/LF), with Unavailable once the
  // client is closed, and with Internal when libcurl refuses the handle or
  // when called from a sink callback (which must return false instead).
  common::Result<HttpRequestId> Start(HttpRequest request, Callback done);

  // Stops request `id`; its callback runs now, before Cancel returns, with
  // kCancelled. False when no such request is in flight (it completed or was
  // never started), and when called from a sink callback (return false from
  // the sink to stop its own transfer).
  bool Cancel(HttpRequestId id);

  // Resumes request `id`, paused by its sink's kPause: the chunk it did not
  // take is handed to the sink again (possibly before Resume returns), then
  // the transfer goes on from the loop. True when the request is in flight
  // (paused or not: resuming a running transfer changes nothing); false
  // when it has ended (its callback ran) or was never started, and when
  // called from a sink callback.
  bool Resume(HttpRequestId id);

  // Cancels every request in flight, each callback running before CancelAll
  // returns with kCancelled. Requests the callbacks start are not cancelled.
  // REQUIRES: not called from a sink callback.
  void CancelAll();

  // Closes the idle connections kept for reuse — the memory cleanup's step.
  // libcurl 7.88 has no call that closes a multi handle's idle connections
  // (CURLMOPT_MAXCONNECTS only trims one connection, when a transfer gives
  // its connection back; CURLOPT_MAXAGE_CONN only applies when a connection
  // is next looked up), so the client drops its whole multi handle — idle
  // connections, their TLS sessions and the DNS cache — and makes a new one
  // on the next Start. With requests in flight that waits until the last one
  // completes (their connections are not idle); from a completion callback,
  // until the callbacks of that loop turn have run. Returns true when the
  // connections were closed now, false when deferred.
  bool CloseIdleConnections();

  // Runs `task` on the loop thread soon (a uv_async_t wake-up), for threads
  // that are not the loop's (the HTTP API's) to start requests. False (and
  // `task` dropped) once the client is closed. Thread-safe; REQUIRES: the
  // client is not destroyed while Post runs.
  bool Post(std::function<void()> task);

  // Cancels everything in flight (callbacks run with kCancelled before Close
  // returns), drops tasks posted but not yet run, frees libcurl's handles and
  // closes the uv handles. Idempotent; may be called from a completion
  // callback. REQUIRES: not called from a sink callback.
  void Close();

  // Requests started whose callback has not run yet.
  size_t in_flight() const { return transfers_.size(); }
  // Of those, the ones paused by their sink (waiting for Resume).
  size_t paused() const;
  // True once Close() ran.
  bool closed() const { return closed_; }

 private:
  struct Transfer;
  struct SocketWatch;
  struct LoopHandles;

  HttpClient(uv_loop_t* loop, Options options);
  common::Status Init();
  common::Status EnsureMulti();
  void ResetMulti();
  void MaybeResetIdleMulti();
  void ProcessCompletions();
  void Finish(std::unique_ptr<Transfer> transfer, int curl_code);
  void FinishCancelled(std::unique_ptr<Transfer> transfer);
  void RunPosted();
  size_t OnBody(Transfer* transfer, std::string_view chunk);

  static int OnSocket(void* easy, int fd, int what, void* client,
                      void* socket_watch);
  static int OnTimerChange(void* multi, long timeout_ms, void* client);
  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnTimer(uv_timer_t* timer);
  static void OnAsync(uv_async_t* async);
  static void OnHandleClosed(uv_handle_t* handle);

  // Constant after construction.
  uv_loop_t* const loop_;
  const Options options_;

  // Loop thread only.
  LoopHandles* handles_ = nullptr;  // freed in the uv_close callbacks
  void* multi_ = nullptr;           // CURLM*; null until needed
  std::unordered_map<HttpRequestId, std::unique_ptr<Transfer>> transfers_;
  HttpRequestId next_id_ = 1;
  bool closed_ = false;
  bool reset_when_idle_ = false;  // CloseIdleConnections deferred
  int curl_depth_ = 0;            // > 0 while inside a libcurl call
  int dispatching_ = 0;           // > 0 while completions are handed out
  std::unordered_map<SocketWatch*, int> watches_;  // open uv_poll_t, by fd

  // Guarded by `post_mu_` (Post from any thread).
  std::mutex post_mu_;
  std::deque<std::function<void()>> posted_;
  bool post_open_ = true;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_HTTP_CLIENT_H_
