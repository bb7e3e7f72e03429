#include "worker/app/process_environment.h"

#include <cstdlib>

#include "common/notify_client.h"

namespace dynoguard::worker {
namespace {

std::string EnvOr(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

NotifyEnvironment TakeNotifyEnvironment(int self_pid) {
  NotifyEnvironment env;
  env.notify_socket = EnvOr("NOTIFY_SOCKET");
  env.watchdog_period = common::NotifyClient::WatchdogPeriod(
      EnvOr("WATCHDOG_USEC"), EnvOr("WATCHDOG_PID"), self_pid);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  return env;
}

}  // namespace dynoguard::worker
