#include "supervisor/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/unique_fd.h"

namespace dynoguard::supervisor {
namespace {

using common::Result;
using common::Status;
using common::UniqueFd;

constexpr char kListenPidPrefix[] = "LISTEN_PID=";

// Resolves a bare command name against PATH before fork: execvp may allocate,
// which is not allowed in the child.
std::string ResolveCommand(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;  // exec reports ENOENT
}

// Writes `value` in decimal at `out` (no allocation; async-signal-safe). `out`
// has room for 20.
void FormatPid(pid_t value, char* out) {
  char digits[24];
  int n = 0;
  unsigned long v = static_cast<unsigned long>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

// Runs in the child: only async-signal-safe calls. Never returns.
[[noreturn]] void ExecChild(const char* path, char* const* argv,
                            char* const* envp, char* listen_pid_entry,
                            int listen_fd, int error_fd, pid_t parent,
                            int death_signal) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);
  }
  setpgid(0, 0);
  // The death signal is armed after fork; if the supervisor died in between, go
  // now.
  if (prctl(PR_SET_PDEATHSIG, death_signal) != 0) {
    // Not fatal: the worker would outlive a SIGKILLed supervisor. One line,
    // with write(2) only (async-signal-safe).
    static constexpr char kMessage[] =
        "supervisor: pdeathsig-failed: PR_SET_PDEATHSIG refused; the worker "
        "will not die with the supervisor\n";
    (void)!write(2, kMessage, sizeof kMessage - 1);
  }
  if (getppid() != parent) _exit(1);

  if (listen_fd >= 0) {
    if (listen_fd == 3) {
      int flags = fcntl(3, F_GETFD);
      fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
    } else if (dup2(listen_fd, 3) < 0) {
      int err = errno;
      (void)!write(error_fd, &err, sizeof err);
      _exit(127);
    }
    FormatPid(getpid(), listen_pid_entry + sizeof(kListenPidPrefix) - 1);
  }
  execve(path, argv, envp);
  int err = errno;
  (void)!write(error_fd, &err, sizeof err);
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace

Result<pid_t> SpawnChild(const SpawnOptions& options) {
  if (options.argv.empty())
    return Status::InvalidArgument("spawn: empty command");
  std::string path = ResolveCommand(options.argv[0]);

  // Everything the child touches is built here, before fork.
  std::vector<std::string> argv_storage = options.argv;
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = options.env;
  if (options.listen_fd >= 0) {
    env_storage.push_back(std::string(kListenPidPrefix) + std::string(20, '0'));
  }
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  char* listen_pid_entry =
      options.listen_fd >= 0 ? env_storage.back().data() : nullptr;

  // The exec-error pipe must not land on fd 3, which the child is about to
  // overwrite.
  int raw[2];
  if (pipe2(raw, O_CLOEXEC) != 0)
    return Status::IOError("spawn: pipe2", std::strerror(errno));
  UniqueFd read_end(raw[0]);
  UniqueFd write_end(fcntl(raw[1], F_DUPFD_CLOEXEC, 4));
  ::close(raw[1]);
  if (!write_end) return Status::IOError("spawn: fcntl", std::strerror(errno));

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Status::IOError("spawn: fork", std::strerror(errno));
  if (pid == 0) {
    ExecChild(path.c_str(), argv.data(), envp.data(), listen_pid_entry,
              options.listen_fd, write_end.get(), parent,
              options.parent_death_signal);
  }
  // Also set the group from the parent side, so a signal to -pid works even
  // before the child ran.
  setpgid(pid, pid);
  write_end.Reset();

  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(read_end.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return Status::IOError("exec " + options.argv[0],
                           std::strerror(child_errno));
  }
  return pid;
}

}  // namespace dynoguard::supervisor
