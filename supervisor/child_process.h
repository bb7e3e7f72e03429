// Spawning the supervised command with fork/exec: its own process group,
// PR_SET_PDEATHSIG, the listening socket as fd 3 with LISTEN_PID set to the
// child's own pid (which uv_spawn cannot do).
#ifndef DYNOGUARD_SUPERVISOR_CHILD_PROCESS_H_
#define DYNOGUARD_SUPERVISOR_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace dynoguard::supervisor {

struct SpawnOptions {
  // argv[0] is resolved against PATH in the parent when it has no '/'.
  // REQUIRES: non-empty.
  std::vector<std::string> argv;
  // The child's whole environment, "KEY=VALUE" each. LISTEN_PID must not be in
  // it: it is added, set to the child's pid, when listen_fd >= 0.
  std::vector<std::string> env;
  // Passed as fd 3 with LISTEN_FDS=1 (added by the caller to env) when >= 0.
  int listen_fd = -1;
  // Signal the child gets when the supervisor dies. Default: SIGTERM (the
  // worker backs up).
  int parent_death_signal = 15;
};

// Forks and execs. The child runs in a new process group (pgid == pid), with an
// empty signal mask and default dispositions; only async-signal-safe calls run
// between fork and exec. Returns the pid once exec has succeeded; exec failure
// (ENOENT, EACCES) comes back as an IOError naming the command, reported over a
// close-on-exec pipe, and the failed child is reaped here. Not thread-safe with
// respect to other forks of the same process.
common::Result<pid_t> SpawnChild(const SpawnOptions& options);

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_CHILD_PROCESS_H_
