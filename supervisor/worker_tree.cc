#include "supervisor/worker_tree.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/memory_probe.h"
#include "common/proc_parsers.h"

namespace dynoguard::supervisor {

bool WorkerTree::SignalGroup(pid_t worker_pid, int sig) const {
  if (worker_pid <= 0) return false;
  return ::kill(-worker_pid, sig) == 0;
}

int WorkerTree::SignalAll(pid_t worker_pid, int sig) const {
  SignalGroup(worker_pid, sig);
  auto tree = common::ProcessTree(*fs_, supervisor_pid_);
  if (!tree.ok()) return 0;
  int outside = 0;
  for (int pid : *tree) {
    if (pid == supervisor_pid_) continue;
    // The group has had its signal: sending it twice would run a handler twice.
    if (worker_pid > 0 && ::getpgid(pid) == worker_pid) continue;
    if (::kill(pid, sig) == 0) ++outside;
  }
  return outside;
}

bool WorkerTree::AnyLeft(pid_t worker_pid) const {
  if (worker_pid > 0 && ::kill(-worker_pid, 0) == 0) return true;
  auto tree = common::ProcessTree(*fs_, supervisor_pid_);
  return tree.ok() && tree->size() > 1;
}

bool WorkerTree::Contains(pid_t worker_pid, pid_t pid) const {
  if (pid <= 0) return false;
  if (pid == worker_pid) return true;
  // Walk up: a process's ancestors are few, a whole tree walk is not needed.
  // The bound guards against a pid reused into a cycle mid-walk.
  pid_t current = pid;
  for (int depth = 0; depth < 64; ++depth) {
    auto stat = fs_->ReadFile("/proc/" + std::to_string(current) + "/stat");
    if (!stat.ok()) return false;
    auto parent = common::ParseStatParentPid(*stat);
    if (!parent.ok()) return false;
    if (*parent == supervisor_pid_) return true;
    if (*parent <= 1) return false;
    current = *parent;
  }
  return false;
}

}  // namespace dynoguard::supervisor
