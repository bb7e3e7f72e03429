// NotifyClient: the sending side of the systemd notify protocol (sd_notify(3))
// without libsystemd: one datagram per message to the unix socket named by
// NOTIFY_SOCKET.
#ifndef DYNOGUARD_COMMON_NOTIFY_CLIENT_H_
#define DYNOGUARD_COMMON_NOTIFY_CLIENT_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::common {

// Move-only; owns its socket. Send() is thread-safe (one sendto on a socket
// fixed at construction); moving or assigning is not.
class NotifyClient {
 public:
  // A disabled client: Send() does nothing and returns OK.
  NotifyClient() = default;

  // From the value of NOTIFY_SOCKET: "/absolute/path" or "@abstract-name" (sent
  // with a leading NUL byte). Empty → a disabled client. Errors:
  // InvalidArgument for any other form (relative path, bare "@") or a name too
  // long for sockaddr_un; IOError when the socket cannot be created.
  static Result<NotifyClient> FromSocketAddress(std::string_view notify_socket);

  // Whether messages go anywhere.
  bool enabled() const { return fd_.valid(); }
  // The NOTIFY_SOCKET value this client sends to; empty when disabled. For
  // logs.
  const std::string& address() const { return address_; }

  // Sends `message` (e.g. "READY=1\nSTATUS=serving") as one datagram. Never
  // blocks and never raises SIGPIPE. Returns OK when disabled. Errors:
  // Unavailable when the receiver's queue is full; IOError otherwise (e.g. no
  // one bound at the address, message too large).
  Status Send(std::string_view message) const;

  // The watchdog period from the values of WATCHDOG_USEC and WATCHDOG_PID:
  // nullopt when WATCHDOG_USEC is empty, 0 or not a decimal number, or when
  // WATCHDOG_PID is set and is not `self_pid` (or is not a number). Callers
  // ping at about half this period.
  static std::optional<std::chrono::microseconds> WatchdogPeriod(
      std::string_view watchdog_usec, std::string_view watchdog_pid,
      int self_pid);

 private:
  NotifyClient(UniqueFd fd, const sockaddr_un& addr, socklen_t addr_len,
               std::string address)
      : fd_(std::move(fd)),
        addr_(addr),
        addr_len_(addr_len),
        address_(std::move(address)) {}

  UniqueFd fd_;
  sockaddr_un addr_{};
  socklen_t addr_len_ = 0;
  std::string address_;
};

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_NOTIFY_CLIENT_H_
