// A real Node.js bot under the supervisor (issue 6 §5): `supervisor start --
// node tests/node/leaky_bot.js` with the defaults for any COMMAND, with
// cleanup signals opted in, and with WORKER_READY=http:/. Skipped (with a
// warning) only where `node` is not installed; CI installs Debian's nodejs.
//
// Budget: MEMORY_LIMIT_MB=200 (standard 140 MB, emergency 170 MB, restart
// 190 MB); Node's own baseline is some 40 MB.
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/supervised_command.h"
#include "tests/support/wait.h"

namespace {

using namespace std::chrono_literals;
using dynoguard::testing::SupervisedCommand;
namespace t = dynoguard::testing;

constexpr char kBot[] = DYNOGUARD_NODE_TESTS_DIR "/leaky_bot.js";

// `node` from PATH, or empty.
std::string NodeBinary() {
  for (const char* candidate :
       {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

// GET path on the bot; the body, or empty when no answer came.
std::string Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get(path);
  return res ? res->body : "";
}

// Grows the bot by `mb` in 10 MB requests.
void Grow(int port, int mb) {
  for (int done = 0; done < mb; done += 10) {
    INFO("GET /grow?mb=10 on the bot");
    REQUIRE(Get(port, "/grow?mb=10").starts_with("ok "));
  }
}

// Grows the bot 5 MB at a time until the supervisor logs a line matching
// `regex` after `from` (Node's own baseline varies by version and machine).
// One step per 150 ms, slower than the 100 ms poll, so no threshold is jumped
// over between two samples.
void GrowUntil(SupervisedCommand& run, const std::string& regex, size_t from) {
  bool seen = t::WaitUntil(
      [&] {
        if (run.Count(regex, from) > 0) return true;
        Get(run.port(), "/grow?mb=5");
        return false;
      },
      30s, 150ms);
  INFO("grew the bot until /" << regex << "/:\n" << run.Log());
  REQUIRE(seen);
}

TEST_CASE(
    "node bot, default variables: binds PORT itself, no signal before the "
    "95% restart, no inspector",
    "[node]") {
  const std::string node = NodeBinary();
  if (node.empty()) {
    WARN("node is not installed: Node.js bot tests skipped");
    return;
  }
  SupervisedCommand run(DYNOGUARD_SUPERVISOR_BIN, {node, kBot});
  const std::string first =
      run.WaitLog(R"(bot: listening port=\d+ pid=(\d+))")[1];
  CHECK(Get(run.port(), "/pid") == first + "\n");

  // Up through the standard and emergency thresholds: no signal (SIGUSR1
  // would open Node's inspector, SIGUSR2 would kill the bot).
  Grow(run.port(), 60);
  GrowUntil(run, R"(supervisor: memory rss=\d+MB .*level=(standard|emergency))",
            0);
  // Then until the restart at 95 % (a request may meet the bot stopping).
  size_t mark = run.Mark();
  GrowUntil(run, "supervisor: restart reason=memory", mark);
  run.WaitLog("bot: signal SIGTERM, exiting pid=" + first, mark);
  const std::string second =
      run.WaitLog(R"(bot: listening port=\d+ pid=(\d+))", mark)[1];
  CHECK(second != first);
  CHECK(Get(run.port(), "/pid") == second + "\n");

  CHECK(run.Count("supervisor: cleanup ") == 0);
  CHECK(run.Count("Debugger listening") == 0);
  CHECK_FALSE(t::Connect(9229, 500ms));         // no inspector on the box
  CHECK(run.Count("bot: listen failed") == 0);  // no EADDRINUSE
  CHECK(run.Count("status=killed signal=SIGUSR2") == 0);
}

TEST_CASE("node bot with CLEANUP_SIGNALS and handlers gets both signals",
          "[node]") {
  const std::string node = NodeBinary();
  if (node.empty()) {
    WARN("node is not installed: Node.js bot tests skipped");
    return;
  }
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN, {node, kBot},
      {{"CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2"}, {"BOT_HANDLE_SIGNALS", "1"}});
  const std::string pid =
      run.WaitLog(R"(bot: listening port=\d+ pid=(\d+))")[1];
  Grow(run.port(), 60);
  GrowUntil(run, "supervisor: cleanup level=standard pid=" + pid, 0);  // 70 %
  run.WaitLog("bot: signal SIGUSR1 pid=" + pid);
  GrowUntil(run, "supervisor: cleanup level=emergency pid=" + pid, 0);  // 85 %
  run.WaitLog("bot: signal SIGUSR2 pid=" + pid);
  CHECK(run.Count("Debugger listening") == 0);
  CHECK(Get(run.port(), "/pid") == pid + "\n");  // alive, same bot
}

TEST_CASE("node bot with WORKER_READY=http:/ is ready at its first answer",
          "[node]") {
  const std::string node = NodeBinary();
  if (node.empty()) {
    WARN("node is not installed: Node.js bot tests skipped");
    return;
  }
  // The bot binds 1.5 s after its start; `/` answers 404, which counts.
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN, {node, kBot},
      {{"WORKER_READY", "http:/"}, {"BOT_LISTEN_DELAY_MS", "1500"}});
  const std::string pid = run.WaitLog(R"(supervisor: spawn pid=(\d+))")[1];
  run.WaitLog("bot: starting listen_delay=1500ms pid=" + pid);
  auto status = run.Status();
  CHECK_FALSE(status["worker"]["ready"].GetBool());
  size_t listening_end = 0;
  run.WaitLog("bot: listening port=\\d+ pid=" + pid, 0, &listening_end);
  size_t ready_end = 0;
  run.WaitLog("supervisor: ready pid=" + pid, 0, &ready_end);
  CHECK(ready_end > listening_end);
  CHECK(run.Status()["worker"]["ready"].GetBool());
}

TEST_CASE(
    "node bot behind a shell wrapper gets SIGTERM and the time to back up",
    "[node]") {
  const std::string node = NodeBinary();
  if (node.empty()) {
    WARN("node is not installed: Node.js bot tests skipped");
    return;
  }
  // sh forks node (a command follows it) and dies of SIGTERM at once; the
  // bot needs 1 s to "back up". The stop must wait for it, not SIGKILL it
  // when sh exits.
  SupervisedCommand run(
      DYNOGUARD_SUPERVISOR_BIN,
      {"/bin/sh", "-c", "'" + node + "' '" + kBot + "'; echo wrapper-done"},
      {{"BOT_STOP_DELAY_MS", "1000"}, {"WORKER_STOP_TIMEOUT_S", "10"}});
  const std::string bot =
      run.WaitLog(R"(bot: listening port=\d+ pid=(\d+))")[1];
  t::Completed stop = run.Control({"stop"});
  CHECK(stop.exit_code == 0);
  run.WaitLog("bot: signal SIGTERM, exiting pid=" + bot);
  run.WaitLog("bot: backed up pid=" + bot);
  CHECK(run.supervisor().WaitExit(20s) == 0);
  CHECK(run.Count("supervisor: kill ") == 0);
}

}  // namespace
