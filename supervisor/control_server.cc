#include "supervisor/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/unique_fd.h"

namespace dynoguard::supervisor {
namespace {

using common::Result;
using common::Status;
using common::UniqueFd;

constexpr size_t kMaxRequestBytes = 1024;
constexpr std::string_view kPermissionDenied =
    R"({"ok":false,"error":"permission denied: not root or the supervisor's )"
    R"(user"})"
    "\n";

// One accepted client: reads a line, answers it, closes. Freed in the close
// callback.
struct Connection {
  uv_pipe_t pipe;
  uv_write_t write;
  std::string request;
  std::string response;
  ControlServer::Handler* handler;
  bool allowed = false;  // the peer passed the SO_PEERCRED check
};

void CloseConnection(Connection* connection) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&connection->pipe))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&connection->pipe),
           [](uv_handle_t* handle) {
             delete static_cast<Connection*>(handle->data);
           });
}

void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* connection = static_cast<Connection*>(stream->data);
  std::unique_ptr<char[]> owned(buf->base);
  if (nread < 0) {
    CloseConnection(connection);
    return;
  }
  connection->request.append(buf->base, static_cast<size_t>(nread));
  size_t newline = connection->request.find('\n');
  if (newline == std::string::npos) {
    if (connection->request.size() > kMaxRequestBytes)
      CloseConnection(connection);
    return;
  }
  uv_read_stop(stream);
  connection->response =
      connection->allowed
          ? (*connection->handler)(connection->request.substr(0, newline)) +
                "\n"
          : std::string(kPermissionDenied);
  uv_buf_t out =
      uv_buf_init(connection->response.data(),
                  static_cast<unsigned>(connection->response.size()));
  connection->write.data = connection;
  int rc =
      uv_write(&connection->write, stream, &out, 1, [](uv_write_t* req, int) {
        CloseConnection(static_cast<Connection*>(req->data));
      });
  if (rc != 0) CloseConnection(connection);
}

// SO_PEERCRED: root or the supervisor's own user only. The socket's mode
// already says so; this also holds when DATA_DIR is shared or the mode was
// loosened.
bool PeerAllowed(uv_pipe_t* pipe) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0) return false;
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0)
    return false;
  return peer.uid == 0 || peer.uid == ::geteuid();
}

}  // namespace

ControlServer::ControlServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

ControlServer::~ControlServer() { Close(); }

Status ControlServer::Listen(const std::string& path) {
  sockaddr_un probe{};
  if (path.size() >= sizeof probe.sun_path) {
    return Status::InvalidArgument(
        "control socket path too long (max 107 bytes): " + path);
  }
  if (::access(path.c_str(), F_OK) == 0) {
    auto answer = SendControlRequest(path, "ping", 1000);
    if (answer.ok()) {
      return Status::Unavailable("another supervisor is running on " + path);
    }
    ::unlink(path.c_str());
  }
  server_ = new uv_pipe_t;
  uv_pipe_init(loop_, server_, 0);
  server_->data = this;
  // The socket file is born 0600 (umask for the bind; the supervisor is
  // single-threaded here) and chmod'ed again in case the filesystem ignored it:
  // whoever can connect can stop the worker.
  mode_t old_umask = ::umask(0177);
  int rc = uv_pipe_bind(server_, path.c_str());
  ::umask(old_umask);
  if (rc == 0 && ::chmod(path.c_str(), 0600) != 0) rc = -errno;
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), 16, &OnConnection);
  if (rc != 0) {
    Close();
    return Status::IOError("listen " + path, uv_strerror(rc));
  }
  path_ = path;
  return Status::Ok();
}

void ControlServer::Close() {
  if (server_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* handle) {
      delete reinterpret_cast<uv_pipe_t*>(handle);
    });
    server_ = nullptr;
  }
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

void ControlServer::OnConnection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* self = static_cast<ControlServer*>(server->data);
  auto* connection = new Connection;
  connection->handler = &self->handler_;
  uv_pipe_init(self->loop_, &connection->pipe, 0);
  connection->pipe.data = connection;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&connection->pipe)) !=
      0) {
    CloseConnection(connection);
    return;
  }
  // The request is still read before the refusal: closing with unread data
  // would reset the connection and the client would see no reason.
  connection->allowed = PeerAllowed(&connection->pipe);
  if (!connection->allowed) ++self->refused_;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&connection->pipe),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[512], 512);
      },
      &OnRead);
}

Result<std::string> SendControlRequest(const std::string& path,
                                       std::string_view request,
                                       int timeout_ms) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) {
    return Status::InvalidArgument("control socket path too long: " + path);
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::IOError("socket", std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
                sizeof address) != 0) {
    return Status::Unavailable("no supervisor is running (" + path + ": " +
                               std::strerror(errno) + ")");
  }
  std::string line = std::string(request) + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return Status::IOError("send to " + path, std::strerror(errno));
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    pollfd pfd{fd.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready == 0) return Status::IOError("read from " + path, "timed out");
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("poll " + path, std::strerror(errno));
    }
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::IOError("read from " + path, std::strerror(errno));
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  while (!response.empty() && response.back() == '\n') response.pop_back();
  return response;
}

}  // namespace dynoguard::supervisor
