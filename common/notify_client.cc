#include "common/notify_client.h"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/number.h"

namespace dynoguard::common {
namespace {}  // namespace

Result<NotifyClient> NotifyClient::FromSocketAddress(
    std::string_view notify_socket) {
  if (notify_socket.empty()) return NotifyClient();

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t addr_len = 0;
  const std::string address(notify_socket);
  if (notify_socket.front() == '@') {
    // Abstract namespace: sun_path starts with NUL and the length counts
    // exactly the name bytes; no trailing NUL, or the kernel would see a
    // different name.
    std::string_view name = notify_socket.substr(1);
    if (name.empty())
      return Status::InvalidArgument("NOTIFY_SOCKET: empty abstract name");
    if (name.size() > sizeof(addr.sun_path) - 1) {
      return Status::InvalidArgument("NOTIFY_SOCKET: abstract name too long: " +
                                     address);
    }
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                      name.size());
  } else if (notify_socket.front() == '/') {
    if (notify_socket.size() >
        sizeof(addr.sun_path) - 1) {  // room for the terminating NUL
      return Status::InvalidArgument("NOTIFY_SOCKET: path too long: " +
                                     address);
    }
    std::memcpy(addr.sun_path, notify_socket.data(), notify_socket.size());
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                      notify_socket.size() + 1);
  } else {
    return Status::InvalidArgument(
        "NOTIFY_SOCKET: not an absolute path or @abstract name: " + address);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid())
    return Status::IOError("socket(AF_UNIX, SOCK_DGRAM)", std::strerror(errno));
  return NotifyClient(std::move(fd), addr, addr_len, address);
}

Status NotifyClient::Send(std::string_view message) const {
  if (!enabled()) return Status::Ok();
  // MSG_DONTWAIT: a stalled receiver must never stall the sender's event loop;
  // a lost WATCHDOG=1 is repaired by the next one. MSG_NOSIGNAL: no SIGPIPE.
  ssize_t sent = ::sendto(fd_.get(), message.data(), message.size(),
                          MSG_NOSIGNAL | MSG_DONTWAIT,
                          reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
  if (sent < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return Status::Unavailable("sendto " + address_ + ": receive queue full");
    }
    return Status::IOError("sendto " + address_, std::strerror(err));
  }
  if (static_cast<size_t>(sent) != message.size()) {
    return Status::IOError("sendto " + address_, "short datagram");
  }
  return Status::Ok();
}

std::optional<std::chrono::microseconds> NotifyClient::WatchdogPeriod(
    std::string_view watchdog_usec, std::string_view watchdog_pid,
    int self_pid) {
  std::optional<uint64_t> usec = ParseDecimal<uint64_t>(watchdog_usec);
  if (!usec || *usec == 0 ||
      *usec > static_cast<uint64_t>(
                  std::numeric_limits<std::chrono::microseconds::rep>::max())) {
    return std::nullopt;
  }
  if (!watchdog_pid.empty()) {
    std::optional<int> pid = ParseDecimal<int>(watchdog_pid);
    if (!pid || *pid != self_pid) return std::nullopt;
  }
  return std::chrono::microseconds(
      static_cast<std::chrono::microseconds::rep>(*usec));
}

}  // namespace dynoguard::common
