// WorkerTree: the processes that belong to the supervised worker, for signals
// and for trusting notify datagrams. The supervisor is a subreaper, so besides
// the worker's process group (pgid == the worker's pid) they are every
// descendant of the supervisor: a helper that left the group (double fork +
// setsid) re-parents to the supervisor and is still the worker's.
#ifndef DYNOGUARD_SUPERVISOR_WORKER_TREE_H_
#define DYNOGUARD_SUPERVISOR_WORKER_TREE_H_

#include <sys/types.h>

#include "common/proc_fs.h"

namespace dynoguard::supervisor {

// Not thread-safe with respect to forks of the supervisor; cheap to copy.
class WorkerTree {
 public:
  // `supervisor_pid`: the subreaper (getpid() of the supervisor). `fs` must
  // outlive this object.
  WorkerTree(const common::ProcFs& fs, pid_t supervisor_pid)
      : fs_(&fs), supervisor_pid_(supervisor_pid) {}

  // Sends `sig` to the process group of `worker_pid` (the cleanup signals:
  // a bot behind a shell wrapper gets them too). Returns false when no process
  // is left in the group.
  bool SignalGroup(pid_t worker_pid, int sig) const;

  // Sends `sig` to the group of `worker_pid` and once to every other
  // descendant of the supervisor (the stop signal, and SIGKILL for whatever is
  // left). Works after the worker itself has exited. Returns how many
  // processes outside the group were signalled.
  int SignalAll(pid_t worker_pid, int sig) const;

  // Whether a process other than the worker's group still descends from the
  // supervisor or the group is not empty: something of the worker is left.
  bool AnyLeft(pid_t worker_pid) const;

  // Whether `pid` is `worker_pid` or descends from the supervisor (its parent
  // chain in /proc reaches supervisor_pid). A pid that is gone is not.
  bool Contains(pid_t worker_pid, pid_t pid) const;

 private:
  const common::ProcFs* fs_;
  pid_t supervisor_pid_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_WORKER_TREE_H_
