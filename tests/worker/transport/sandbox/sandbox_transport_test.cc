#include "worker/transport/sandbox/sandbox_transport.h"

#include <catch2/catch.hpp>
#include <vector>

namespace dynoguard::worker {
namespace {

// Records what the transport reports.
class RecordingEvents : public TransportEvents {
 public:
  void OnInbound(const InboundMessage& message) override {
    inbound.push_back(message);
  }
  void OnStatus(const StatusUpdate& update) override {
    statuses.push_back(update);
  }
  std::vector<InboundMessage> inbound;
  std::vector<StatusUpdate> statuses;
};

TEST_CASE("sandbox: a send lands in the outbox, oldest first", "[sandbox]") {
  int64_t now = 1000;
  SandboxTransport sandbox({}, [&now] { return now; });
  auto first = sandbox.Send({"msg_1", "15551234567", "hello", "", ""});
  now = 2000;
  auto second =
      sandbox.Send({"msg_2", "15557654321", "", R"({"name":"welcome"})", ""});
  REQUIRE(first.ok);
  REQUIRE(second.ok);
  CHECK(first.provider_id != second.provider_id);
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 2);
  CHECK(outbox[0].id == first.provider_id);
  CHECK(outbox[0].to == "15551234567");
  CHECK(outbox[0].text == "hello");
  CHECK(outbox[0].sent_at_ms == 1000);
  CHECK(outbox[1].text == R"(template:{"name":"welcome"})");
}

TEST_CASE("sandbox: receipts move through delivered then read when due",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox(
      {.outbox_capacity = 10, .delivered_after_ms = 200, .read_after_ms = 1000},
      [&now] { return now; });
  auto sent = sandbox.Send({"msg_1", "15551234567", "hi", "", ""});
  RecordingEvents events;
  sandbox.Poll(100, events);
  CHECK(events.statuses.empty());
  sandbox.Poll(250, events);
  REQUIRE(events.statuses.size() == 1);
  CHECK(events.statuses[0].status == MessageStatus::kDelivered);
  CHECK(events.statuses[0].provider_id == sent.provider_id);
  sandbox.Poll(1000, events);
  REQUIRE(events.statuses.size() == 2);
  CHECK(events.statuses[1].status == MessageStatus::kRead);
  sandbox.Poll(5000, events);
  CHECK(events.statuses.size() == 2);
}

TEST_CASE(
    "sandbox: told to fail, the next sends fail with a classified Graph error",
    "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  sandbox.FailNext(2, 131000, "Something went wrong");
  auto first = sandbox.Send({"msg_1", "15551234567", "a", "", ""});
  auto second = sandbox.Send({"msg_2", "15551234567", "b", "", ""});
  auto third = sandbox.Send({"msg_3", "15551234567", "c", "", ""});
  CHECK_FALSE(first.ok);
  CHECK(first.error.code == "131000");
  CHECK(first.error.retryable);
  CHECK_FALSE(second.ok);
  CHECK(third.ok);
  sandbox.FailNext(1, 131026, "Message undeliverable");
  auto permanent = sandbox.Send({"msg_4", "15551234567", "d", "", ""});
  CHECK_FALSE(permanent.ok);
  CHECK_FALSE(permanent.error.retryable);
  CHECK(sandbox.Outbox().size() == 1);
}

TEST_CASE("sandbox: the outbox is bounded", "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({.outbox_capacity = 3}, [&now] { return now; });
  for (int i = 0; i < 5; ++i) {
    (void)sandbox.Send({"msg", "15551234567", std::to_string(i), "", ""});
  }
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 3);
  CHECK(outbox.front().text == "2");
  CHECK(outbox.back().text == "4");
}

TEST_CASE("sandbox: a simulated user writing reaches the inbound path",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  RecordingEvents events;
  auto message = sandbox.SimulateInbound("15551234567", "hi bot", 42, events);
  REQUIRE(events.inbound.size() == 1);
  CHECK(events.inbound[0].id == message.id);
  CHECK(events.inbound[0].from == "15551234567");
  CHECK(events.inbound[0].text == "hi bot");
  CHECK(events.inbound[0].timestamp_ms == 42);
  auto again = sandbox.SimulateInbound("15551234567", "hi bot", 42, events);
  CHECK(again.id != message.id);
}

}  // namespace
}  // namespace dynoguard::worker
