// A graceful stop never waits on a hung Graph API call: every call's timeout
// is derived from WORKER_STOP_TIMEOUT_S (worker/app/call_timeouts.h), so the
// worker exits 0 before the supervisor would SIGKILL it, and the message
// whose send hung is sent by the next worker.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "tests/support/cloud_worker.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE(
    "SIGTERM during a hung Graph call: the worker exits 0 within "
    "WORKER_STOP_TIMEOUT_S and the message is sent after the restart",
    "[cloud][integration][stop]") {
  TempDir dir;
  GraphApiServer graph;
  std::string id;
  {
    CloudWorker worker(dir, graph, {{"WORKER_STOP_TIMEOUT_S", "5"}});
    REQUIRE(
        WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
    // The send hangs far longer than the stop timeout.
    GraphAnswer hang;
    hang.delay = seconds(60);
    graph.ScriptNext(GraphRoute::kMessages, hang);
    id = worker.Send(TemplateTo("15551234567"));
    REQUIRE_FALSE(id.empty());
    REQUIRE(WaitUntil([&] { return graph.count(GraphRoute::kMessages) == 1; },
                      seconds(10)));

    REQUIRE(worker.process().Signal(SIGTERM).ok());
    // The supervisor SIGKILLs at WORKER_STOP_TIMEOUT_S (5 s): the worker is
    // gone before, and says it stopped cleanly.
    CHECK(worker.process().WaitExit(seconds(5)) == std::optional<int>(0));
    CHECK(worker.process().WaitForLog("worker: stopped code=0", seconds(1)));
  }

  // The next worker sends it: nothing accepted is lost.
  CloudWorker next(dir, graph, {{"WORKER_STOP_TIMEOUT_S", "5"}}, "worker2.log");
  REQUIRE(WaitStatus(next, id, "sent"));
  CHECK(graph.count(GraphRoute::kMessages) == 2);
  next.Stop();
}

}  // namespace
}  // namespace dynoguard::testing
