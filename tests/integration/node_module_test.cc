// The Node.js module (clients/node, issue 9 "Guarding an existing Node.js
// bot") in a real bot, tests/node/guarded_bot.js, on Debian's `node`: the
// inherited socket (fd 3) or PORT, the cleanup signals (and whether a SIGUSR1
// listener keeps Node's inspector shut), the backup on SIGTERM within the stop
// timeout, and a supervised bot that leaks, is cleaned and restarted while a
// client loop sends requests through the passed socket: not one fails.
// Skipped (with a warning) only where `node` is not installed.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <locale>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/supervised_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::testing::Process;
using dynoguard::testing::SpawnOptions;
using dynoguard::testing::SupervisedCommand;
using dynoguard::testing::TempDir;
namespace t = dynoguard::testing;

constexpr char kBot[] = DYNOGUARD_NODE_TESTS_DIR "/guarded_bot.js";

std::string NodeBinary() {
  for (const char* candidate :
       {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

#define REQUIRE_NODE(node)                                       \
  const std::string node = NodeBinary();                         \
  if (node.empty()) {                                            \
    WARN("node is not installed: Node.js module tests skipped"); \
    return;                                                      \
  }

// GET path; the body, or empty when no answer came.
std::string Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get(path);
  return res && res->status == 200 ? res->body : "";
}

// The bot run directly (no supervisor), its output in dir/bot.log.
Process StartBot(const std::string& node, const TempDir& dir,
                 std::map<std::string, std::string> env,
                 std::vector<std::string> node_flags = {}, int pass_fd = -1) {
  SpawnOptions options;
  options.args = std::move(node_flags);
  options.args.push_back(kBot);
  env.emplace("DATA_DIR", dir.path());
  env.emplace("HOST", "127.0.0.1");
  options.env = std::move(env);
  options.log_path = dir.File("bot.log");
  options.pass_fd = pass_fd;
  options.set_listen_pid = pass_fd >= 0;
  auto spawned = Process::Spawn(node, options);
  INFO(spawned.status().ToString());
  REQUIRE(spawned.ok());
  return std::move(spawned).value();
}

std::vector<std::string> WaitBotLog(const Process& bot,
                                    const std::string& regex, size_t from = 0) {
  auto match = bot.WaitForLogMatch(regex, 20s, from);
  INFO("waited for /" << regex << "/ in the bot's log:\n" << bot.LogText());
  REQUIRE(match.has_value());
  return *match;
}

// A listening socket on 127.0.0.1, any port, as the supervisor would pass it.
dynoguard::common::UniqueFd ListeningSocket(int& port) {
  dynoguard::common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  REQUIRE(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
          0);
  REQUIRE(::listen(fd.get(), 128) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) ==
          0);
  port = ntohs(addr.sin_port);
  return fd;
}

TEST_CASE("node module binds PORT without an inherited socket", "[node]") {
  REQUIRE_NODE(node);
  TempDir dir;
  Process bot = StartBot(node, dir, {{"PORT", "0"}});
  const int port = std::stoi(WaitBotLog(
      bot, R"(dynoguard: listening host=127\.0\.0\.1 port=(\d+) pid=)")[1]);
  CHECK(Get(port, "/pid") == std::to_string(bot.pid()) + "\n");
}

TEST_CASE("node module serves on fd 3 when LISTEN_PID is its own", "[node]") {
  REQUIRE_NODE(node);
  TempDir dir;
  int port = 0;
  dynoguard::common::UniqueFd socket = ListeningSocket(port);
  // PORT names another port: the inherited socket must win.
  Process bot = StartBot(node, dir, {{"PORT", "1"}, {"LISTEN_FDS", "1"}}, {},
                         socket.get());
  WaitBotLog(bot, "dynoguard: listening fd=3 pid=" + std::to_string(bot.pid()));
  CHECK(Get(port, "/pid") == std::to_string(bot.pid()) + "\n");
}

TEST_CASE("node module ignores a socket meant for another pid", "[node]") {
  REQUIRE_NODE(node);
  TempDir dir;
  Process bot = StartBot(
      node, dir, {{"PORT", "0"}, {"LISTEN_FDS", "1"}, {"LISTEN_PID", "1"}});
  WaitBotLog(bot, R"(dynoguard: listen-socket-not-used reason=.*LISTEN_PID=1)");
  const int port =
      std::stoi(WaitBotLog(bot, R"(dynoguard: listening .*port=(\d+))")[1]);
  CHECK(Get(port, "/pid") == std::to_string(bot.pid()) + "\n");
}

TEST_CASE(
    "node: a SIGUSR1 listener keeps the inspector shut, without one SIGUSR1 "
    "opens it",
    "[node]") {
  REQUIRE_NODE(node);
  // Each node gets its own inspector port, so parallel tests never meet on
  // 9229.
  SECTION("plain node: SIGUSR1 opens the inspector") {
    TempDir dir;
    const int inspector = t::FreePort();
    SpawnOptions options;
    options.args = {"--inspect-port=127.0.0.1:" + std::to_string(inspector),
                    "-e",
                    "console.log('plain up'); setInterval(() => {}, 1000);"};
    options.log_path = dir.File("plain.log");
    auto spawned = Process::Spawn(node, options);
    REQUIRE(spawned.ok());
    Process plain = std::move(spawned).value();
    WaitBotLog(plain, "plain up");
    CHECK_FALSE(t::Connect(inspector, 200ms));
    REQUIRE(plain.Signal(SIGUSR1).ok());
    CHECK(t::WaitUntil([&] { return t::Connect(inspector, 200ms); }, 10s));
    CHECK(plain.WaitForLog("Debugger listening", 10s));
  }
  SECTION("with the module: SIGUSR1 and SIGUSR2 are cleanups") {
    TempDir dir;
    const int inspector = t::FreePort();
    Process bot =
        StartBot(node, dir, {{"PORT", "0"}},
                 {"--inspect-port=127.0.0.1:" + std::to_string(inspector)});
    const int port =
        std::stoi(WaitBotLog(bot, R"(dynoguard: listening .*port=(\d+))")[1]);
    REQUIRE(Get(port, "/grow?mb=4") == "ok 4\n");
    REQUIRE(bot.Signal(SIGUSR1).ok());
    WaitBotLog(bot, "dynoguard: cleanup level=standard signal=SIGUSR1");
    CHECK(Get(port, "/cache") == "2\n");  // the older half dropped
    REQUIRE(bot.Signal(SIGUSR2).ok());
    WaitBotLog(bot, "dynoguard: cleanup level=emergency signal=SIGUSR2");
    CHECK(Get(port, "/cache") == "0\n");
    CHECK(Get(port, "/pid") == std::to_string(bot.pid()) + "\n");  // alive
    CHECK_FALSE(t::Connect(inspector, 500ms));
    CHECK_FALSE(t::Connect(9229, 200ms));
    CHECK(bot.LogText().find("Debugger listening") == std::string::npos);
  }
}

TEST_CASE("node module: SIGTERM backs up, then exits 0", "[node]") {
  REQUIRE_NODE(node);
  TempDir dir;
  Process bot = StartBot(node, dir, {{"PORT", "0"}, {"BOT_BACKUP_MS", "300"}},
                         {"--expose-gc"});
  WaitBotLog(bot, "dynoguard: listening");
  REQUIRE(bot.Signal(SIGTERM).ok());
  REQUIRE(bot.Signal(SIGTERM).ok());  // repeated, as Heroku may
  CHECK(bot.WaitExit(10s) == 0);
  const std::string log = bot.LogText();
  INFO(log);
  CHECK(log.find("bot: backed up") != std::string::npos);
  CHECK(log.find("dynoguard: stopped ok=true") != std::string::npos);
  CHECK(
      ::access(
          dir.File("bot-backup-" + std::to_string(bot.pid()) + ".json").c_str(),
          F_OK) == 0);
}

TEST_CASE("node module: a backup that hangs ends in exit 1 at the timeout",
          "[node]") {
  REQUIRE_NODE(node);
  TempDir dir;
  // WORKER_STOP_TIMEOUT_S=2: the module gives up after 1 s, before the
  // supervisor's SIGKILL.
  Process bot = StartBot(node, dir,
                         {{"PORT", "0"},
                          {"BOT_BACKUP_MS", "600000"},
                          {"WORKER_STOP_TIMEOUT_S", "2"}});
  WaitBotLog(bot, "dynoguard: listening");
  REQUIRE(bot.Signal(SIGTERM).ok());
  CHECK(bot.WaitExit(10s) == 1);
  INFO(bot.LogText());
  CHECK(bot.LogText().find("dynoguard: stop-timeout ms=1000") !=
        std::string::npos);
}

// libstdc++'s ctype<char>::narrow fills a per-char cache on first use, and
// std::regex calls it: the log waits here and cpp-httplib (uninstrumented)
// in the client threads. Filled before the threads start, the cache is only
// read afterwards (ThreadSanitizer saw the lazy fill as a race).
void FillNarrowCache() {
  const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
  for (int c = 0; c < 256; ++c) (void)ctype.narrow(static_cast<char>(c), '\0');
}

// Requests in a loop on fresh connections through the supervisor's socket;
// counts answers by pid and failures.
class ClientLoop {
 public:
  explicit ClientLoop(int port) : port_(port) {
    FillNarrowCache();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~ClientLoop() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int ok() const { return ok_; }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  std::set<std::string> pids() {
    std::lock_guard<std::mutex> lock(mu_);
    return pids_;
  }

 private:
  void Run() {
    while (!stop_) {
      httplib::Client client("127.0.0.1", port_);
      client.set_connection_timeout(10);
      client.set_read_timeout(20);
      auto res = client.Get("/pid");
      std::lock_guard<std::mutex> lock(mu_);
      if (res && res->status == 200) {
        ++ok_;
        pids_.insert(res->body);
      } else {
        failures_.push_back(res ? "status " + std::to_string(res->status)
                                : httplib::to_string(res.error()));
      }
      // A steady load, not a busy loop on a shared machine.
      std::this_thread::sleep_for(2ms);
    }
  }

  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;  // guarded by mu_
  std::set<std::string> pids_;         // guarded by mu_
  std::vector<std::thread> threads_;
};

// Grows the bot by 5 MB (`what`: grow or leak) per 150 ms, slower than the
// supervisor's 100 ms poll, until a log line matches `regex` after `from`.
void GrowUntil(SupervisedCommand& run, const std::string& what,
               const std::string& regex, size_t from) {
  bool seen = t::WaitUntil(
      [&] {
        if (run.Count(regex, from) > 0) return true;
        Get(run.port(), "/" + what + "?mb=5");
        return false;
      },
      40s, 150ms);
  INFO("grew the bot (" << what << ") until /" << regex << "/:\n" << run.Log());
  REQUIRE(seen);
}

TEST_CASE(
    "node module under the supervisor: cleaned, restarted, 0 failed requests",
    "[node]") {
  REQUIRE_NODE(node);
  // 200 MB budget: standard 140, emergency 170, restart 190 MB.
  SupervisedCommand run(DYNOGUARD_SUPERVISOR_BIN, {node, "--expose-gc", kBot},
                        {{"LISTEN_SOCKET", "pass"},
                         {"CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2"},
                         {"WORKER_READY", "http:/health"},
                         {"WORKER_STOP_TIMEOUT_S", "10"},
                         {"BOT_BACKUP_MS", "300"}});
  const std::string first =
      run.WaitLog(R"(dynoguard: listening fd=3 pid=(\d+))")[1];
  run.WaitLog("supervisor: ready pid=" + first);
  ClientLoop clients(run.port());

  GrowUntil(run, "grow", "dynoguard: cleanup level=standard", 0);
  run.WaitLog("bot: cleanup level=standard cache=\\d+ pid=" + first);
  GrowUntil(run, "grow", "dynoguard: cleanup level=emergency", 0);
  run.WaitLog("bot: cleanup level=emergency cache=0 pid=" + first);

  // Then a leak no cleanup frees, up to the restart at 95 %.
  size_t mark = run.Mark();
  GrowUntil(run, "leak", "supervisor: restart reason=memory", mark);
  run.WaitLog("dynoguard: stopping signal=SIGTERM .*pid=" + first, mark);
  run.WaitLog("bot: backed up pid=" + first, mark);
  run.WaitLog("dynoguard: stopped ok=true pid=" + first, mark);
  const std::string second =
      run.WaitLog(R"(dynoguard: listening fd=3 pid=(\d+))", mark)[1];
  CHECK(second != first);
  run.WaitLog("supervisor: ready pid=" + second, mark);
  // Some answers from the new bot too, then the verdict.
  const int seen = clients.ok();
  CHECK(t::WaitUntil([&] { return clients.ok() > seen + 20; }, 20s));
  clients.Stop();

  const std::vector<std::string> failures = clients.failures();
  INFO("failed requests: " << failures.size() << " of "
                           << failures.size() + clients.ok()
                           << (failures.empty()
                                   ? ""
                                   : ", first: " + failures.front()));
  CHECK(failures.empty());
  CHECK(clients.ok() > 50);  // with -s: how many were answered
  CHECK(clients.pids().count(first + "\n") == 1);
  CHECK(clients.pids().count(second + "\n") == 1);
  CHECK(::access(run.dir().File("bot-backup-" + first + ".json").c_str(),
                 F_OK) == 0);
  CHECK(run.Count("Debugger listening") == 0);
  CHECK(run.Count("supervisor: kill ") == 0);
  CHECK_FALSE(t::Connect(9229, 200ms));
}

}  // namespace
