// HttpServer: the worker's HTTP listener. cpp-httplib parses and routes each
// request and writes its answer; the connections themselves belong to this
// server, so unauthenticated input cannot take the worker's memory or
// threads (SPEC §5 "Limits"):
//  - one I/O thread (epoll) accepts and owns every connection while it waits
//    for a request: it reads the head and the body non-blocking into a
//    bounded buffer (RequestReader: head bytes and header count capped, body
//    <= MAX_BODY_BYTES whatever the transfer coding, chunked decoded on the
//    way) under a head deadline and a whole-request deadline, and answers the
//    early errors itself (400, 405, 408, 413, 414, 431, 503) before any
//    thread of the pool is involved;
//  - a route with a streamed body (POST /api/media, server/streamed_body.h)
//    has its body written to a new file in DATA_DIR/tmp (0600) as it
//    arrives, never whole in memory: the caller is authorized (API_KEY, as
//    the route would) and a bounded number of uploads may run at once (503
//    beyond) before any byte is stored; a body larger than MEDIA_MAX_BYTES
//    plus its multipart framing → 413 at once; its deadline grows with the
//    bytes received (a minimum rate) and a pause longer than the stall timeout
//    → 408; the handler finds the file with StreamedBodyOf(req), and the file
//    is removed once the answer is written or the request fails;
//  - a complete request goes to a pool of kThreads threads, where httplib
//    parses the canonical copy, routes it and writes the answer; then the
//    connection returns to the I/O thread, so idle keep-alive connections
//    hold no thread, and pipelined requests are answered in order; a
//    handler may give its answer later from another thread (AnswerLater);
//  - the number of connections is bounded, in total and per client address:
//    past the bound the longest idle connection is closed to make room, and
//    when none is idle the new one gets 503 `unavailable`;
//  - Drain() closes idle connections at once; Stop() closes every connection
//    without a request in the pool and waits only for those.
// It also turns every error httplib produces on its own into the JSON error
// shape of SPEC §5, never lets a handler's exception escape, counts every
// answer by status and logs requests as LOG_REQUESTS says. Routes are
// installed separately (InstallRoutes in worker/http/http_api.h).
#ifndef DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_
#define DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "common/status.h"
#include "worker/metrics/metrics.h"

namespace dynoguard::worker {

// The bounds on what clients may hold (SPEC §5 "Limits"; docs/http-api.md).
struct HttpServerLimits {
  size_t max_connections = 512;
  size_t max_connections_per_client = 128;
  size_t max_head_bytes = 16 * 1024;  // request line + headers → 431
  size_t max_headers = 100;           // → 431
  // A connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{5000};
  // From the first byte of a request: the head must be in by head_timeout,
  // head and body by request_timeout (→ 408).
  std::chrono::milliseconds head_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  // Writing one answer (a client that does not read it is dropped).
  std::chrono::milliseconds write_timeout{5000};
  // Requests slower than this are logged whatever LOG_REQUESTS says.
  std::chrono::milliseconds slow_request{500};
  // Streamed bodies (uploads): request_timeout plus one second per
  // upload_min_bytes_per_s received, and no pause between two pieces longer
  // than upload_stall_timeout (→ 408); at most max_uploads at once (→ 503).
  std::chrono::milliseconds upload_stall_timeout{10000};
  uint64_t upload_min_bytes_per_s = 16 * 1024;
  int max_uploads = 4;
  // Bytes of request bodies held in memory by all connections together
  // while they arrive and are answered (streamed uploads go to files and do
  // not count): past it a request gets 503, so many large bodies at once
  // (up to 3 MiB each for /webhook) cannot take the worker's memory.
  uint64_t max_buffered_bodies = 32 * 1024 * 1024;
};

// A request's answer given later, from any thread (HttpServer::AnswerLater).
class LaterAnswer {
 public:
  // An answer never sent is a 500 `internal` when the object goes.
  virtual ~LaterAnswer() = default;
  // Writes `res` (its status, headers and body; Content-Length and the
  // connection headers are added) as the request's answer, counts and logs
  // it, and gives the connection back to the server. Once; later calls do
  // nothing. Never blocks: a client whose socket cannot take the whole
  // answer at once is disconnected.
  virtual void Send(const httplib::Response& res) = 0;
};

// Lifecycle: construct, install routes on server(), then Adopt() or Bind()
// once, then Serve() on a thread of its own; Drain() and Stop() from any
// thread end it. Drain() and Stop() are thread-safe; the other methods are not
// (call them from the thread that owns the object). `config`, `log` and
// `metrics` must outlive the server.
class HttpServer {
 public:
  // Threads in the request pool. A thread is busy only while a complete
  // request is handled and answered; waiting for clients is the I/O
  // thread's, and waiting for the queue's commit nobody's (POST
  // /api/messages answers later, see AnswerLater). 16: slow handlers (a
  // synchronous queue write, a media download) still leave threads free.
  static constexpr int kThreads = 16;
  using Limits = HttpServerLimits;

  HttpServer(const common::Config& config, const common::Logger& log,
             Metrics& metrics, Limits limits = {});
  // Stops and closes the socket. REQUIRES: Serve() has returned (or was never
  // called).
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves on `fd`, an already listening TCP socket (fd 3 from the supervisor
  // or systemd socket activation). The server takes ownership of this
  // descriptor; Stop() never shuts the socket down (the supervisor shares it,
  // and connections must keep waiting in its backlog during a restart), it
  // only stops accepting and closes our descriptor. Errors: InvalidArgument
  // when `fd` is not a listening socket; Internal when already bound.
  common::Status Adopt(int fd);

  // Binds and listens on `host`:`port` (port 0 picks a free port, see
  // port()) with a socket of our own: SO_REUSEADDR but never SO_REUSEPORT,
  // so a port another process listens on is an error, not a silent split of
  // its clients. Errors: IOError naming the address ("bind 0.0.0.0:8080:
  // Address already in use"); Internal when already bound.
  common::Status Bind(const std::string& host, int port);

  // The local port of the bound or adopted socket, 0 before.
  int port() const { return port_; }

  // Accepts and serves connections until Stop(); blocks (the calling thread
  // is the I/O thread). Returns at once when Stop() came first. Requests in
  // the pool finish before it returns. A failure to set up (epoll) is logged
  // as "http-serve-failed" and ends it early.
  // Creates what Serve() needs (its epoll sets and wake-up descriptors), so a
  // failure shows before the worker says it is ready. Errors: Internal without
  // a socket (Adopt or Bind first), IOError when the kernel refuses the
  // descriptors. Idempotent; Serve() calls it itself when it was not called.
  common::Status Open();

  void Serve();

  // The first step of a graceful stop. Accepting stops (connections wait in
  // the listening socket's backlog for the next worker), connections with no
  // request in progress are closed (one answered less than a second ago may
  // still be about to send its next request, and is kept that long), requests
  // in progress are served, and every answer from now on carries
  // `Connection: close`. `on_drained` is called once, on the I/O thread, when
  // no connection is left; call Stop() then, or at a deadline of your own
  // (the worker waits at most 1.5 s). Idempotent (a second call's callback
  // is dropped); thread-safe.
  void Drain(std::function<void()> on_drained = {});

  // Stops accepting and closes every connection that has no request in the
  // pool; Serve() returns once those requests are answered. Idempotent;
  // thread-safe; may come before Serve().
  void Stop();

  // For installing routes. REQUIRES: before Serve().
  httplib::Server& server();

  // For a handler that waits for something slow (the queue's group commit):
  // takes its request's answer out of httplib's hands, so the handler can
  // return at once and its thread serve other connections; the connection
  // reads nothing more until the answer's Send(). What the handler leaves in
  // its Response is dropped. Null when called outside an HttpServer's
  // request thread, a second time for one request, for a request with more
  // requests pipelined behind it (they are answered in order) or with a
  // streamed body: then answer as usual.
  static std::unique_ptr<LaterAnswer> AnswerLater(const httplib::Request& req);

 private:
  class Impl;

  int port_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_
