// SpawnSandboxWorker: the real worker on the sandbox transport in its own
// DATA_DIR, on 127.0.0.1 and a port it picks, for the integration tests that
// drive one by hand (a bot on WEBHOOK_URL, the sandbox's simulated inbound).
#ifndef DYNOGUARD_TESTS_SUPPORT_SANDBOX_WORKER_H_
#define DYNOGUARD_TESTS_SUPPORT_SANDBOX_WORKER_H_

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {

// Starts DYNOGUARD_WORKER_BIN with HOST=127.0.0.1, PORT=0, DATA_DIR=dir and
// `extra` (which may replace them), its output in dir/`log_name`, and waits
// up to 20 s for `worker: ready`. REQUIREs (Catch2) both. Header-only: the
// binary's path is the integration tests' DYNOGUARD_WORKER_BIN.
inline Process SpawnSandboxWorker(
    const TempDir& dir, const std::map<std::string, std::string>& extra = {},
    const std::string& log_name = "worker.log") {
  SpawnOptions options;
  options.env = {
      {"HOST", "127.0.0.1"}, {"PORT", "0"}, {"DATA_DIR", dir.path()}};
  for (const auto& [name, value] : extra) options.env[name] = value;
  options.log_path = dir.File(log_name);
  auto worker = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(worker.ok());
  REQUIRE(worker->WaitForLog("worker: ready", std::chrono::seconds(20)));
  return std::move(worker.value());
}

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_SANDBOX_WORKER_H_
