// SEND_CONCURRENCY on the real worker against the local Graph API server:
// several recipients are sent to at once, never more than the setting, and
// one recipient's messages always one at a time, in order.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "tests/support/cloud_worker.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE(
    "SEND_CONCURRENCY=4: four recipients at once at most, one recipient one "
    "at a time and in order",
    "[cloud][integration]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph, {{"SEND_CONCURRENCY", "4"}});
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  // Slow answers, so that the sends overlap.
  graph.SetDelay(milliseconds(300));

  // Three messages to one recipient first, then one each to eight others.
  std::vector<std::string> same;
  for (int i = 0; i < 3; ++i)
    same.push_back(worker.Send(TemplateTo("15554440000")));
  std::vector<std::string> others;
  for (int i = 1; i <= 8; ++i) {
    others.push_back(worker.Send(TemplateTo("1555444000" + std::to_string(i))));
  }
  for (const std::string& id : same) REQUIRE_FALSE(id.empty());
  for (const std::string& id : others) REQUIRE_FALSE(id.empty());
  for (const std::string& id : others) {
    REQUIRE(WaitStatus(worker, id, "sent", seconds(30)));
  }
  for (const std::string& id : same) {
    REQUIRE(WaitStatus(worker, id, "sent", seconds(30)));
  }

  CHECK(graph.max_concurrent_sends() > 1);
  CHECK(graph.max_concurrent_sends() <= 4);
  CHECK(graph.max_concurrent_sends_to_one_recipient() == 1);
  // The one recipient's messages reached Graph in the order they were queued.
  std::vector<std::string> order;
  for (const auto& r : graph.requests(GraphRoute::kMessages)) {
    if (r.to == "15554440000") order.push_back(r.provider_id);
  }
  REQUIRE(order.size() == 3);
  for (size_t i = 0; i < same.size(); ++i) {
    CHECK(StringAt(worker.Message(same[i]), "providerId") == order[i]);
  }
  graph.SetDelay(milliseconds(0));
  worker.Stop();
}

}  // namespace
}  // namespace dynoguard::testing
