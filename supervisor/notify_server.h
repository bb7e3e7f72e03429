// NotifyServer: the datagram socket the worker reports READY=1 / WATCHDOG=1 /
// STATUS= to (the systemd notify protocol; the supervisor plays systemd's part
// for its worker).
#ifndef DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_
#define DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::supervisor {

// Not thread-safe; used from the supervisor's loop.
class NotifyServer {
 public:
  // Binds a non-blocking socket to an abstract address unique to this
  // supervisor
  // ("@dynoguard/<pid>/notify"): no file to clean up, no path-length limit.
  static common::Result<NotifyServer> Open();

  // The value to give the worker as NOTIFY_SOCKET.
  const std::string& address() const { return address_; }
  int fd() const { return fd_.get(); }

  // Reads every pending datagram and passes each to `on_message`. Returns the
  // count.
  int Drain(const std::function<void(std::string_view)>& on_message);

 private:
  NotifyServer(common::UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}

  common::UniqueFd fd_;
  std::string address_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_
