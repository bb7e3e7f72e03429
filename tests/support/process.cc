#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <thread>
#include <utility>

#include "common/unique_fd.h"
#include "tests/support/proc_scan.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {
namespace {

constexpr int kExecFailedCode = 127;

// Writes `value` in decimal at `out` (async-signal-safe); returns the end.
char* FormatDecimal(char* out, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
  return out;
}

// Between fork and exec only async-signal-safe calls: the test binary may
// have other threads (client loops) holding locks.
[[noreturn]] void ExecChild(const char* binary, char* const* argv,
                            char* const* envp, int log_fd, int stdout_fd,
                            int pass_fd, char* listen_pid_slot,
                            int error_pipe) {
  ::setpgid(0, 0);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(stdout_fd >= 0 ? stdout_fd : log_fd, 1);
  ::dup2(log_fd, 2);
  if (pass_fd >= 0) {
    if (pass_fd == 3) {
      ::fcntl(3, F_SETFD, 0);  // keep it across exec
    } else {
      ::dup2(pass_fd, 3);  // dup2 clears FD_CLOEXEC
    }
  }
  if (listen_pid_slot != nullptr) FormatDecimal(listen_pid_slot, ::getpid());
  ::execve(binary, argv, envp);
  int error = errno;
  ssize_t ignored = ::write(error_pipe, &error, sizeof(error));
  (void)ignored;
  ::_exit(kExecFailedCode);
}

std::vector<std::vector<std::string>> MatchLines(const std::string& text,
                                                 const std::regex& pattern,
                                                 size_t start_offset,
                                                 bool first_only,
                                                 size_t* end_offset) {
  std::vector<std::vector<std::string>> matches;
  size_t pos = start_offset;
  while (pos < text.size()) {
    size_t newline = text.find('\n', pos);
    if (newline == std::string::npos) break;  // only complete lines
    std::string line = text.substr(pos, newline - pos);
    std::smatch match;
    if (std::regex_search(line, match, pattern)) {
      std::vector<std::string> groups;
      for (const auto& group : match) groups.push_back(group.str());
      matches.push_back(std::move(groups));
      if (end_offset != nullptr) *end_offset = newline + 1;
      if (first_only) break;
    }
    pos = newline + 1;
  }
  return matches;
}

}  // namespace

common::Result<Process> Process::Spawn(const std::string& binary,
                                       SpawnOptions options) {
  // Everything the child needs is built before fork.
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), options.args.begin(),
                      options.args.end());
  std::vector<std::string> env_storage;
  if (options.env.find("PATH") == options.env.end()) {
    const char* path = std::getenv("PATH");
    env_storage.push_back(std::string("PATH=") +
                          (path != nullptr ? path : "/usr/bin:/bin"));
  }
  // The sanitizers' settings (suppressions, exit codes) reach the programs
  // under test as they reach the test itself.
  for (const char* name :
       {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && options.env.find(name) == options.env.end())
      env_storage.push_back(std::string(name) + "=" + value);
  }
  for (const auto& [key, value] : options.env) {
    env_storage.push_back(key + "=" + value);
  }
  if (options.set_listen_pid) {
    env_storage.push_back("LISTEN_PID=" + std::string(20, '\0'));
  }
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  char* listen_pid_slot =
      options.set_listen_pid
          ? env_storage.back().data() + std::strlen("LISTEN_PID=")
          : nullptr;

  common::UniqueFd log_fd(::open(options.log_path.c_str(),
                                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                                 0644));
  if (!log_fd) {
    return common::Status::IOError("open " + options.log_path,
                                   std::strerror(errno));
  }
  common::UniqueFd stdout_fd;
  if (!options.stdout_path.empty()) {
    stdout_fd.Reset(::open(options.stdout_path.c_str(),
                           O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!stdout_fd) {
      return common::Status::IOError("open " + options.stdout_path,
                                     std::strerror(errno));
    }
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return common::Status::IOError("pipe2", std::strerror(errno));
  }
  common::UniqueFd error_read(pipe_fds[0]);
  common::UniqueFd error_write(pipe_fds[1]);

  pid_t pid = ::fork();
  if (pid < 0) return common::Status::IOError("fork", std::strerror(errno));
  if (pid == 0) {
    ExecChild(binary.c_str(), argv.data(), envp.data(), log_fd.get(),
              stdout_fd.get(), options.pass_fd, listen_pid_slot,
              error_write.get());
  }
  error_write.Reset();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int status;
    ::waitpid(pid, &status, 0);
    return common::Status::IOError("exec " + binary, std::strerror(exec_errno));
  }
  return Process(pid, options.log_path);
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      log_path_(std::move(other.log_path_)),
      exit_(other.exit_) {}

Process::~Process() {
  if (pid_ <= 0 || exit_.has_value()) return;
  // Collect the tree first: once the root dies, its children are reparented
  // and can no longer be found from it.
  std::vector<pid_t> descendants = DescendantsOf(pid_);
  ::kill(pid_, SIGKILL);
  for (pid_t pid : descendants) ::kill(pid, SIGKILL);
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

common::Status Process::Signal(int sig) const {
  if (pid_ <= 0 || exit_.has_value()) {
    return common::Status::NotFound("process " + std::to_string(pid_) +
                                    " already reaped");
  }
  if (::kill(pid_, sig) != 0) {
    return common::Status::IOError("kill " + std::to_string(pid_),
                                   std::strerror(errno));
  }
  return common::Status::Ok();
}

std::optional<int> Process::WaitExit(std::chrono::milliseconds timeout) {
  if (exit_.has_value() || pid_ <= 0) return exit_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      return exit_;
    }
    if (reaped < 0 && errno != EINTR) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool Process::running() {
  return !WaitExit(std::chrono::milliseconds(0)).has_value();
}

std::string Process::LogText() const {
  return ReadFileText(log_path_).value_or("");
}

size_t Process::LogSize() const {
  struct stat st {};
  if (::stat(log_path_.c_str(), &st) != 0) return 0;
  return static_cast<size_t>(st.st_size);
}

bool Process::WaitForLog(const std::string& regex,
                         std::chrono::milliseconds timeout,
                         size_t start_offset) const {
  return WaitForLogMatch(regex, timeout, start_offset).has_value();
}

std::optional<std::vector<std::string>> Process::WaitForLogMatch(
    const std::string& regex, std::chrono::milliseconds timeout,
    size_t start_offset, size_t* end_offset) const {
  const std::regex pattern(regex);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto matches =
        MatchLines(LogText(), pattern, start_offset, true, end_offset);
    if (!matches.empty()) return matches.front();
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::vector<std::string>> Process::LogMatches(
    const std::string& regex, size_t start_offset) const {
  return MatchLines(LogText(), std::regex(regex), start_offset, false, nullptr);
}

common::Result<Completed> Run(const std::string& binary,
                              std::vector<std::string> args,
                              std::map<std::string, std::string> env,
                              const std::string& scratch_dir,
                              std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  std::string stem = scratch_dir + "/run-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++);
  SpawnOptions options;
  options.args = std::move(args);
  options.env = std::move(env);
  options.log_path = stem + ".err";
  options.stdout_path = stem + ".out";
  auto process = Process::Spawn(binary, std::move(options));
  if (!process.ok()) return process.status();
  auto code = process->WaitExit(timeout);
  if (!code.has_value()) {
    return common::Status::Unavailable(binary + " still running after " +
                                       std::to_string(timeout.count()) + "ms");
  }
  Completed completed;
  completed.exit_code = *code;
  completed.stdout_text = ReadFileText(stem + ".out").value_or("");
  completed.stderr_text = ReadFileText(stem + ".err").value_or("");
  ::unlink((stem + ".out").c_str());
  ::unlink((stem + ".err").c_str());
  return completed;
}

int ListenPort(const Process& process, std::chrono::milliseconds timeout) {
  auto match = process.WaitForLogMatch(
      R"((?:worker|supervisor): listen address=\S*:(\d+))", timeout);
  INFO("no listen line in " << process.log_path() << ":\n"
                            << process.LogText());
  REQUIRE(match.has_value());
  return std::stoi((*match)[1]);
}

}  // namespace dynoguard::testing
