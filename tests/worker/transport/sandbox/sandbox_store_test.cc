// The sandbox with its store in DATA_DIR: the outbox and pending receipts
// survive a restart (a new SandboxTransport on the same file).
#include "worker/transport/sandbox/sandbox_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/worker/transport/sandbox/sandbox_driver.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::TempDir;
using sandbox_test::SandboxDriver;
using sandbox_test::TextRequest;

TEST_CASE("sandbox store: the outbox survives a restart",
          "[sandbox][sandbox_store]") {
  TempDir dir;
  const std::string path = dir.File("sandbox.db");
  int64_t now = 1000;
  std::string first_id;
  {
    SandboxTransport sandbox({}, [&] { return now; });
    REQUIRE(sandbox.OpenStore(path).ok());
    SandboxDriver driver(sandbox);
    auto sent = driver.Send(TextRequest("msg_1", "15551234567", "hello"));
    REQUIRE(sent.ok);
    first_id = sent.provider_id;
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  SandboxTransport sandbox({}, [&] { return now; });
  REQUIRE(sandbox.OpenStore(path).ok());
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].id == first_id);
  CHECK(outbox[0].to == "15551234567");
  CHECK(outbox[0].text == "hello");
  CHECK(outbox[0].sent_at_ms == 1000);
  // New sends get new ids, after the old ones.
  SandboxDriver driver(sandbox);
  auto second = driver.Send(TextRequest("msg_2", "15551234567", "again"));
  REQUIRE(second.ok);
  CHECK(second.provider_id != first_id);
  REQUIRE(sandbox.Outbox().size() == 2);
  CHECK(sandbox.Outbox()[1].id == second.provider_id);
}

TEST_CASE("sandbox store: receipts pending at a restart are emitted after it",
          "[sandbox][sandbox_store]") {
  TempDir dir;
  const std::string path = dir.File("sandbox.db");
  int64_t now = 1000;
  std::string id;
  {
    SandboxTransport sandbox({}, [&] { return now; });
    REQUIRE(sandbox.OpenStore(path).ok());
    SandboxDriver driver(sandbox);
    id = driver.Send(TextRequest("msg_1", "15551234567", "hello")).provider_id;
    now = 1300;  // delivered (after 200 ms) is due, read (1000 ms) is not
    driver.Poll(now);
    REQUIRE(driver.statuses.size() == 1);
    CHECK(driver.statuses[0].status == MessageStatus::kDelivered);
  }  // the worker stops before the read receipt

  SandboxTransport sandbox({}, [&] { return now; });
  REQUIRE(sandbox.OpenStore(path).ok());
  SandboxDriver events(sandbox);
  events.Poll(1500);
  CHECK(events.statuses.empty());
  events.Poll(5000);
  REQUIRE(events.statuses.size() == 1);  // read only; delivered is not repeated
  CHECK(events.statuses[0].provider_id == id);
  CHECK(events.statuses[0].status == MessageStatus::kRead);

  // Emitted receipts are forgotten in the file too.
  SandboxTransport again({}, [&] { return now; });
  REQUIRE(again.OpenStore(path).ok());
  SandboxDriver none(again);
  none.Poll(10000);
  CHECK(none.statuses.empty());
}

TEST_CASE("sandbox store: the file keeps at most outbox_capacity entries",
          "[sandbox][sandbox_store]") {
  TempDir dir;
  const std::string path = dir.File("sandbox.db");
  SandboxTransport::Options options;
  options.outbox_capacity = 3;
  int64_t now = 1;
  {
    SandboxTransport sandbox(options, [&] { return now; });
    REQUIRE(sandbox.OpenStore(path).ok());
    SandboxDriver driver(sandbox);
    for (int i = 0; i < 5; ++i) {
      REQUIRE(
          driver.Send(TextRequest("m", "15551234567", std::to_string(i))).ok);
      // Simulated inbound messages take numbers too; the outbox keeps its 3.
      sandbox.SimulateInbound("15551234567", "hi", now, driver);
    }
  }
  SandboxTransport sandbox(options, [&] { return now; });
  REQUIRE(sandbox.OpenStore(path).ok());
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 3);
  CHECK(outbox[0].text == "2");
  CHECK(outbox[2].text == "4");
}

}  // namespace
}  // namespace dynoguard::worker
