// The real worker and idempotency keys: the same key with the same body is
// the same message; with another body it is 422 conflict naming the field.
#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/sandbox_contact.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {
namespace {

using std::chrono::seconds;

std::string IdOf(const std::string& body) {
  std::smatch match;
  if (!std::regex_search(body, match,
                         std::regex(R"re("id":"(msg_[0-9a-f]+)")re")))
    return "";
  return match[1];
}

TEST_CASE("an idempotencyKey reused with another body is 422 conflict",
          "[idempotency]") {
  TempDir dir;
  int port = 0;
  SpawnOptions options;
  options.env = {{"HOST", "127.0.0.1"},
                 {"PORT", std::to_string(port)},
                 {"DATA_DIR", dir.path()}};
  options.log_path = dir.File("worker.log");
  auto worker = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(worker.ok());
  REQUIRE(worker->WaitForLog("worker: ready", seconds(20)));
  port = ListenPort(*worker);
  httplib::Client client("127.0.0.1", port);
  // Both recipients may receive free-form texts: the conflict below is about
  // the key, not the 24-hour window.
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  REQUIRE(OpenSandboxWindow(client, "15557654321"));

  const std::string body =
      R"({"to":"15551234567","text":"order 42 shipped","idempotencyKey":"order-42"})";
  auto first = client.Post("/api/messages", body, "application/json");
  REQUIRE(first);
  REQUIRE(first->status == 202);
  const std::string id = IdOf(first->body);
  REQUIRE_FALSE(id.empty());

  // Same key, same message ('+' in the number normalizes to the same one).
  auto again = client.Post(
      "/api/messages",
      R"({"to":"+15551234567","text":"order 42 shipped","idempotencyKey":"order-42"})",
      "application/json");
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(IdOf(again->body) == id);

  // Same key, another text or recipient: a client bug, not a retry.
  for (
      const std::string& other :
      {std::string(
           R"({"to":"15551234567","text":"order 43 shipped","idempotencyKey":"order-42"})"),
       std::string(
           R"({"to":"15557654321","text":"order 42 shipped","idempotencyKey":"order-42"})")}) {
    auto conflict = client.Post("/api/messages", other, "application/json");
    REQUIRE(conflict);
    INFO(conflict->body);
    CHECK(conflict->status == 422);
    CHECK(conflict->body.find("\"conflict\"") != std::string::npos);
    CHECK(conflict->body.find("idempotencyKey") != std::string::npos);
  }
  REQUIRE(worker->Signal(SIGTERM).ok());
  CHECK(worker->WaitExit(seconds(20)) == std::optional<int>(0));
}

}  // namespace
}  // namespace dynoguard::testing
