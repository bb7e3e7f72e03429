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
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    ++count;
    on_message(std::string_view(buffer, static_cast<size_t>(n)));
  }
  return count;
}

}  // namespace dynoguard::supervisor
