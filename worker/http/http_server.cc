#include "worker/http/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "worker/http/api_error.h"

namespace dynoguard::worker {
namespace {

// When the current thread began the request it is handling: set by the
// pre-routing handler, read and cleared by the logger callback (httplib runs
// both for one request on one pool thread). Requests that fail before routing
// (a malformed request line) have no start and log ms=0.
thread_local std::optional<std::chrono::steady_clock::time_point>
    request_started;

// How often an adopted socket's accept loop checks for Stop(): such a socket
// is shared with the supervisor and must not be shut down to wake accept().
constexpr auto kAcceptPollInterval = std::chrono::milliseconds(200);

// The path for a log line: at most 200 bytes, control characters and spaces
// replaced, so a hostile request line cannot forge log lines. httplib has
// already cut the query string (which may carry keys) off Request::path.
std::string LoggablePath(const std::string& path) {
  if (path.empty()) return "-";
  std::string out = path.substr(0, 200);
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '"') c = '?';
  }
  if (path.size() > 200) out += "...";
  return out;
}

std::string LoggableMethod(const std::string& method) {
  if (method.empty()) return "-";
  for (char c : method) {
    if (c < 'A' || c > 'Z') return "?";
  }
  return method.substr(0, 16);
}

}  // namespace

// httplib::Server with access to its listening socket (protected in 0.11.4).
class HttpServer::Server : public httplib::Server {
 public:
  void SetSocket(int fd) { svr_sock_ = fd; }
  int socket() const { return svr_sock_; }
  // Swaps the listening socket out: the accept loop ends at its next check.
  int TakeSocket() { return svr_sock_.exchange(INVALID_SOCKET); }
};

HttpServer::HttpServer(const common::Config& config, const common::Logger& log,
                       Metrics& metrics)
    : config_(config),
      log_(log),
      metrics_(metrics),
      server_(std::make_unique<Server>()) {
  Configure();
}

HttpServer::~HttpServer() {
  Stop();
  std::lock_guard<std::mutex> lock(mu_);
  if (parked_fd_ >= 0) {
    ::close(parked_fd_);
    parked_fd_ = -1;
  }
}

httplib::Server& HttpServer::server() { return *server_; }

void HttpServer::Configure() {
  Server& s = *server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  s.set_tcp_nodelay(true);
  s.set_read_timeout(std::chrono::seconds(5));
  s.set_write_timeout(std::chrono::seconds(5));
  s.set_keep_alive_max_count(100);
  s.set_keep_alive_timeout(2);  // an idle keep-alive client holds a thread
  s.set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  // The accept loop polls with a timeout before each accept(), so it notices
  // Drain() and Stop() without a shutdown() of the listening socket (an
  // adopted one is shared with the supervisor, whose backlog must survive).
  s.set_idle_interval(kAcceptPollInterval);

  const std::atomic<bool>* draining = &draining_;
  s.set_pre_routing_handler(
      [draining](const httplib::Request&, httplib::Response& res) {
        request_started = std::chrono::steady_clock::now();
        if (draining->load()) res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Unhandled;
      });

  // httplib calls this for every status >= 400. Handlers that answered with
  // a JSON error are left alone; bare statuses from httplib itself (no route,
  // body too large, unparsable request) get the JSON shape here.
  uint64_t max_body = config_.max_body_bytes;
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request&, httplib::Response& res) {
        if (HasJsonBody(res))
          return httplib::Server::HandlerResponse::Unhandled;
        std::string_view code = ErrorCodeForStatus(res.status);
        std::string message;
        switch (res.status) {
          case 404:
            message = "no such route";
            break;
          case 405:
            message = "method not allowed on this route";
            break;
          case 413:
            message = "request body larger than " + std::to_string(max_body) +
                      " bytes (MAX_BODY_BYTES)";
            break;
          case 414:
            message = "request URI too long";
            break;
          default:
            message =
                res.status >= 500 ? "internal error" : "malformed HTTP request";
            break;
        }
        SendError(res, res.status, code, message);
        return httplib::Server::HandlerResponse::Handled;
      }));

  const common::Logger* log = &log_;
  s.set_exception_handler([log](const httplib::Request& req,
                                httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log->Error("http-handler-failed", {{"method", LoggableMethod(req.method)},
                                       {"path", LoggablePath(req.path)},
                                       {"error", what}});
    SendError(res, 500, api_error::kInternal, "internal error");
  });

  Metrics* metrics = &metrics_;
  s.set_logger([log, metrics](const httplib::Request& req,
                              const httplib::Response& res) {
    double ms = 0;
    if (request_started) {
      ms = std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now() - *request_started)
               .count();
      request_started.reset();
    }
    log->Info("request", {{"method", LoggableMethod(req.method)},
                          {"path", LoggablePath(req.path)},
                          {"status", res.status},
                          {"ms", fmt::format("{:.1f}", ms)}});
    // Counted after the line is written: tests wait on the count.
    metrics->CountHttp(res.status);
  });
}

common::Status HttpServer::Adopt(int fd) {
  if (server_->socket() != INVALID_SOCKET) {
    return common::Status::Internal("http server already has a socket");
  }
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
    return common::Status::InvalidArgument("listen fd " + std::to_string(fd) +
                                           ": " + std::strerror(errno));
  }
  if (!listening) {
    return common::Status::InvalidArgument("listen fd " + std::to_string(fd) +
                                           " is not a listening socket");
  }
  // httplib turns TCP_NODELAY on when it creates the listening socket itself;
  // accepted sockets inherit it from the listening one, so an adopted socket
  // needs it too (without it, Nagle + delayed ACK add ~40 ms per response).
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Children of the worker must not inherit the listening socket.
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);

  sockaddr_storage addr{};
  socklen_t addr_len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0) {
    if (addr.ss_family == AF_INET) {
      port_ = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
  }
  server_->SetSocket(fd);
  return common::Status::Ok();
}

common::Status HttpServer::Bind(const std::string& host, int port) {
  if (server_->socket() != INVALID_SOCKET) {
    return common::Status::Internal("http server already has a socket");
  }
  std::string where = host + ":" + std::to_string(port);
  if (port == 0) {
    int bound = server_->bind_to_any_port(host);
    if (bound <= 0) {
      return common::Status::IOError("bind " + where, std::strerror(errno));
    }
    port_ = bound;
  } else {
    if (!server_->bind_to_port(host, port)) {
      return common::Status::IOError("bind " + where, std::strerror(errno));
    }
    port_ = port;
  }
  return common::Status::Ok();
}

void HttpServer::Serve() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return;
    serving_ = true;
  }
  bool ok = server_->listen_after_bind();
  int accept_errno = errno;
  std::lock_guard<std::mutex> lock(mu_);
  serving_ = false;
  if (!ok && !stop_requested_) {
    // httplib closed the socket itself after the failed accept; forget it.
    server_->TakeSocket();
    log_.Error("http-accept-failed", {{"error", std::strerror(accept_errno)}});
  }
  if (parked_fd_ >= 0) {
    ::close(parked_fd_);
    parked_fd_ = -1;
  }
}

namespace {

// A blocking TCP socket listening on 127.0.0.1 on a port of the kernel's
// choice, close-on-exec. Returns the descriptor and port, or -1.
std::pair<int, int> ListenOnLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {-1, 0};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return {-1, 0};
  }
  return {fd, ntohs(addr.sin_port)};
}

// Connects to 127.0.0.1:`port` and closes at once (never blocks).
void PokeLoopbackPort(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
}

}  // namespace

void HttpServer::Drain() {
  draining_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  int fd = server_->socket();
  if (fd == INVALID_SOCKET || placeholder_port_ != 0) return;
  // httplib's keep-alive loops serve a connection only while the server's
  // socket is valid, so the number stays valid but now names a socket nobody
  // connects to: accept() never returns a real client again, while accepted
  // connections are served to the end. (An accept loop already in poll() on
  // the real socket may see a client arrive; its accept() then waits on the
  // placeholder, and the client stays in the real backlog.)
  auto [placeholder, port] = ListenOnLoopbackPort();
  if (placeholder < 0) return;  // Stop() still ends everything, only sooner
  if (::dup3(placeholder, fd, O_CLOEXEC) < 0) {
    ::close(placeholder);
    return;
  }
  ::close(placeholder);
  placeholder_port_ = port;
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_requested_ = true;
  int fd = server_->TakeSocket();
  if (fd == INVALID_SOCKET) return;
  if (placeholder_port_ != 0) {
    // Wake an accept() that may be waiting on the placeholder; the accept
    // loop then sees the socket gone. (The connection is closed unserved.)
    PokeLoopbackPort(placeholder_port_);
  }
  // The accept loop polls and sees the socket gone within 200 ms.
  if (serving_) {
    parked_fd_ = fd;  // the accept loop may still be in poll()/accept() on it
  } else {
    ::close(fd);
  }
}

}  // namespace dynoguard::worker
