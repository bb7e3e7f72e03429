#include "supervisor/notify_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace dynoguard::supervisor {

using common::Result;
using common::Status;
using common::UniqueFd;

Result<NotifyServer> NotifyServer::Open() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Status::IOError("notify socket", std::strerror(errno));
  // The kernel then attaches the sender's pid/uid/gid to every datagram, sent
  // with credentials or not, and they cannot be forged (only root may claim
  // another pid).
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
    return Status::IOError("notify socket SO_PASSCRED", std::strerror(errno));
  std::string name = "dynoguard/" + std::to_string(getpid()) + "/notify";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  address.sun_path[0] = '\0';
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    return Status::IOError("bind notify socket @" + name, std::strerror(errno));
  }
  return NotifyServer(std::move(fd), "@" + name);
}

int NotifyServer::Drain(
    const std::function<void(std::string_view)>& on_message) {
  int count = 0;
  char buffer[4096];
  // Room for one SCM_CREDENTIALS and a few SCM_RIGHTS a sender might attach
  // (those fds are closed below: nobody here wants them).
  alignas(cmsghdr) char
      control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 8)];
  for (;;) {
    iovec iov{buffer, sizeof buffer};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    bool has_credentials = false;
    ucred credentials{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
         c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
        std::memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
        has_credentials = true;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        size_t fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < fds; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
          ::close(passed);
        }
      }
    }
    // pid 0: a sender in a pid namespace we cannot see into.
    bool accepted = has_credentials && credentials.pid > 0 &&
                    (!filter_ || filter_(credentials.pid));
    if (!accepted) {
      ++ignored_;
      if (on_rejected_ && (ignored_ & (ignored_ - 1)) == 0)
        on_rejected_(credentials.pid, credentials.uid, ignored_);
      continue;
    }
    ++count;
    on_message(std::string_view(buffer, static_cast<size_t>(n)));
  }
  return count;
}

}  // namespace dynoguard::supervisor
