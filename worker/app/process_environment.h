// The variables the worker's supervisor (or systemd) sets for this process
// alone: read once, then removed from the environment, so that a child of
// the worker (a helper, a browser for a later transport) never talks to our
// supervisor's notify socket or thinks the watchdog or fd 3 are its own.
#ifndef DYNOGUARD_WORKER_APP_PROCESS_ENVIRONMENT_H_
#define DYNOGUARD_WORKER_APP_PROCESS_ENVIRONMENT_H_

#include <chrono>
#include <optional>
#include <string>

namespace dynoguard::worker {

struct NotifyEnvironment {
  std::string notify_socket;  // NOTIFY_SOCKET, "" when unset
  // WATCHDOG_USEC when set and meant for `self_pid` (WATCHDOG_PID).
  std::optional<std::chrono::microseconds> watchdog_period;
};

// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then unsets all three.
// Not thread-safe (the environment is process-wide): call it at start-up,
// before any thread starts.
NotifyEnvironment TakeNotifyEnvironment(int self_pid);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_PROCESS_ENVIRONMENT_H_
