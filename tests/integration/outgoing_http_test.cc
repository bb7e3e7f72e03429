// The worker's outgoing HTTP: libcurl and OpenSSL are initialised only when
// a configuration calls out, and the standard cleanup drops the idle
// connections whatever calls out (here a sandbox worker that forwards to a
// bot: the kept connection serves the next event until a cleanup closes it;
// the event after the cleanup comes on a new connection).
#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/sandbox_worker.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::testing {
namespace {

using std::chrono::seconds;

// Simulates one inbound from `from` and waits until the bot has `count`
// events; returns the client port the last one came from. The pause after
// lets the worker read the answer and give the connection back to its pool
// (a transfer started before that opens a second connection).
int InboundAndWait(httplib::Client& client, WebhookReceiver& bot,
                   const std::string& from, size_t count) {
  auto inbound = client.Post("/api/sandbox/inbound",
                             R"({"from":")" + from + R"(","text":"hi"})",
                             "application/json");
  REQUIRE(inbound);
  REQUIRE(inbound->status == 202);
  REQUIRE(
      WaitUntil([&] { return bot.delivered().size() >= count; }, seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return bot.delivered().back().remote_port;
}

TEST_CASE("libcurl is initialised only when a configuration calls out",
          "[sandbox][integration]") {
  auto ready_line = [](std::map<std::string, std::string> extra) {
    TempDir dir;
    Process worker = SpawnSandboxWorker(dir, extra);
    auto ready = worker.WaitForLogMatch("worker: ready .*", seconds(1));
    REQUIRE(worker.Signal(SIGTERM).ok());
    CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
    REQUIRE(ready);
    return (*ready)[0];
  };
  // The sandbox alone: never.
  CHECK_THAT(ready_line({}), Catch::Contains("curl=off"));
  // Forwarding to a bot: at start (nothing is sent yet).
  CHECK_THAT(ready_line({{"WEBHOOK_URL", "http://127.0.0.1:9/events"}}),
             Catch::Contains("curl=on"));
}

TEST_CASE("a cleanup closes the idle forwarding connection of a sandbox worker",
          "[sandbox][integration][forward][cleanup]") {
  TempDir dir;
  WebhookReceiver bot;
  Process worker = SpawnSandboxWorker(dir, {{"WEBHOOK_URL", bot.url("/events")},
                                            {"WEBHOOK_SECRET", "dev-secret"}});
  httplib::Client client("127.0.0.1", ListenPort(worker));

  const int first = InboundAndWait(client, bot, "15551230001", 1);
  // The connection is kept for the next event (what the cleanup drops).
  CHECK(InboundAndWait(client, bot, "15551230002", 2) == first);
  std::set<int> before;
  for (const ReceivedPost& post : bot.delivered()) {
    before.insert(post.remote_port);
  }

  const size_t offset = worker.LogSize();
  auto cleanup = client.Post("/cleanup");
  REQUIRE(cleanup);
  REQUIRE(cleanup->status == 200);
  REQUIRE(
      worker.WaitForLog("worker: cleanup level=standard", seconds(10), offset));
  // The close runs on the loop soon after the cleanup's line: the next event
  // goes out on a connection that did not exist before.
  CHECK(before.count(InboundAndWait(client, bot, "15551230003", 3)) == 0);

  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
}

}  // namespace
}  // namespace dynoguard::testing
