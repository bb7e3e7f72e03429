// test_worker: a small program for the supervisor's integration tests. It
// serves a one-line command protocol on TCP, grows and frees memory on demand,
// records the signals it gets in $DATA_DIR/test_worker.signals and speaks the
// systemd notify and socket-activation protocols with plain POSIX calls.
//
// Protocol: one line in, one line out, then the connection closes.
//   ping → pong          pid → <pid>           grow N → ok <MB held>
//   free → ok 0          hang → ok, then stop answering and pinging
//   crash → ok, exit 3   spawn-child → <pid of a child holding 20 MB>
//   signals → USR1,TERM,... (the signals received so far)
//
// Environment: LISTEN_FDS/LISTEN_PID (fd 3) or HOST/PORT; NOTIFY_SOCKET;
// WATCHDOG_USEC; DATA_DIR; TEST_WORKER_EXIT_AT_START=<code>;
// TEST_WORKER_GROW_AT_START=<MB>; TEST_WORKER_IGNORE_TERM=1 (record SIGTERM,
// keep running); TEST_WORKER_KEEP_ON_SIGNAL=1 (record SIGUSR1/2, free nothing);
// TEST_WORKER_READY_AFTER_MS=<ms> (send READY=1 that late, serving meanwhile;
// negative: never).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr size_t kMegabyte = 1024 * 1024;
constexpr int kChildMegabytes = 20;

// Signal plumbing: the only global mutable state. The handler records the
// signal in the signals file itself (open/write/close are async-signal-safe),
// so even a hung worker leaves a trace, then wakes the loop via the pipe.
int g_signal_pipe_write = -1;
char g_signals_path[4096];
char g_pid_text[16];

const char* SignalName(int sig) {
  switch (sig) {
    case SIGUSR1:
      return "USR1";
    case SIGUSR2:
      return "USR2";
    case SIGTERM:
      return "TERM";
    case SIGHUP:
      return "HUP";
    case SIGINT:
      return "INT";
    default:
      return "OTHER";
  }
}

void OnSignal(int sig) {
  int saved_errno = errno;
  char line[64];
  size_t len = 0;
  for (const char* p = SignalName(sig); *p != '\0'; ++p) line[len++] = *p;
  line[len++] = ' ';
  for (const char* p = g_pid_text; *p != '\0'; ++p) line[len++] = *p;
  line[len++] = '\n';
  if (g_signals_path[0] != '\0') {
    int fd =
        open(g_signals_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ssize_t ignored = write(fd, line, len);
      (void)ignored;
      close(fd);
    }
  }
  unsigned char byte = static_cast<unsigned char>(sig);
  ssize_t ignored = write(g_signal_pipe_write, &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

long EnvLong(const char* name, long fallback) {
  std::string value = Env(name);
  if (value.empty()) return fallback;
  char* end = nullptr;
  long parsed = std::strtol(value.c_str(), &end, 10);
  return (end != nullptr && *end == '\0') ? parsed : fallback;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_worker: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int64_t NowMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Memory held in 1 MB anonymous mappings, so freeing returns it to the kernel
// at once (malloc would keep some of it).
class Ballast {
 public:
  void Grow(long megabytes) {
    for (long i = 0; i < megabytes; ++i) {
      void* chunk = mmap(nullptr, kMegabyte, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (chunk == MAP_FAILED) Die("mmap");
      // Not inherited by spawn-child's fork: the child's RSS would
      // otherwise count these copy-on-write pages a second time.
      madvise(chunk, kMegabyte, MADV_DONTFORK);
      std::memset(chunk, 0xA5, kMegabyte);  // touch: make it resident
      chunks_.push_back(chunk);
    }
  }
  // Frees `megabytes` chunks (or all that are held).
  void Free(size_t megabytes) {
    while (megabytes-- > 0 && !chunks_.empty()) {
      munmap(chunks_.back(), kMegabyte);
      chunks_.pop_back();
    }
  }
  void FreeAll() { Free(chunks_.size()); }
  size_t megabytes() const { return chunks_.size(); }

 private:
  std::vector<void*> chunks_;
};

// Sends one notify datagram to NOTIFY_SOCKET ("/path" or "@abstract").
void Notify(const std::string& socket_path, const char* message) {
  if (socket_path.empty()) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  if (socket_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                         socket_path.size() +
                                         (socket_path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (sendto(fd, message, std::strlen(message), MSG_NOSIGNAL,
             reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    std::fprintf(stderr, "test_worker: notify %s: %s\n", message,
                 std::strerror(errno));
  }
  close(fd);
}

// fd 3 when socket-activated for this very process, else a fresh socket bound
// to HOST (default 127.0.0.1) and PORT.
int OpenListener() {
  if (Env("LISTEN_FDS") == "1" && EnvLong("LISTEN_PID", -1) == getpid()) {
    fcntl(3, F_SETFD, FD_CLOEXEC);
    std::fprintf(stderr, "test_worker: listening on inherited fd 3\n");
    return 3;
  }
  std::string host = Env("HOST").empty() ? "127.0.0.1" : Env("HOST");
  long port = EnvLong("PORT", 0);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) Die("HOST");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    Die("bind");
  }
  if (listen(fd, 128) < 0) Die("listen");
  std::fprintf(stderr, "test_worker: listening on %s:%ld\n", host.c_str(),
               port);
  return fd;
}

// Installs the recording handlers; returns the read end of the signal pipe.
int InstallHandlers() {
  std::string data_dir = Env("DATA_DIR");
  if (!data_dir.empty()) {
    std::snprintf(g_signals_path, sizeof(g_signals_path),
                  "%s/test_worker.signals", data_dir.c_str());
  }
  std::snprintf(g_pid_text, sizeof(g_pid_text), "%d",
                static_cast<int>(getpid()));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) Die("pipe2");
  g_signal_pipe_write = pipe_fds[1];
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGUSR1, SIGUSR2, SIGTERM, SIGHUP, SIGINT}) {
    sigaction(sig, &action, nullptr);
  }
  signal(SIGPIPE, SIG_IGN);
  return pipe_fds[0];
}

class Worker {
 public:
  Worker(int listen_fd, int signal_pipe)
      : listen_fd_(listen_fd),
        signal_pipe_(signal_pipe),
        notify_socket_(Env("NOTIFY_SOCKET")),
        ignore_term_(Env("TEST_WORKER_IGNORE_TERM") == "1"),
        keep_on_signal_(Env("TEST_WORKER_KEEP_ON_SIGNAL") == "1") {
    long watchdog_usec = EnvLong("WATCHDOG_USEC", 0);
    ping_interval_us_ = watchdog_usec > 0 ? watchdog_usec / 2 : 0;
    ready_after_ms_ = EnvLong("TEST_WORKER_READY_AFTER_MS", 0);
  }

  void GrowAtStart(long megabytes) { ballast_.Grow(megabytes); }

  [[noreturn]] void Run() {
    // When READY=1 is due; -1: sent (or never to be sent).
    int64_t ready_at =
        ready_after_ms_ < 0 ? -1 : NowMicros() + ready_after_ms_ * 1000;
    int64_t next_ping = NowMicros() + ping_interval_us_;
    for (;;) {
      if (ready_at >= 0 && NowMicros() >= ready_at) {
        Notify(notify_socket_, "READY=1");
        ready_at = -1;
      }
      int timeout_ms = -1;
      if (ping_interval_us_ > 0) {
        int64_t left = next_ping - NowMicros();
        timeout_ms = left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
      }
      if (ready_at >= 0) {
        int64_t left = ready_at - NowMicros();
        int ready_ms = left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
        timeout_ms = timeout_ms < 0 ? ready_ms : std::min(timeout_ms, ready_ms);
      }
      pollfd fds[2] = {{signal_pipe_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      int n = poll(fds, 2, timeout_ms);
      if (n < 0 && errno != EINTR) Die("poll");
      DrainSignals();
      ExitIfTerminated();
      if (ping_interval_us_ > 0 && NowMicros() >= next_ping) {
        Notify(notify_socket_, "WATCHDOG=1");
        ++pings_sent_;
        next_ping = NowMicros() + ping_interval_us_;
      }
      if (n > 0 && (fds[1].revents & POLLIN) != 0) AcceptOne();
      ExitIfTerminated();
    }
  }

 private:
  void ExitIfTerminated() {
    if (!terminate_) return;
    std::fprintf(stderr, "test_worker: SIGTERM, exiting\n");
    std::exit(0);
  }

  // Applies the signals the handler queued on the pipe.
  void DrainSignals() {
    unsigned char sigs[64];
    ssize_t n;
    while ((n = read(signal_pipe_, sigs, sizeof(sigs))) > 0) {
      for (ssize_t i = 0; i < n; ++i) ApplySignal(sigs[i]);
    }
  }

  void ApplySignal(int sig) {
    if (!received_.empty()) received_ += ',';
    received_ += SignalName(sig);
    switch (sig) {
      case SIGUSR1:
        if (!keep_on_signal_) ballast_.Free(ballast_.megabytes() / 2);
        break;
      case SIGUSR2:
        if (!keep_on_signal_) ballast_.FreeAll();
        break;
      case SIGTERM:
        // Exit from the loop, never in the middle of answering a request.
        if (!ignore_term_) terminate_ = true;
        break;
      default:
        break;
    }
  }

  void AcceptOne() {
    // poll() said readable, but another process sharing the socket may have
    // taken the connection: never block here.
    pollfd pfd = {listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 0) <= 0) return;
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    timeval tv{5, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string line;
    char c;
    while (line.size() < 256) {
      // A read with SO_RCVTIMEO is not restarted after a signal handler.
      ssize_t r = read(conn, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || c == '\n') break;
      if (c != '\r') line += c;
    }
    Answer(conn, line);
  }

  static void Reply(int conn, const std::string& text) {
    std::string out = text + "\n";
    ssize_t ignored = send(conn, out.data(), out.size(), MSG_NOSIGNAL);
    (void)ignored;
    close(conn);
  }

  void Answer(int conn, std::string_view line) {
    DrainSignals();  // answers reflect every signal received so far
    if (line == "ping") return Reply(conn, "pong");
    if (line == "pid") return Reply(conn, std::to_string(getpid()));
    if (line.starts_with("grow ")) {
      long mb = std::strtol(std::string(line.substr(5)).c_str(), nullptr, 10);
      if (mb > 0) ballast_.Grow(mb);
      return Reply(conn, "ok " + std::to_string(ballast_.megabytes()));
    }
    if (line == "free") {
      ballast_.FreeAll();
      return Reply(conn, "ok 0");
    }
    if (line == "signals") return Reply(conn, received_);
    if (line == "pings") return Reply(conn, std::to_string(pings_sent_));
    if (line == "crash") {
      Reply(conn, "ok");
      std::fprintf(stderr, "test_worker: crashing with exit code 3\n");
      std::exit(3);
    }
    if (line == "hang") {
      Reply(conn, "ok");
      std::fprintf(stderr, "test_worker: hanging\n");
      for (;;) sleep(1);
    }
    if (line == "spawn-child") return Reply(conn, std::to_string(SpawnChild()));
    return Reply(conn, "error unknown command");
  }

  // A child that holds kChildMegabytes and sleeps until killed; it dies with
  // this process.
  pid_t SpawnChild() {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;  // parent (or -1)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    // Signals are for the worker; the child only dies of SIGTERM/SIGKILL.
    for (int sig : {SIGUSR1, SIGUSR2, SIGHUP, SIGINT}) signal(sig, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    close_range(3, ~0U, 0);
    Ballast own;
    own.Grow(kChildMegabytes);
    for (;;) pause();
  }

  const int listen_fd_;
  const int signal_pipe_;
  const std::string notify_socket_;
  const bool ignore_term_;
  const bool keep_on_signal_;
  int64_t ping_interval_us_ = 0;
  int64_t pings_sent_ = 0;  // WATCHDOG=1 datagrams sent so far
  long ready_after_ms_ = 0;
  Ballast ballast_;
  std::string received_;
  bool terminate_ = false;
};

}  // namespace

int main() {
  long exit_code = EnvLong("TEST_WORKER_EXIT_AT_START", -1);
  if (exit_code >= 0) {
    std::fprintf(stderr, "test_worker: exiting at start with code %ld\n",
                 exit_code);
    return static_cast<int>(exit_code);
  }
  int signal_pipe = InstallHandlers();
  int listen_fd = OpenListener();
  // Non-blocking accept: a socket shared with other processes may have no
  // connection left when this one wakes up.
  fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  Worker worker(listen_fd, signal_pipe);
  worker.GrowAtStart(EnvLong("TEST_WORKER_GROW_AT_START", 0));
  worker.Run();
}
