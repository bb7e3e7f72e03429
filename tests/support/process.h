// Process: a child program started by a test, with a clean environment and
// its stdout+stderr appended to a log file the test reads. The destructor
// kills (SIGKILL) and reaps whatever is still running, descendants included,
// so a failed assertion leaves no process behind.
#ifndef DYNOGUARD_TESTS_SUPPORT_PROCESS_H_
#define DYNOGUARD_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace dynoguard::testing {

struct SpawnOptions {
  // argv[1..]; argv[0] is the binary path.
  std::vector<std::string> args;
  // The whole environment of the child besides PATH and the sanitizers'
  // *SAN_OPTIONS (copied from the test's own). Default: empty.
  std::map<std::string, std::string> env;
  // stdout and stderr are appended here (created when missing). REQUIRED.
  std::string log_path;
  // When set, stdout alone goes here instead (e.g. to parse JSON output).
  std::string stdout_path;
  // When >= 0, this fd becomes fd 3 in the child (socket activation).
  int pass_fd = -1;
  // Adds LISTEN_PID=<the child's own pid> to the environment.
  bool set_listen_pid = false;
};

// Move-only. Not thread-safe, except the log readers (LogText, WaitForLog*),
// which only read the file.
class Process {
 public:
  // Starts `binary` in its own process group. Fails with IOError when the
  // fork or the exec fails (the exec errno comes back over a close-on-exec
  // pipe) or the log file cannot be opened.
  static common::Result<Process> Spawn(const std::string& binary,
                                       SpawnOptions options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // SIGKILLs the process and its descendants if it was not reaped yet, and
  // reaps it.
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // kill(pid, sig). Fails with NotFound once the process has been reaped.
  common::Status Signal(int sig) const;

  // Waits up to `timeout` for the process to end and reaps it. Returns its
  // exit code, or -N when it died of signal N; nullopt when it still runs at
  // the deadline. Repeated calls after the exit return the same value.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // True until WaitExit has seen the process end.
  bool running();

  // The log file's contents (empty when it does not exist yet).
  std::string LogText() const;
  // Its size now: an offset for WaitForLog to look only at later lines.
  size_t LogSize() const;

  // Polls the log every 20 ms until a complete line at or after byte
  // `start_offset` matches `regex` (std::regex ECMAScript, searched within
  // the line). Returns whether one did within `timeout`.
  bool WaitForLog(const std::string& regex, std::chrono::milliseconds timeout,
                  size_t start_offset = 0) const;

  // Like WaitForLog but returns the first matching line's match: [0] the
  // whole match, [1..] the capture groups; `end_offset` (if not null) gets
  // the offset just past that line.
  std::optional<std::vector<std::string>> WaitForLogMatch(
      const std::string& regex, std::chrono::milliseconds timeout,
      size_t start_offset = 0, size_t* end_offset = nullptr) const;

  // Every complete line from `start_offset` on that matches `regex`, as in
  // WaitForLogMatch, without waiting.
  std::vector<std::vector<std::string>> LogMatches(
      const std::string& regex, size_t start_offset = 0) const;

 private:
  Process(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_;  // set once reaped
};

// The port a program started with PORT=0 listens on: read from its first
// `listen address=HOST:PORT` line (the supervisor's or a worker's own bind),
// waited for up to `timeout`. Asking the program beats choosing a free port
// first: no other test can take the port between the choice and the bind.
// REQUIRES (Catch2): the line appears; otherwise the test fails there.
int ListenPort(const Process& process,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));

// What Run() saw.
struct Completed {
  int exit_code = 0;  // or -signal
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `binary` to completion (stdout and stderr captured separately in
// files under `scratch_dir`). Fails with Unavailable when it has not exited
// within `timeout` (it is then killed), IOError when it cannot be started.
common::Result<Completed> Run(const std::string& binary,
                              std::vector<std::string> args,
                              std::map<std::string, std::string> env,
                              const std::string& scratch_dir,
                              std::chrono::milliseconds timeout);

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_PROCESS_H_
