#include "worker/transport/sandbox/sandbox_transport.h"

#include <catch2/catch.hpp>
#include <vector>

#include "tests/worker/transport/sandbox/sandbox_driver.h"

namespace dynoguard::worker {
namespace {

using sandbox_test::SandboxDriver;
using sandbox_test::TemplateRequest;
using sandbox_test::TextRequest;

TEST_CASE("sandbox: a send lands in the outbox, oldest first", "[sandbox]") {
  int64_t now = 1000;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto first = driver.Send(TextRequest("msg_1", "15551234567", "hello"));
  now = 2000;
  auto second = driver.Send(
      TemplateRequest("msg_2", "15557654321", R"({"name":"welcome"})"));
  REQUIRE(first.ok);
  REQUIRE(second.ok);
  CHECK(first.message_status == "accepted");
  CHECK(first.provider_id != second.provider_id);
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 2);
  CHECK(outbox[0].id == first.provider_id);
  CHECK(outbox[0].to == "15551234567");
  CHECK(outbox[0].text == "hello");
  CHECK(outbox[0].sent_at_ms == 1000);
  CHECK(outbox[1].text == R"(template:{"name":"welcome"})");
}

TEST_CASE("sandbox: several sends in flight at once all land", "[sandbox]") {
  int64_t now = 1000;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  std::vector<SendResult> answers;
  for (int i = 0; i < 5; ++i) {
    sandbox.Send(TextRequest("msg_" + std::to_string(i),
                             "1555000000" + std::to_string(i), "hi"),
                 [&](SendResult result) { answers.push_back(result); });
  }
  CHECK(answers.empty());  // never from within the call
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(answers.size() == 5);
  for (const auto& answer : answers) CHECK(answer.ok);
  CHECK(sandbox.Outbox().size() == 5);
}

TEST_CASE("sandbox: receipts move through delivered then read when due",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox(
      {.outbox_capacity = 10, .delivered_after_ms = 200, .read_after_ms = 1000},
      [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto sent = driver.Send(TextRequest("msg_1", "15551234567", "hi"));
  driver.Poll(100);
  CHECK(driver.statuses.empty());
  driver.Poll(250);
  REQUIRE(driver.statuses.size() == 1);
  CHECK(driver.statuses[0].status == MessageStatus::kDelivered);
  CHECK(driver.statuses[0].provider_id == sent.provider_id);
  driver.Poll(1000);
  REQUIRE(driver.statuses.size() == 2);
  CHECK(driver.statuses[1].status == MessageStatus::kRead);
  driver.Poll(5000);
  CHECK(driver.statuses.size() == 2);
}

TEST_CASE(
    "sandbox: told to fail, the next sends fail with a classified Graph error",
    "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  sandbox.FailNext(2, 131000, "Something went wrong");
  auto first = driver.Send(TextRequest("msg_1", "15551234567", "a"));
  auto second = driver.Send(TextRequest("msg_2", "15551234567", "b"));
  auto third = driver.Send(TextRequest("msg_3", "15551234567", "c"));
  CHECK_FALSE(first.ok);
  CHECK(first.error.code == "131000");
  CHECK(first.error.retryable);
  CHECK_FALSE(second.ok);
  CHECK(third.ok);
  sandbox.FailNext(1, 131026, "Message undeliverable");
  auto permanent = driver.Send(TextRequest("msg_4", "15551234567", "d"));
  CHECK_FALSE(permanent.ok);
  CHECK_FALSE(permanent.error.retryable);
  CHECK(sandbox.Outbox().size() == 1);
}

TEST_CASE("sandbox: the outbox is bounded", "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({.outbox_capacity = 3}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  for (int i = 0; i < 5; ++i) {
    (void)driver.Send(TextRequest("msg", "15551234567", std::to_string(i)));
  }
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 3);
  CHECK(outbox.front().text == "2");
  CHECK(outbox.back().text == "4");
}

TEST_CASE("sandbox: MarkRead is recorded and answered on the loop",
          "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  std::optional<common::Status> answer;
  sandbox.MarkRead("wamid.in.1", /*typing=*/true,
                   [&](common::Status status) { answer = status; });
  CHECK_FALSE(answer.has_value());
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(answer.has_value());
  CHECK(answer->ok());
  auto marks = sandbox.ReadMarks();
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].message_id == "wamid.in.1");
  CHECK(marks[0].typing);
}

TEST_CASE("sandbox: Stop waits for the writes in flight", "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  bool sent = false;
  bool stopped = false;
  sandbox.Send(TextRequest("msg_1", "15551234567", "hi"),
               [&](SendResult result) {
                 CHECK(result.ok);
                 CHECK_FALSE(stopped);
                 sent = true;
               });
  sandbox.Stop([&] { stopped = true; });
  CHECK_FALSE(stopped);
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  CHECK(sent);
  CHECK(stopped);
  CHECK(sandbox.state() == ConnectionState::kConnected);
  CHECK(sandbox.reason().empty());
}

TEST_CASE("sandbox: a simulated user writing reaches the inbound path",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto message = sandbox.SimulateInbound("15551234567", "hi bot", 42, driver);
  REQUIRE(driver.inbound.size() == 1);
  CHECK(driver.inbound[0].id == message.id);
  CHECK(driver.inbound[0].from == "15551234567");
  CHECK(driver.inbound[0].text == "hi bot");
  CHECK(driver.inbound[0].timestamp_ms == 42);
  auto again = sandbox.SimulateInbound("15551234567", "hi bot", 42, driver);
  CHECK(again.id != message.id);
}

}  // namespace
}  // namespace dynoguard::worker
