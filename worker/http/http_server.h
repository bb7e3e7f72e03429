// HttpServer: the worker's HTTP listener on cpp-httplib. It owns the server
// settings (an 8-thread pool, timeouts, keep-alive, body limit), turns every
// error httplib produces on its own (404, 413, a malformed request) into the
// JSON error shape of SPEC §5, never lets a handler's exception escape, and
// logs and counts one line per request. Routes are installed separately
// (InstallRoutes in worker/http_api.h).
#ifndef DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_
#define DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "common/status.h"
#include "worker/metrics/metrics.h"

namespace dynoguard::worker {

// Lifecycle: construct, install routes on server(), then Adopt() or Bind()
// once, then Serve() on a thread of its own; Stop() from any thread ends it.
// Stop() is thread-safe; the other methods are not (call them from the thread
// that owns the object). `config`, `log` and `metrics` must outlive the server.
class HttpServer {
 public:
  // Threads in the request pool. Requests are short (the queue commit is the
  // slowest step), but cpp-httplib gives each keep-alive connection a thread
  // for its life: 8 serve a few clients plus monitors without queueing, and an
  // idle thread costs only its touched stack pages.
  static constexpr int kThreads = 8;

  HttpServer(const common::Config& config, const common::Logger& log,
             Metrics& metrics);
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

  // Binds and listens on `host`:`port`; port 0 picks a free port (see port()).
  // Errors: IOError naming the address; Internal when already bound.
  common::Status Bind(const std::string& host, int port);

  // The local port of the bound or adopted socket, 0 before.
  int port() const { return port_; }

  // Accepts and serves connections until Stop(); blocks. Returns at once when
  // Stop() came first. In-flight requests finish before it returns (the
  // thread pool is joined). An accept failure ends it early, logged as
  // "http-accept-failed".
  void Serve();

  // The first step of a graceful stop. Accepting stops (connections wait in
  // the listening socket's backlog for the next worker), connections already
  // accepted keep being served, and every response from now on carries
  // `Connection: close`: busy keep-alive clients finish their request and
  // reconnect instead of sending the next one into a connection that Stop()
  // closes. Call Stop() a little later (the worker waits 200 ms).
  // Idempotent; thread-safe.
  void Drain();

  // Stops accepting; Serve() returns once in-flight requests are done.
  // Idempotent; thread-safe; may come before Serve().
  void Stop();

  // For installing routes. REQUIRES: before Serve().
  httplib::Server& server();

 private:
  class Server;

  void Configure();

  const common::Config& config_;
  const common::Logger& log_;
  Metrics& metrics_;
  std::unique_ptr<Server> server_;
  int port_ = 0;

  std::atomic<bool> draining_{false};
  std::mutex mu_;
  bool serving_ = false;         // guarded by mu_
  bool stop_requested_ = false;  // guarded by mu_
  int parked_fd_ = -1;  // guarded by mu_; closed once Serve() has returned
  // Guarded by mu_. While draining, the accept loop's descriptor number is a
  // placeholder listening socket on 127.0.0.1 that nobody connects to;
  // Stop() connects once to wake an accept() blocked on it.
  int placeholder_port_ = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_HTTP_SERVER_H_
