#include "supervisor/worker_protocol.h"

#include <fmt/format.h>

namespace dynoguard::supervisor {

using common::CleanupSignals;
using common::ListenSocketMode;
using common::ReadyMode;
using common::WorkerReady;

WorkerProtocol ResolveWorkerProtocol(const common::Config& config,
                                     bool default_worker) {
  WorkerProtocol p;
  p.listen_socket = config.listen_socket.value_or(
      default_worker ? ListenSocketMode::kPass : ListenSocketMode::kNone);
  p.cleanup = config.cleanup_signals.value_or(
      default_worker
          ? CleanupSignals{}
          : CleanupSignals{
                .enabled = false, .standard = SIGUSR1, .emergency = SIGUSR2});
  // The older switch keeps its meaning for the signals; restarts no longer
  // depend on it.
  if (!config.memory_optimization) p.cleanup.enabled = false;
  p.ready = config.worker_ready.value_or(WorkerReady{
      .mode = default_worker ? ReadyMode::kNotify : ReadyMode::kStarted,
      .http_path = {}});
  p.stop_signal = config.stop_signal;
  return p;
}

std::string Describe(const WorkerProtocol& protocol) {
  std::string cleanup = protocol.cleanup.enabled
                            ? common::SignalName(protocol.cleanup.standard) +
                                  "," +
                                  common::SignalName(protocol.cleanup.emergency)
                            : "none";
  std::string ready;
  switch (protocol.ready.mode) {
    case ReadyMode::kNotify:
      ready = "notify";
      break;
    case ReadyMode::kStarted:
      ready = "started";
      break;
    case ReadyMode::kHttp:
      ready = "http:" + protocol.ready.http_path;
      break;
  }
  return fmt::format(
      "listen={} cleanup={} ready={} stop={}",
      protocol.listen_socket == ListenSocketMode::kPass ? "pass" : "none",
      cleanup, ready, common::SignalName(protocol.stop_signal));
}

}  // namespace dynoguard::supervisor
