#include "supervisor/worker_protocol.h"

#include <catch2/catch.hpp>
#include <csignal>

namespace dynoguard::supervisor {
namespace {

using common::Config;
using common::ListenSocketMode;
using common::ReadyMode;

Config Parsed(const common::EnvMap& env) {
  auto config = common::ParseConfig(env);
  REQUIRE(config.ok());
  return *config;
}

TEST_CASE("worker protocol: our worker speaks every protocol by default",
          "[worker_protocol]") {
  WorkerProtocol p = ResolveWorkerProtocol(Parsed({}), true);
  CHECK(p.listen_socket == ListenSocketMode::kPass);
  CHECK(p.cleanup.enabled);
  CHECK(p.cleanup.standard == SIGUSR1);
  CHECK(p.cleanup.emergency == SIGUSR2);
  CHECK(p.ready.mode == ReadyMode::kNotify);
  CHECK(p.stop_signal == SIGTERM);
  CHECK(Describe(p) ==
        "listen=pass cleanup=SIGUSR1,SIGUSR2 ready=notify stop=SIGTERM");
}

TEST_CASE("worker protocol: another command speaks none by default",
          "[worker_protocol]") {
  WorkerProtocol p = ResolveWorkerProtocol(Parsed({}), false);
  CHECK(p.listen_socket == ListenSocketMode::kNone);
  CHECK_FALSE(p.cleanup.enabled);
  CHECK(p.ready.mode == ReadyMode::kStarted);
  CHECK(p.stop_signal == SIGTERM);
  CHECK(Describe(p) == "listen=none cleanup=none ready=started stop=SIGTERM");
}

TEST_CASE("worker protocol: a command opts in, the worker opts out",
          "[worker_protocol]") {
  common::EnvMap opt_in{{"LISTEN_SOCKET", "pass"},
                        {"CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2"},
                        {"WORKER_READY", "http:/"},
                        {"STOP_SIGNAL", "SIGINT"}};
  WorkerProtocol bot = ResolveWorkerProtocol(Parsed(opt_in), false);
  CHECK(bot.listen_socket == ListenSocketMode::kPass);
  CHECK(bot.cleanup.enabled);
  CHECK(bot.ready.mode == ReadyMode::kHttp);
  CHECK(bot.ready.http_path == "/");
  CHECK(bot.stop_signal == SIGINT);

  common::EnvMap opt_out{{"LISTEN_SOCKET", "none"},
                         {"CLEANUP_SIGNALS", "none"},
                         {"WORKER_READY", "started"}};
  WorkerProtocol worker = ResolveWorkerProtocol(Parsed(opt_out), true);
  CHECK(worker.listen_socket == ListenSocketMode::kNone);
  CHECK_FALSE(worker.cleanup.enabled);
  CHECK(worker.ready.mode == ReadyMode::kStarted);
}

TEST_CASE(
    "worker protocol: ENABLE_MEMORY_OPTIMIZATION=false turns the cleanup "
    "signals off",
    "[worker_protocol]") {
  WorkerProtocol p =
      ResolveWorkerProtocol(Parsed({{"ENABLE_MEMORY_OPTIMIZATION", "false"},
                                    {"CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2"}}),
                            true);
  CHECK_FALSE(p.cleanup.enabled);
}

}  // namespace
}  // namespace dynoguard::supervisor
