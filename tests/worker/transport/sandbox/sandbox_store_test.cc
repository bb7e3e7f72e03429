// The sandbox with its store in DATA_DIR: the outbox and pending receipts
// survive a restart (a new SandboxTransport on the same file).
#include "worker/transport/sandbox/sandbox_store.h"

#include <sqlite3.h>
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

TEST_CASE("sandbox store: the kind and object of a message survive a restart",
          "[sandbox][sandbox_store]") {
  TempDir dir;
  const std::string path = dir.File("sandbox.db");
  {
    SandboxTransport sandbox({}, [] { return int64_t{7}; });
    REQUIRE(sandbox.OpenStore(path).ok());
    SandboxDriver driver(sandbox);
    SendRequest image;
    image.message_id = "msg_1";
    image.to = "15551234567";
    image.type = "image";
    image.content_json = R"({"link":"https://example.com/a.jpg"})";
    image.text = "";
    REQUIRE(driver.Send(image).ok);
  }
  SandboxTransport sandbox({}, [] { return int64_t{8}; });
  REQUIRE(sandbox.OpenStore(path).ok());
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].type == "image");
  CHECK(outbox[0].content_json == R"({"link":"https://example.com/a.jpg"})");
}

TEST_CASE("sandbox store: a schema 1 file is migrated in place",
          "[sandbox][sandbox_store]") {
  TempDir dir;
  const std::string path = dir.File("sandbox.db");
  {
    // What the previous version wrote.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, R"sql(
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY,
  id         TEXT    NOT NULL UNIQUE,
  recipient  TEXT    NOT NULL,
  text       TEXT    NOT NULL,
  sent_at_ms INTEGER NOT NULL
);
CREATE TABLE receipts (
  provider_id TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  due_ms      INTEGER NOT NULL,
  PRIMARY KEY (provider_id, status)
);
PRAGMA user_version = 1;
INSERT INTO outbox VALUES (4, 'wamid.sandbox.1.4', '15551234567', 'old', 1);
INSERT INTO receipts VALUES ('wamid.sandbox.1.4', 'read', 1000);
)sql",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  SandboxTransport sandbox({}, [] { return int64_t{5000}; });
  REQUIRE(sandbox.OpenStore(path).ok());
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].id == "wamid.sandbox.1.4");
  CHECK(outbox[0].text == "old");
  CHECK(outbox[0].type == "text");
  CHECK(outbox[0].content_json.empty());
  SandboxDriver driver(sandbox);
  driver.Poll(5000);
  REQUIRE(driver.statuses.size() == 1);
  CHECK(driver.statuses[0].status == MessageStatus::kRead);
  // New sends number on from the old ones and keep their kind.
  SendResult sent = driver.Send(TextRequest("msg_2", "15551234567", "new"));
  REQUIRE(sent.ok);
  CHECK(sent.provider_id == "wamid.sandbox.5000.5");
  SandboxTransport reopened({}, [] { return int64_t{6000}; });
  REQUIRE(reopened.OpenStore(path).ok());
  REQUIRE(reopened.Outbox().size() == 2);
  CHECK(reopened.Outbox()[1].content_json == R"({"body":"new"})");
}

}  // namespace
}  // namespace dynoguard::worker
