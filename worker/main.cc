// worker: the WhatsApp gateway (HTTP API, durable single-flight queue,
// transport). It runs under the supervisor, under systemd, or on its own.
// main() is the table of contents: parse the command line, parse the
// environment, build the logger, run the app.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "common/config.h"
#include "common/log.h"
#include "worker/app/worker_app.h"
#include "worker/storage/sqlite.h"

namespace {

constexpr char kUsage[] = R"(usage: worker [--help | --version]

The dynoguard gateway: HTTP API, durable outbound queue and WhatsApp transport (sandbox or
Cloud API). Usually started by `supervisor start`; it also runs on its own (it then binds
HOST:PORT itself) or under systemd (socket activation and the notify protocol).
Configuration comes from environment variables; see docs/configuration.md.
)";

// Before anything else: a cleanup signal that arrives while the queue opens
// (the supervisor may send SIGUSR1 a few ms after the spawn) must not kill the
// worker with the default action. The loop installs its own handlers later,
// which replace these. A closed HTTP peer must not kill it either (SIGPIPE:
// writes then fail with EPIPE instead).
void IgnoreEarlySignals() {
  for (int sig : {SIGUSR1, SIGUSR2, SIGPIPE}) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(sig, &ignore, nullptr);
  }
}

int Main(int argc, char** argv) {
  using namespace dynoguard;
  IgnoreEarlySignals();
  dynoguard::worker::storage::ConfigureSqliteMemory();
  if (argc > 1) {
    if (std::strcmp(argv[1], "--version") == 0) {
      std::printf("worker (dynoguard) %s\n", DYNOGUARD_VERSION);
      return 0;
    }
    if (std::strcmp(argv[1], "--help") == 0 ||
        std::strcmp(argv[1], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "worker: unknown argument '%s' (try --help)\n",
                 argv[1]);
    return 2;
  }
  auto config = common::ParseConfig(common::EnvironmentMap());
  if (!config.ok()) {
    std::fprintf(stderr, "worker: config: %s\n",
                 config.status().message().c_str());
    return 2;
  }
  // One libuv pool thread is all the single-flight dispatcher needs; fewer
  // threads, less RSS.
  setenv("UV_THREADPOOL_SIZE", "1", 0);
  common::Logger log("worker", config->log_format);
  log.SetSecrets(config->Secrets());
  worker::WorkerApp app(*config, log);
  return app.Run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker: fatal: %s\n", e.what());
    return 1;
  }
}
