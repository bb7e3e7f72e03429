#include "tests/support/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/unique_fd.h"

namespace dynoguard::testing {
namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// A non-blocking socket connected to 127.0.0.1:port by `deadline`.
common::Result<common::UniqueFd> ConnectBy(int port,
                                           Clock::time_point deadline) {
  common::UniqueFd fd(
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return common::Status::IOError("socket", std::strerror(errno));
  sockaddr_in addr = Loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
      0) {
    return fd;
  }
  if (errno != EINPROGRESS) {
    std::string what = "connect 127.0.0.1:" + std::to_string(port);
    if (errno == ECONNREFUSED) {
      return common::Status::Unavailable(what + ": connection refused");
    }
    return common::Status::IOError(what, std::strerror(errno));
  }
  pollfd pfd = {fd.get(), POLLOUT, 0};
  int ready = ::poll(&pfd, 1, MillisLeft(deadline));
  if (ready <= 0) {
    return common::Status::Unavailable(
        "connect 127.0.0.1:" + std::to_string(port) + ": timed out");
  }
  int error = 0;
  socklen_t len = sizeof(error);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    std::string what = "connect 127.0.0.1:" + std::to_string(port);
    if (error == ECONNREFUSED) {
      return common::Status::Unavailable(what + ": connection refused");
    }
    return common::Status::IOError(what, std::strerror(error));
  }
  return fd;
}

}  // namespace

int FreePort() {
  common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (!fd ||
      ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "FreePort: %s\n", std::strerror(errno));
    std::abort();
  }
  return ntohs(addr.sin_port);
}

bool Connect(int port, std::chrono::milliseconds timeout) {
  return ConnectBy(port, Clock::now() + timeout).ok();
}

common::UniqueFd ConnectLoopback(int port,
                                 std::chrono::milliseconds read_timeout,
                                 int rcvbuf) {
  common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd && rcvbuf > 0)
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr = Loopback(port);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr),
                       sizeof addr) != 0) {
    std::fprintf(stderr, "ConnectLoopback: 127.0.0.1:%d: %s\n", port,
                 std::strerror(errno));
    std::abort();
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(read_timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(read_timeout.count() % 1000 * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

common::Result<std::string> LineRequest(int port, std::string_view line,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto fd = ConnectBy(port, deadline);
  if (!fd.ok()) return fd.status();
  std::string request = std::string(line) + "\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd->get(), request.data() + sent, request.size() - sent,
                       MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return common::Status::IOError("send", std::strerror(errno));
    }
    pollfd pfd = {fd->get(), POLLOUT, 0};
    if (::poll(&pfd, 1, MillisLeft(deadline)) <= 0) {
      return common::Status::Unavailable("send: timed out");
    }
  }
  std::string answer;
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(fd->get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      answer.append(buffer, static_cast<size_t>(n));
      size_t newline = answer.find('\n');
      if (newline != std::string::npos) return answer.substr(0, newline);
      continue;
    }
    if (n == 0) {
      if (answer.empty()) {
        return common::Status::Unavailable("'" + std::string(line) +
                                           "': closed without an answer");
      }
      return answer;
    }
    if (errno == ECONNRESET) {
      return common::Status::Unavailable("'" + std::string(line) +
                                         "': connection reset");
    }
    if (errno != EAGAIN && errno != EINTR) {
      return common::Status::IOError("recv", std::strerror(errno));
    }
    pollfd pfd = {fd->get(), POLLIN, 0};
    if (::poll(&pfd, 1, MillisLeft(deadline)) <= 0) {
      return common::Status::Unavailable("'" + std::string(line) +
                                         "': no answer in time");
    }
  }
}

common::UniqueFd NotifySocket(const std::string& path,
                              std::chrono::milliseconds timeout) {
  common::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd.valid() || path.size() >= sizeof(addr.sun_path)) {
    std::fprintf(stderr, "NotifySocket: cannot use %s\n", path.c_str());
    std::abort();
  }
  path.copy(addr.sun_path, path.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::fprintf(stderr, "NotifySocket: bind %s: %s\n", path.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

std::string ReceiveDatagram(int fd) {
  char buffer[4096];
  ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

bool ReceiveDatagramUntil(int fd, std::string_view wanted,
                          std::vector<std::string>& seen) {
  for (int i = 0; i < 200; ++i) {
    std::string datagram = ReceiveDatagram(fd);
    if (datagram.empty()) return false;
    seen.push_back(datagram);
    if (datagram.find(wanted) != std::string::npos) return true;
  }
  return false;
}

}  // namespace dynoguard::testing
