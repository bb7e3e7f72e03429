// NotifyServer: the datagram socket the worker reports READY=1 / WATCHDOG=1 /
// STATUS= to (the systemd notify protocol; the supervisor plays systemd's part
// for its worker). Every datagram carries its sender's credentials
// (SO_PASSCRED): only senders the filter accepts (the current worker's
// process tree) count; a forged WATCHDOG=1 must not keep a hung worker alive.
#ifndef DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_
#define DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::supervisor {

// Not thread-safe; used from the supervisor's loop.
class NotifyServer {
 public:
  // Whether a datagram from process `pid` (as the kernel reports it) counts.
  using SenderFilter = std::function<bool(pid_t pid)>;
  // Told about ignored datagrams: the sender and how many were ignored so far.
  // Called for the 1st, 2nd, 4th, 8th... ignored datagram only, so a flood
  // cannot flood the log.
  using RejectedHandler =
      std::function<void(pid_t pid, uid_t uid, uint64_t ignored_total)>;

  // Binds a non-blocking socket to an abstract address unique to this
  // supervisor ("@dynoguard/<pid>/notify": no file to clean up, no
  // path-length limit) with SO_PASSCRED on.
  static common::Result<NotifyServer> Open();

  // The value to give the worker as NOTIFY_SOCKET.
  const std::string& address() const { return address_; }
  int fd() const { return fd_.get(); }

  // Only datagrams whose sender `filter` accepts reach Drain's callback. Until
  // one is set every sender counts (tests of the protocol alone).
  void set_sender_filter(SenderFilter filter) { filter_ = std::move(filter); }
  void set_rejected_handler(RejectedHandler handler) {
    on_rejected_ = std::move(handler);
  }

  // Reads every pending datagram and passes each accepted one to
  // `on_message`. A datagram without credentials, or from a sender the filter
  // refuses, is dropped. Returns the count passed on.
  int Drain(const std::function<void(std::string_view)>& on_message);

  // Datagrams dropped so far.
  uint64_t ignored() const { return ignored_; }

 private:
  NotifyServer(common::UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}

  common::UniqueFd fd_;
  std::string address_;
  SenderFilter filter_;
  RejectedHandler on_rejected_;
  uint64_t ignored_ = 0;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_NOTIFY_SERVER_H_
