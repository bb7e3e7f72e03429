#include "worker/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/listen_socket.h"
#include "common/poll_timeout.h"
#include "common/unique_fd.h"
#include "worker/http/api_auth.h"
#include "worker/http/api_error.h"
#include "worker/http/body_limit.h"
#include "worker/http/server/request_log_policy.h"
#include "worker/http/server/request_reader.h"
#include "worker/http/server/streamed_body.h"
#include "worker/http/server/temp_file.h"

namespace dynoguard::worker {
namespace {

using Clock = std::chrono::steady_clock;
using http_server::RequestLimits;
using http_server::RequestReader;
using http_server::TempFile;

// How often the I/O thread checks deadlines when nothing else wakes it.
constexpr auto kSweepInterval = std::chrono::milliseconds(50);
// After an error answer, what the client still sends is read and dropped
// for this long (so it sees the answer instead of a reset), then closed.
constexpr auto kLingerTime = std::chrono::milliseconds(2000);
// While draining, a connection answered this recently may still be about to
// send its next request; it gets this long before it counts as idle. A
// client busy in a loop sends within microseconds, but on a loaded box its
// thread can wait far longer than that for a CPU (100 ms lost a request in
// CI); one that was idle longer before the drain goes at once.
constexpr auto kDrainIdleGrace = std::chrono::milliseconds(1000);
// How often the control thread looks at the connections while draining, so
// the drain ends soon after the last one closes.
constexpr auto kDrainSweepInterval = std::chrono::milliseconds(5);
// accept() out of descriptors: the listening socket rests this long.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr size_t kReadChunk = 16 * 1024;
// The `max` of the Keep-Alive header (httplib's and a later answer's).
constexpr int kKeepAliveMax = 1000;

// When the current pool thread began the request it is handling (for the
// logger callback, which httplib runs on the same thread).
thread_local Clock::time_point request_started;
// Whether httplib was told to close the connection when the current request
// began (then it writes `Connection: close` itself).
thread_local bool closing_from_start = false;

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

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 500:
      return "Internal Server Error";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// A complete error answer with `Connection: close`, as the I/O thread sends
// it before any handler ran.
std::string ErrorResponse(int status, std::string_view code,
                          std::string_view message) {
  std::string body = ErrorJson(code, message);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(ReasonPhrase(status)) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
  if (status == 503) out += "Retry-After: 1\r\n";
  if (status == 405) out += "Allow: GET, POST, DELETE\r\n";
  if (status == 401) out += "WWW-Authenticate: Bearer\r\n";
  out += "\r\n";
  out += body;
  return out;
}

// A handler's later answer as bytes, with the headers httplib would add.
std::string LaterAnswerBytes(const httplib::Response& res, bool close,
                             time_t keep_alive_s) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " +
                    std::string(ReasonPhrase(res.status)) + "\r\n";
  for (const auto& [name, value] : res.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  if (close) {
    out += "Connection: close\r\n\r\n";
  } else {
    out += "Keep-Alive: timeout=" + std::to_string(keep_alive_s) +
           ", max=" + std::to_string(kKeepAliveMax) + "\r\n\r\n";
  }
  out += res.body;
  return out;
}

// Whether the peer's next bytes wait unread in the socket.
bool HasUnreadBytes(int fd) {
  int pending = 0;
  return ::ioctl(fd, FIONREAD, &pending) == 0 && pending > 0;
}

void SetNoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void PeerAddress(const sockaddr_storage& addr, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    port = ntohs(in6->sin6_port);
  }
  ip = buf;
  // An IPv4 client on a dual-stack socket is counted as its IPv4 address.
  if (ip.starts_with("::ffff:") && ip.find('.') != std::string::npos)
    ip = ip.substr(7);
}

// One of the server's upload slots (HttpServerLimits::max_uploads), given
// back when the object goes.
class UploadSlot {
 public:
  explicit UploadSlot(std::atomic<int>& count) : count_(&count) {}
  ~UploadSlot() {
    if (count_) --*count_;
  }
  UploadSlot(UploadSlot&& other) noexcept
      : count_(std::exchange(other.count_, nullptr)) {}
  UploadSlot& operator=(UploadSlot&&) = delete;
  UploadSlot(const UploadSlot&) = delete;
  UploadSlot& operator=(const UploadSlot&) = delete;

 private:
  std::atomic<int>* count_;
};

// One client connection, in the server's table. While `busy` one request
// thread has it; otherwise the control thread may look at it (with the
// table locked).
// A connection's share of the request bodies held in memory by all
// connections together (Limits::max_buffered_bodies): it grows as a body
// arrives and is given back when the request is answered or fails, or the
// connection goes.
class BodyHold {
 public:
  BodyHold() = default;
  ~BodyHold() { Release(); }
  BodyHold(BodyHold&& other) noexcept
      : total_(std::exchange(other.total_, nullptr)),
        held_(std::exchange(other.held_, 0)) {}
  BodyHold& operator=(BodyHold&&) = delete;
  BodyHold(const BodyHold&) = delete;
  BodyHold& operator=(const BodyHold&) = delete;

  // Grows the hold to `bytes` in `*total`; false, and nothing more taken,
  // when the total would pass `limit`.
  bool GrowTo(std::atomic<uint64_t>* total, uint64_t bytes, uint64_t limit) {
    if (bytes <= held_) return true;
    const uint64_t more = bytes - held_;
    if (total->fetch_add(more) + more > limit) {
      total->fetch_sub(more);
      return false;
    }
    total_ = total;
    held_ = bytes;
    return true;
  }
  void Release() {
    if (total_ != nullptr && held_ > 0) total_->fetch_sub(held_);
    held_ = 0;
  }

 private:
  std::atomic<uint64_t>* total_ = nullptr;
  uint64_t held_ = 0;
};

struct Connection {
  int fd = -1;
  std::string ip;
  int remote_port = 0;
  std::string local_ip;
  int local_port = 0;

  bool busy = false;       // guarded by Impl::mu_
  bool lingering = false;  // an error was answered; discarding until closed
  bool close_after = false;

  std::string in;  // bytes read and not yet consumed by a reader
  std::optional<RequestReader> reader;
  std::string canonical;  // the complete request, for httplib
  BodyHold body_hold;     // its body's share of max_buffered_bodies

  // A streamed body being stored (admitted: authorized, with a slot).
  std::optional<TempFile> body_file;
  std::optional<UploadSlot> upload_slot;
  Clock::time_point body_progress;  // when body bytes last arrived

  // An answer its handler gives later (HttpServer::AnswerLater): kTaken
  // while the request thread that took it still has the connection; then
  // either it lets go first (kParked: the answer's Send() writes it and gives
  // the connection back) or the answer comes first (kGiven: `later_answer`
  // holds it, and that thread writes it).
  enum Later : int { kNone, kTaken, kParked, kGiven };
  std::atomic<int> later{kNone};
  std::optional<httplib::Response> later_answer;  // with kGiven
  bool later_close = false;  // httplib's verdict on the request (close after)
  std::string later_method, later_path;
  Clock::time_point later_started;

  int answered = 0;                   // requests answered on it so far
  Clock::time_point idle_since;       // accepted or last answered
  Clock::time_point request_started;  // first byte of the current request
  Clock::time_point linger_until;
};

// Whether the client's next request has arrived and nothing of it was read
// yet: the connection waits for a request thread. A stop must not close it
// (that would lose a request sent before the stop); one whose request has
// begun but is not complete may go. REQUIRES: not busy, Impl::mu_ held.
bool WaitsForThread(const Connection& c) {
  return !c.lingering && !c.close_after && c.in.empty() &&
         (!c.reader || !c.reader->started()) && HasUnreadBytes(c.fd);
}

// The stream httplib reads one canonical request from and writes its answer
// to (blocking, bounded by the write deadline).
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, std::chrono::milliseconds write_timeout)
      : c_(c), write_timeout_(write_timeout) {}

  bool is_readable() const override { return pos_ < c_.canonical.size(); }
  // False once a write failed, or once the client has shut its side down
  // or reset the connection: a streamed answer that waits for its bytes (a
  // media download) asks between pieces, and stops for a client that went.
  bool is_writable() const override {
    if (failed_) return false;
    pollfd p{c_.fd, POLLRDHUP, 0};
    return !(::poll(&p, 1, 0) > 0 &&
             (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
  }

  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, c_.canonical.size() - pos_);
    std::memcpy(ptr, c_.canonical.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // Buffered: httplib writes the head and the body separately, and one
  // send() for both halves the cost of a small answer. Flush() sends the
  // rest once httplib is done (a long streamed answer goes out in 64 KiB
  // pieces).
  ssize_t write(const char* ptr, size_t size) override {
    if (failed_) return -1;
    if (out_.size() + size > kWriteBuffer && !Flush()) return -1;
    if (size >= kWriteBuffer) {
      if (!SendAll(ptr, size)) return -1;
    } else {
      out_.append(ptr, size);
    }
    return static_cast<ssize_t>(size);
  }

  bool Flush() {
    if (failed_) return false;
    bool ok = SendAll(out_.data(), out_.size());
    out_.clear();
    return ok;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.ip;
    port = c_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local_ip;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }

  bool failed() const { return failed_; }

 private:
  static constexpr size_t kWriteBuffer = 64 * 1024;

  // Blocking send of all of `ptr` within the write deadline.
  bool SendAll(const char* ptr, size_t size) {
    auto deadline = Clock::now() + write_timeout_;
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const int left = common::PollTimeoutMs(deadline - Clock::now());
        pollfd p{c_.fd, POLLOUT, 0};
        if (left > 0 && ::poll(&p, 1, left) > 0) {
          continue;
        }
      }
      failed_ = true;
      return false;
    }
    return true;
  }

  Connection& c_;
  std::string out_;
  std::chrono::milliseconds write_timeout_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace

class HttpServer::Impl {
 public:
  // httplib::Server with its request processing opened up: the connection
  // loop is ours, parsing, routing and writing the answer are httplib's.
  class Server : public httplib::Server {
   public:
    bool Process(httplib::Stream& stream, bool close_connection,
                 bool& connection_closed) {
      return process_request(stream, close_connection, connection_closed,
                             nullptr);
    }
    // httplib stops writing a content provider's answer (a streamed media
    // download) as soon as it has no listening socket of its own ("shutting
    // down"); ours is `fd` while we serve. Never closed through httplib: we
    // never call its listen() or stop().
    void SetServing(int fd) { svr_sock_ = fd; }
  };

  Impl(const common::Config& config, const common::Logger& log,
       Metrics& metrics, Limits limits)
      : config_(config), log_(log), metrics_(metrics), limits_(limits) {
    request_limits_.max_head_bytes = limits.max_head_bytes;
    request_limits_.max_headers = limits.max_headers;
    request_limits_.max_body_bytes = config.max_body_bytes;
    // Each route's own limit (worker/http/body_limit.h: POST /api/messages
    // takes 64 KiB), decided as soon as the request line is in.
    uint64_t max_body = config.max_body_bytes;
    request_limits_.body_limit = [max_body](std::string_view method,
                                            std::string_view path) {
      return BodyLimitFor(max_body, method, path);
    };
    // Uploads (POST /api/media) are streamed to DATA_DIR/tmp.
    uint64_t max_media = config.media_max_bytes;
    request_limits_.streamed_body_limit = [max_media](std::string_view method,
                                                      std::string_view path) {
      return http_server::StreamedBodyLimit(max_media, method, path);
    };
    upload_times_.request_timeout = limits.request_timeout;
    upload_times_.stall_timeout = limits.upload_stall_timeout;
    upload_times_.min_bytes_per_s = limits.upload_min_bytes_per_s;
    Configure();
  }

  ~Impl() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  Server& server() { return server_; }
  bool has_socket() const { return listen_fd_ >= 0; }
  void SetSocket(int fd) { listen_fd_ = fd; }

  common::Status Open();
  void Serve();
  void Drain(std::function<void()> on_drained) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!draining_.load()) on_drained_ = std::move(on_drained);
    }
    draining_.store(true);
    Wake();
  }
  void Stop() {
    stop_requested_.store(true);
    Wake();
  }

 private:
  void Configure();
  void CloseDescriptors();
  void Wake() {
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (wake_fd_ >= 0) {
      uint64_t one = 1;
      (void)!::write(wake_fd_, &one, sizeof one);
    }
  }

  // The control thread (Serve's caller): accepts, enforces deadlines and
  // the connection bounds, drains and stops.
  void ControlLoop();
  void Accept(Clock::time_point now);
  bool MakeRoom(const std::string& ip);
  void Sweep(Clock::time_point now);
  // While draining: calls Drain()'s callback once no connection is left.
  void ReportDrained();

  // The request threads: wait for a readable connection, read what it sent
  // and, once a request is complete, handle and answer it on the spot.
  void RequestThread();
  void OnReadable(Connection& c);
  void Advance(Connection& c, Clock::time_point now);
  void ServeRequests(Connection& c, bool streamed);
  void AnswerError(Connection& c, int status, std::string_view code,
                   std::string_view message, Clock::time_point now);
  // A streamed body whose head is in: authorizes the caller, takes an upload
  // slot and creates the body file; false when it answered an error.
  bool AdmitStreamedBody(Connection& c, Clock::time_point now);
  // Appends what the reader decoded to the body file; false when it
  // answered an error.
  bool StoreBodyPiece(Connection& c, Clock::time_point now);

  // Waits for the next bytes on `fd` (one-shot). REQUIRES: mu_ held.
  void Arm(int fd);
  // REQUIRES: mu_ held.
  void Close(Connection& c);
  bool IsIdle(const Connection& c) const {
    return !c.busy && !c.lingering && !(c.reader && c.reader->started());
  }

  void CountAndLog(int status, std::string_view method, std::string_view path,
                   std::chrono::milliseconds elapsed);
  // The idle timeout in whole seconds (at least 1), for Keep-Alive headers.
  time_t KeepAliveSeconds() const {
    return std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(
                                   limits_.idle_timeout)
                                   .count());
  }

 public:
  // The request a request thread is serving (for AnswerLater).
  struct Serving {
    Impl* impl;
    Connection* c;
    bool streamed;  // its body is a file (no later answer)
  };
  static thread_local Serving* serving_;

  // Takes the answer of the request `serving_` names (see AnswerLater).
  std::unique_ptr<LaterAnswer> TakeAnswer(Connection& c,
                                          const httplib::Request& req);
  // A later answer's Send(): stores it for the request thread when that has
  // not let go of the connection yet, else writes it and gives it back.
  void SendLater(Connection& c, const httplib::Response& res);

 private:
  class Later;
  // Writes a later answer on the connection (with `Connection: close` when
  // httplib's verdict, a drain or a stop says so), logs it and counts it as
  // answered; true when the connection must be closed after it (so, or not
  // all of it went out). `blocking`: within the write deadline (a request
  // thread), else only what the socket takes at once.
  bool WriteLater(Connection& c, const httplib::Response& res, bool blocking);
  // Gives a connection whose request is answered back (mu_ held): closed
  // when `close`, else armed for its next request.
  void Release(Connection& c, bool close);

  const common::Config& config_;
  const common::Logger& log_;
  Metrics& metrics_;
  Limits limits_;
  RequestLimits request_limits_;
  http_server::StreamedBodyTimes upload_times_;
  // Body bytes held by every connection's BodyHold (max_buffered_bodies).
  std::atomic<uint64_t> buffered_bodies_{0};
  std::atomic<int> uploads_{0};  // streamed bodies admitted and not done
  Server server_;

  int listen_fd_ = -1;
  int control_epoll_ = -1;     // the listening socket and wake_fd_
  int connection_epoll_ = -1;  // the connections (one-shot) and stop_fd_
  int stop_fd_ = -1;  // readable (level-triggered) once the threads must end
  std::atomic<bool> draining_{false};
  // Set by Stop(); Serve() checks it under wake_mu_ before it creates
  // wake_fd_, Stop() sets it before Wake() takes wake_mu_: one of them sees
  // the other.
  std::atomic<bool> stop_requested_{false};
  std::mutex wake_mu_;
  int wake_fd_ = -1;  // guarded by wake_mu_

  // The connection table. A connection is `busy` while a request thread
  // reads or answers it; only that thread touches its buffers then, and
  // nobody else closes it.
  std::mutex mu_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::map<std::string, size_t, std::less<>> per_client_;
  size_t busy_ = 0;
  // Drain()'s callback, until the control thread calls it.
  std::function<void()> on_drained_;

  // Control thread only.
  bool accepting_ = false;
  Clock::time_point accept_paused_until_{};
  Clock::time_point last_full_log_{};
  size_t refused_since_log_ = 0;

  std::vector<std::thread> threads_;
  // Which request threads wait on connection_epoll_ (RequestThread).
  const int max_pollers_ = std::clamp(
      static_cast<int>(std::thread::hardware_concurrency()), 1, kThreads);
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  int pollers_ = 0;            // guarded by poll_mu_
  bool threads_stop_ = false;  // guarded by poll_mu_
};

void HttpServer::Impl::Configure() {
  Server& s = server_;
  s.set_payload_max_length(
      static_cast<size_t>(LargestBodyLimit(config_.max_body_bytes)));
  // Only for the Keep-Alive header httplib writes (and LaterAnswerBytes); the
  // idle timeout is ours.
  s.set_keep_alive_timeout(KeepAliveSeconds());
  s.set_keep_alive_max_count(kKeepAliveMax);

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

  // A drain or stop that began while the handler ran: the answer says
  // `Connection: close` too (and the connection is closed after it).
  s.set_post_routing_handler([this](const httplib::Request&,
                                    httplib::Response& res) {
    if (!closing_from_start && (draining_.load() || stop_requested_.load())) {
      res.set_header("Connection", "close");
    }
  });

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

  s.set_logger([this](const httplib::Request& req,
                      const httplib::Response& res) {
    // A later answer is counted and logged when it is written.
    if (serving_ != nullptr && serving_->c->later.load() != Connection::kNone)
      return;
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        Clock::now() - request_started);
    CountAndLog(res.status, req.method, req.path, elapsed);
  });
}

void HttpServer::Impl::CountAndLog(int status, std::string_view method,
                                   std::string_view path,
                                   std::chrono::milliseconds elapsed) {
  auto level = http_server::RequestLogLevel(config_.log_requests, status,
                                            elapsed, limits_.slow_request);
  if (level) {
    log_.Log(*level, "request",
             {{"method", LoggableMethod(std::string(method))},
              {"path", LoggablePath(std::string(path))},
              {"status", status},
              {"ms", elapsed.count()}});
  }
  // Counted after the line is written: tests wait on the count.
  metrics_.CountHttp(status);
}

// ---------------------------------------------------------------------------
// Control thread

common::Status HttpServer::Impl::Open() {
  if (connection_epoll_ >= 0) return common::Status::Ok();
  if (listen_fd_ < 0) {
    return common::Status::Internal("http server: no listening socket");
  }
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  control_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  connection_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (control_epoll_ < 0 || connection_epoll_ < 0 || stop_fd_ < 0 ||
      wake_fd_ < 0) {
    common::Status failed = common::Status::IOError(
        "http server: epoll/eventfd", std::strerror(errno));
    CloseDescriptors();
    return failed;
  }
  return common::Status::Ok();
}

void HttpServer::Impl::CloseDescriptors() {
  for (int* fd : {&control_epoll_, &connection_epoll_, &stop_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void HttpServer::Impl::Serve() {
  common::Status opened =
      stop_requested_.load() ? common::Status::Unavailable("stopped") : Open();
  if (!opened.ok()) {
    if (!stop_requested_.load()) {
      log_.Error("http-serve-failed", {{"error", opened.message()}});
    }
  } else {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = stop_fd_;
    ::epoll_ctl(connection_epoll_, EPOLL_CTL_ADD, stop_fd_, &ev);
    server_.SetServing(listen_fd_);
    for (int i = 0; i < kThreads; ++i) {
      threads_.emplace_back([this] { RequestThread(); });
    }
    ControlLoop();
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    for (auto& t : threads_) t.join();
    threads_.clear();
    server_.SetServing(INVALID_SOCKET);
  }
  for (auto& [fd, c] : connections_) ::close(fd);
  connections_.clear();
  per_client_.clear();
  CloseDescriptors();
  // Our descriptor of the listening socket goes; an adopted socket lives on
  // in the supervisor with its backlog.
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void HttpServer::Impl::ControlLoop() {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(control_epoll_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ev.data.fd = listen_fd_;
  accepting_ = ::epoll_ctl(control_epoll_, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
  auto next_sweep = Clock::now() + kSweepInterval;
  epoll_event events[8];
  for (;;) {
    int n = ::epoll_wait(control_epoll_, events, 8,
                         common::PollTimeoutMs(next_sweep - Clock::now()));
    auto now = Clock::now();
    bool stopping = stop_requested_.load();
    bool draining = stopping || draining_.load();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) {
        uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
      } else if (events[i].data.fd == listen_fd_ && !draining) {
        Accept(now);
      }
    }
    if (draining && accepting_) {
      ::epoll_ctl(control_epoll_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      accepting_ = false;
    }
    if (!draining && !accepting_ && now >= accept_paused_until_) {
      epoll_event lev{};
      lev.events = EPOLLIN;
      lev.data.fd = listen_fd_;
      accepting_ =
          ::epoll_ctl(control_epoll_, EPOLL_CTL_ADD, listen_fd_, &lev) == 0;
    }
    if (stopping) {
      // Every connection without a request being answered goes now, except
      // one whose next request has arrived and waits, unread, for a request
      // thread: closing it would lose a request the client sent before the
      // stop (it is answered with `Connection: close`). A request thread
      // closes its own when the answer is written.
      std::lock_guard<std::mutex> lock(mu_);
      std::vector<Connection*> doomed;
      for (auto& [fd, c] : connections_) {
        if (!c->busy && !WaitsForThread(*c)) doomed.push_back(c.get());
      }
      for (Connection* c : doomed) Close(*c);
      if (busy_ == 0 && connections_.empty()) return;
      next_sweep = now + std::chrono::milliseconds(5);
      continue;
    }
    if (now >= next_sweep || draining) {
      Sweep(now);
      next_sweep = now + (draining ? kDrainSweepInterval : kSweepInterval);
    }
    if (draining) ReportDrained();
  }
}

void HttpServer::Impl::ReportDrained() {
  std::function<void()> on_drained;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!on_drained_ || !connections_.empty() || busy_ != 0) return;
    on_drained.swap(on_drained_);
  }
  on_drained();
}

void HttpServer::Impl::Accept(Clock::time_point now) {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        // Out of descriptors: rest instead of spinning on a ready socket.
        ::epoll_ctl(control_epoll_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        accepting_ = false;
        accept_paused_until_ = now + kAcceptPause;
        log_.Warn("http-accept-failed", {{"error", std::strerror(errno)}});
      }
      return;  // EAGAIN: no more waiting
    }
    SetNoDelay(fd);
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    PeerAddress(addr, c->ip, c->remote_port);
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) ==
        0) {
      PeerAddress(local, c->local_ip, c->local_port);
    }
    c->idle_since = now;
    std::unique_lock<std::mutex> lock(mu_);
    if (!MakeRoom(c->ip)) {
      lock.unlock();
      std::string answer =
          ErrorResponse(503, api_error::kUnavailable,
                        "too many connections; retry in a moment");
      (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(fd);
      metrics_.CountHttp(503);
      ++refused_since_log_;
      if (now - last_full_log_ > std::chrono::seconds(10)) {
        log_.Warn("http-connections-full",
                  {{"refused", refused_since_log_}, {"client", c->ip}});
        last_full_log_ = now;
        refused_since_log_ = 0;
      }
      continue;
    }
    ++per_client_[c->ip];
    Connection& ref = *c;
    connections_.emplace(fd, std::move(c));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = ref.fd;
    ::epoll_ctl(connection_epoll_, EPOLL_CTL_ADD, ref.fd, &ev);
  }
}

// Makes room for one more connection from `ip`: when a bound is reached,
// closes the longest idle connection (of that client for the per-client
// bound). False when every connection is busy. REQUIRES: mu_ held.
namespace {

// MakeRoom's order: a connection that never sent a request before one that
// did; among equals, the one idle longest.
bool GivesWayBefore(const Connection& a, const Connection& b) {
  const bool a_unused = a.answered == 0, b_unused = b.answered == 0;
  if (a_unused != b_unused) return a_unused;
  return a.idle_since < b.idle_since;
}

}  // namespace

bool HttpServer::Impl::MakeRoom(const std::string& ip) {
  // Which idle connection gives way: first one that never sent a request
  // (what a flood of idle connections is made of), then the keep-alive one
  // idle longest. Never one whose next request is already waiting unread in
  // its socket: that client is active, it only has not been served yet.
  auto evict_one = [&](bool same_client) {
    Connection* victim = nullptr;
    for (auto& [fd, c] : connections_) {
      if (!IsIdle(*c) || (same_client && c->ip != ip)) continue;
      if (HasUnreadBytes(c->fd)) continue;
      if (victim == nullptr || GivesWayBefore(*c, *victim)) victim = c.get();
    }
    if (victim == nullptr) return false;
    Close(*victim);
    return true;
  };
  auto it = per_client_.find(ip);
  if (it != per_client_.end() &&
      it->second >= limits_.max_connections_per_client && !evict_one(true)) {
    return false;
  }
  if (connections_.size() >= limits_.max_connections && !evict_one(false))
    return false;
  return true;
}

void HttpServer::Impl::Sweep(Clock::time_point now) {
  bool draining = draining_.load();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Connection*> idle, late, done_lingering;
  for (auto& [fd, c] : connections_) {
    if (c->busy) continue;
    if (c->lingering) {
      if (now >= c->linger_until) done_lingering.push_back(c.get());
      continue;
    }
    if (!c->reader || !c->reader->started()) {
      // While draining, one whose next request has arrived and waits for a
      // request thread is not idle: closing it would lose that request.
      if (now - c->idle_since >= limits_.idle_timeout ||
          (draining && now - c->idle_since >= kDrainIdleGrace &&
           !HasUnreadBytes(c->fd)))
        idle.push_back(c.get());
      continue;
    }
    auto age = now - c->request_started;
    bool head_done = c->reader->state() != RequestReader::State::kHead;
    if (head_done && c->body_file) {
      // An upload: its deadline grows with what it sent.
      if (now >= http_server::StreamedBodyDeadline(
                     c->request_started, c->body_progress,
                     c->reader->body_received(), upload_times_))
        late.push_back(c.get());
      continue;
    }
    if (age >= limits_.request_timeout ||
        (!head_done && age >= limits_.head_timeout))
      late.push_back(c.get());
  }
  for (Connection* c : idle) Close(*c);
  for (Connection* c : done_lingering) Close(*c);
  for (Connection* c : late) {
    // Not busy and mu_ held: no request thread can take it meanwhile.
    AnswerError(*c, 408, ErrorCodeForStatus(408),
                "request not received within the deadline", now);
  }
}

// ---------------------------------------------------------------------------
// Request threads

void HttpServer::Impl::RequestThread() {
  for (;;) {
    // At most max_pollers_ threads wait for connections at a time; the
    // others rest here. A thread that takes a request leaves the waiters and
    // calls a resting one in only when no waiter is left, so a fast request
    // is answered by a thread that is already running (no hand-off, few
    // runnable threads), while slow handlers never leave the connections
    // without a waiting thread.
    {
      std::unique_lock<std::mutex> lock(poll_mu_);
      poll_cv_.wait(lock,
                    [&] { return threads_stop_ || pollers_ < max_pollers_; });
      if (threads_stop_) return;
      ++pollers_;
    }
    epoll_event ev{};
    int n = ::epoll_wait(connection_epoll_, &ev, 1, -1);
    bool stop = n > 0 && ev.data.fd == stop_fd_;
    bool call_spare = false;
    {
      std::lock_guard<std::mutex> lock(poll_mu_);
      --pollers_;
      call_spare = pollers_ == 0;
      if (stop) threads_stop_ = true;
    }
    if (stop) {
      poll_cv_.notify_all();
      return;
    }
    if (call_spare) poll_cv_.notify_one();
    if (n <= 0) continue;
    Connection* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = connections_.find(ev.data.fd);
      if (it == connections_.end() || it->second->busy) continue;
      c = it->second.get();
      c->busy = true;
      ++busy_;
    }
    OnReadable(*c);
    if (c->later.load() != Connection::kNone) {
      int taken = Connection::kTaken;
      // Its answer comes later: the connection stays busy, and the answer's
      // Send() gives it back.
      if (c->later.compare_exchange_strong(taken, Connection::kParked))
        continue;
      // Already given (kGiven): written here.
      httplib::Response res = std::move(*c->later_answer);
      c->later_answer.reset();
      c->later.store(Connection::kNone);
      if (WriteLater(*c, res, /*blocking=*/true)) c->close_after = true;
    }
    std::lock_guard<std::mutex> lock(mu_);
    Release(*c, c->close_after);
  }
}

void HttpServer::Impl::Release(Connection& c, bool close) {
  c.busy = false;
  --busy_;
  if (close) {
    Close(c);
    return;
  }
  // Re-armed under the lock, so the control thread cannot close the
  // descriptor (and the number be reused) between the two: one epoll_ctl,
  // about a microsecond, is the price.
  Arm(c.fd);
}

thread_local HttpServer::Impl::Serving* HttpServer::Impl::serving_ = nullptr;

class HttpServer::Impl::Later : public LaterAnswer {
 public:
  Later(Impl& impl, Connection& c) : impl_(impl), c_(c) {}
  ~Later() override {
    if (sent_) return;
    httplib::Response res;
    SendError(res, 500, api_error::kInternal, "internal error");
    Send(res);
  }
  void Send(const httplib::Response& res) override {
    if (sent_) return;
    sent_ = true;
    impl_.SendLater(c_, res);
  }

 private:
  Impl& impl_;
  Connection& c_;
  bool sent_ = false;
};

std::unique_ptr<LaterAnswer> HttpServer::Impl::TakeAnswer(
    Connection& c, const httplib::Request& req) {
  c.later_answer.reset();
  c.later.store(Connection::kTaken);
  c.later_method = req.method;
  c.later_path = req.path;
  c.later_started = request_started;
  return std::make_unique<Later>(*this, c);
}

void HttpServer::Impl::SendLater(Connection& c, const httplib::Response& res) {
  if (c.later.load() == Connection::kTaken) {
    // Its request thread may still have the connection: the answer is left
    // for it, unless it lets go meanwhile.
    c.later_answer = res;
    int taken = Connection::kTaken;
    if (c.later.compare_exchange_strong(taken, Connection::kGiven)) return;
    c.later_answer.reset();
  }
  // Parked: busy, and nobody else touches the connection until Release.
  bool close = WriteLater(c, res, /*blocking=*/false);
  c.later.store(Connection::kNone);
  std::lock_guard<std::mutex> lock(mu_);
  Release(c, close);
}

bool HttpServer::Impl::WriteLater(Connection& c, const httplib::Response& res,
                                  bool blocking) {
  const bool close =
      c.later_close || draining_.load() || stop_requested_.load();
  std::string bytes = LaterAnswerBytes(res, close, KeepAliveSeconds());
  bool written;
  if (blocking) {
    ConnectionStream stream(c, limits_.write_timeout);
    written = stream.write(bytes.data(), bytes.size()) >= 0 && stream.Flush();
  } else {
    ssize_t n;
    do {
      n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    written = n == static_cast<ssize_t>(bytes.size());
  }
  CountAndLog(res.status, c.later_method, c.later_path,
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  Clock::now() - c.later_started));
  ++c.answered;
  c.idle_since = Clock::now();
  return close || !written;
}

// Reads what the client sent, a bounded number of times (one fast sender
// must not hold the thread), and acts on it.
void HttpServer::Impl::OnReadable(Connection& c) {
  char buf[kReadChunk];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (c.lingering) continue;  // dropped
      c.in.append(buf, static_cast<size_t>(n));
      Advance(c, Clock::now());
      if (c.close_after || c.later.load() != Connection::kNone) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or an error: a request not complete is dropped with it.
    c.close_after = true;
    return;
  }
}

// Feeds what was read to the request reader and acts on its state: sends
// `100 Continue`, answers an early error, or answers complete requests (all
// those that are in, pipelined ones in order).
void HttpServer::Impl::Advance(Connection& c, Clock::time_point now) {
  while (!c.in.empty() && !c.lingering && !c.close_after &&
         c.later.load() == Connection::kNone) {
    if (!c.reader) c.reader.emplace(request_limits_);
    bool was_started = c.reader->started();
    size_t used = c.reader->Feed(c.in);
    c.in.erase(0, used);
    if (!was_started && c.reader->started()) c.request_started = now;
    if (c.reader->streamed() &&
        (c.reader->state() == RequestReader::State::kBody ||
         c.reader->state() == RequestReader::State::kDone)) {
      if (!c.body_file && !AdmitStreamedBody(c, now)) return;
      if (!StoreBodyPiece(c, now)) return;
    }
    if (!c.reader->streamed() &&
        !c.body_hold.GrowTo(&buffered_bodies_, c.reader->body_received(),
                            limits_.max_buffered_bodies)) {
      // Many large bodies arriving at once (Meta's batches, or a client
      // holding connections open): this one waits its turn; Meta retries.
      AnswerError(c, 503, api_error::kUnavailable,
                  "the server holds too many request bodies now; retry "
                  "shortly",
                  now);
      return;
    }
    switch (c.reader->state()) {
      case RequestReader::State::kHead:
      case RequestReader::State::kBody:
        if (c.reader->wants_continue()) {
          static constexpr std::string_view kContinue =
              "HTTP/1.1 100 Continue\r\n\r\n";
          (void)!::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
          c.reader->ContinueSent();
        }
        return;
      case RequestReader::State::kError: {
        auto error = c.reader->error();
        AnswerError(c, error.status, error.code, error.message, now);
        return;
      }
      case RequestReader::State::kDone: {
        // A streamed body: the file is the handler's to read until the
        // answer is written, then it goes.
        std::optional<TempFile> body = std::move(c.body_file);
        std::optional<UploadSlot> slot;
        c.body_file.reset();
        std::string extra;
        if (body) {
          body->CloseFd();
          extra = std::string(http_server::kBodyFileHeader) + ": " +
                  body->path() + "\r\n";
          if (c.upload_slot) slot.emplace(std::move(*c.upload_slot));
          c.upload_slot.reset();
        }
        c.canonical = c.reader->TakeCanonical(extra);
        c.reader.reset();
        ServeRequests(c, body.has_value());
        c.body_hold.Release();
        body.reset();
        slot.reset();
        // A later answer: counted when it is written.
        if (c.later.load() != Connection::kNone) return;
        ++c.answered;
        now = Clock::now();
        c.idle_since = now;
        break;
      }
    }
  }
}

bool HttpServer::Impl::AdmitStreamedBody(Connection& c, Clock::time_point now) {
  const RequestReader& r = *c.reader;
  bool forwarded = false, forwarded_for = false, real_ip = false;
  r.header("Forwarded", &forwarded);
  r.header("X-Forwarded-For", &forwarded_for);
  r.header("X-Real-IP", &real_ip);
  CallerInfo caller;
  caller.authorization = r.header("Authorization");
  caller.x_api_key = r.header("X-Api-Key");
  caller.remote_addr = c.ip;
  caller.host = r.header("Host");
  caller.origin = r.header("Origin");
  caller.has_proxy_header = forwarded || forwarded_for || real_ip;
  AuthDecision decision = Authorize(config_.api_key, config_.host, caller);
  if (decision.result == AuthResult::kUnauthorized) {
    AnswerError(c, 401, api_error::kUnauthorized, decision.message, now);
    return false;
  }
  if (decision.result == AuthResult::kForbidden) {
    AnswerError(c, 403, api_error::kForbidden, decision.message, now);
    return false;
  }
  if (uploads_.fetch_add(1) >= limits_.max_uploads) {
    --uploads_;
    AnswerError(c, 503, api_error::kUnavailable,
                "too many uploads in progress; retry in a moment", now);
    return false;
  }
  c.upload_slot.emplace(uploads_);
  common::Result<TempFile> file =
      TempFile::Create(config_.data_dir + "/tmp", "upload-");
  if (!file.ok()) {
    log_.Error("upload-store-failed", {{"error", file.status().ToString()}});
    AnswerError(c, 503, api_error::kUnavailable,
                "the upload cannot be stored now; try again", now);
    return false;
  }
  c.body_file.emplace(std::move(*file));
  c.body_progress = now;
  return true;
}

bool HttpServer::Impl::StoreBodyPiece(Connection& c, Clock::time_point now) {
  std::string_view piece = c.reader->body_piece();
  if (piece.empty()) return true;
  common::Status written = c.body_file->Write(piece);
  c.reader->ClearBodyPiece();
  if (!written.ok()) {
    log_.Error("upload-store-failed", {{"error", written.ToString()}});
    AnswerError(c, 503, api_error::kUnavailable,
                "the upload cannot be stored now; try again", now);
    return false;
  }
  c.body_progress = now;
  return true;
}

// Lets httplib parse, route and answer c.canonical.
void HttpServer::Impl::ServeRequests(Connection& c, bool streamed) {
  ConnectionStream stream(c, limits_.write_timeout);
  bool close = draining_.load() || stop_requested_.load();
  bool connection_closed = false;
  request_started = Clock::now();
  closing_from_start = close;
  Serving serving{this, &c, streamed};
  serving_ = &serving;
  bool ok = server_.Process(stream, close, connection_closed);
  serving_ = nullptr;
  if (c.later.load() != Connection::kNone) {
    // What httplib wrote (the handler's placeholder) is dropped with the
    // stream; the later answer closes the connection when httplib would have.
    c.later_close = !ok || close || connection_closed;
    c.canonical.clear();
    if (c.canonical.capacity() > 4096) c.canonical.shrink_to_fit();
    return;
  }
  close = close || draining_.load() || stop_requested_.load();
  ok = stream.Flush() && ok;
  c.canonical.clear();
  if (c.canonical.capacity() > 4096) c.canonical.shrink_to_fit();
  if (!ok || close || connection_closed || stream.failed()) {
    c.close_after = true;
  }
}

// Sends a small error answer (non-blocking: a client whose buffer is full
// just loses it) and lingers: what the client still sends is dropped until
// it closes or kLingerTime passes, so it reads the answer rather than a
// reset.
void HttpServer::Impl::AnswerError(Connection& c, int status,
                                   std::string_view code,
                                   std::string_view message,
                                   Clock::time_point now) {
  std::string answer = ErrorResponse(status, code, message);
  (void)!::send(c.fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::shutdown(c.fd, SHUT_WR);
  c.body_file.reset();  // a partial upload goes at once
  c.upload_slot.reset();
  c.reader.reset();
  c.body_hold.Release();
  c.in.clear();
  c.in.shrink_to_fit();
  c.lingering = true;
  c.linger_until = now + kLingerTime;
  CountAndLog(status, "-", "-", std::chrono::milliseconds(0));
}

void HttpServer::Impl::Arm(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.fd = fd;
  ::epoll_ctl(connection_epoll_, EPOLL_CTL_MOD, fd, &ev);
}

void HttpServer::Impl::Close(Connection& c) {
  int fd = c.fd;
  auto it = per_client_.find(c.ip);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  ::epoll_ctl(connection_epoll_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  connections_.erase(fd);  // destroys `c`
}

// ---------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(const common::Config& config, const common::Logger& log,
                       Metrics& metrics, Limits limits)
    : impl_(std::make_unique<Impl>(config, log, metrics, limits)) {}

HttpServer::~HttpServer() { Stop(); }

httplib::Server& HttpServer::server() { return impl_->server(); }

std::unique_ptr<LaterAnswer> HttpServer::AnswerLater(
    const httplib::Request& req) {
  Impl::Serving* serving = Impl::serving_;
  if (serving == nullptr || serving->streamed ||
      serving->c->later.load() != Connection::kNone ||
      !serving->c->in.empty()) {
    return nullptr;
  }
  return serving->impl->TakeAnswer(*serving->c, req);
}

common::Status HttpServer::Adopt(int fd) {
  if (impl_->has_socket()) {
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
  // Accepted sockets get TCP_NODELAY one by one (without it, Nagle + delayed
  // ACK add ~40 ms per answer); the listening socket is polled, never
  // blocked on.
  SetNoDelay(fd);
  int fd_flags = ::fcntl(fd, F_GETFD);
  if (fd_flags >= 0) ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC);
  int fl_flags = ::fcntl(fd, F_GETFL);
  if (fl_flags >= 0) ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK);
  port_ = std::max(0, common::BoundPort(fd));
  impl_->SetSocket(fd);
  return common::Status::Ok();
}

common::Status HttpServer::Bind(const std::string& host, int port) {
  if (impl_->has_socket()) {
    return common::Status::Internal("http server already has a socket");
  }
  // Our own socket, never SO_REUSEPORT (cpp-httplib's bind sets it, and then a
  // second worker on the port would silently split the clients with us).
  common::Result<common::UniqueFd> opened =
      common::OpenListenSocket(host, port);
  if (!opened.ok()) return opened.status();
  int fd = opened->Release();
  common::Status adopted = Adopt(fd);
  if (!adopted.ok()) ::close(fd);
  return adopted;
}

common::Status HttpServer::Open() { return impl_->Open(); }

void HttpServer::Serve() { impl_->Serve(); }

void HttpServer::Drain(std::function<void()> on_drained) {
  impl_->Drain(std::move(on_drained));
}

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace dynoguard::worker
