// SupervisedCommand: `supervisor start -- COMMAND...` as a test runs it for
// any command (a shell wrapper, a Node.js bot, the test worker without its
// opt-ins), on a free port in a fresh DATA_DIR, with a 200 MB budget. Judged
// by the log lines, `supervisor status --json` and /proc.
#ifndef DYNOGUARD_TESTS_SUPPORT_SUPERVISED_COMMAND_H_
#define DYNOGUARD_TESTS_SUPPORT_SUPERVISED_COMMAND_H_

#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {

// Not thread-safe. The destructor kills what is left (Process).
class SupervisedCommand {
 public:
  using Env = std::map<std::string, std::string>;

  // Starts the supervisor binary `supervisor_bin` on `command`. Base
  // environment: HOST=127.0.0.1, a free PORT, DATA_DIR, MEMORY_LIMIT_MB=200,
  // MEMORY_POLL_MS=100, WORKER_STOP_TIMEOUT_S=2, WORKER_WATCHDOG_S=0, short
  // backoffs, text logs; `overrides` win. REQUIRE-fails when the supervisor
  // cannot be started.
  SupervisedCommand(std::string supervisor_bin,
                    std::vector<std::string> command,
                    const Env& overrides = {});

  Process& supervisor() { return *supervisor_; }
  const TempDir& dir() const { return dir_; }
  int port() const { return port_; }
  std::string Log() const { return supervisor_->LogText(); }
  size_t Mark() const { return supervisor_->LogSize(); }

  // Waits (20 s) for a log line matching `regex` after `from`; REQUIRE-fails
  // with the log otherwise. Returns the match's groups; `end` gets the offset
  // past the line.
  std::vector<std::string> WaitLog(const std::string& regex, size_t from = 0,
                                   size_t* end = nullptr);
  // How many lines after `from` match `regex` now.
  size_t Count(const std::string& regex, size_t from = 0) const;

  // `supervisor <args>` against this DATA_DIR.
  Completed Control(std::vector<std::string> args);
  // `supervisor status --json`, parsed (REQUIRE-fails on a bad answer).
  rapidjson::Document Status();

 private:
  std::string supervisor_bin_;
  TempDir dir_;
  int port_;
  std::optional<Process> supervisor_;
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_SUPERVISED_COMMAND_H_
