// WorkerProtocol: which of the supervisor's protocols (socket hand-over,
// cleanup signals, readiness, stop signal) the supervised command speaks,
// resolved from the configuration and from what the command is (SPEC §4: our
// worker speaks them all; another COMMAND none unless it opts in).
#ifndef DYNOGUARD_SUPERVISOR_WORKER_PROTOCOL_H_
#define DYNOGUARD_SUPERVISOR_WORKER_PROTOCOL_H_

#include <csignal>
#include <string>

#include "common/config.h"

namespace dynoguard::supervisor {

struct WorkerProtocol {
  // LISTEN_SOCKET. Default: kPass for the worker, kNone for another command.
  common::ListenSocketMode listen_socket = common::ListenSocketMode::kPass;
  // CLEANUP_SIGNALS. Default: SIGUSR1,SIGUSR2 for the worker, none for another
  // command. Also none when ENABLE_MEMORY_OPTIMIZATION=false.
  common::CleanupSignals cleanup;
  // WORKER_READY. Default: notify for the worker, started for another command.
  common::WorkerReady ready;
  // STOP_SIGNAL. Default: SIGTERM.
  int stop_signal = SIGTERM;
};

// Pure: the configured values where set, else the defaults for the command.
// `default_worker`: the command is the worker installed beside the supervisor
// (no COMMAND given to `supervisor start`, or a COMMAND naming that file).
WorkerProtocol ResolveWorkerProtocol(const common::Config& config,
                                     bool default_worker);

// One line for the start log, e.g. "listen=pass cleanup=SIGUSR1,SIGUSR2
// ready=notify stop=SIGTERM".
std::string Describe(const WorkerProtocol& protocol);

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_WORKER_PROTOCOL_H_
