// Gateway::PruneFinished: what is finished leaves queue.db and events.db
// after its retention, and nothing else does.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "tests/support/temp_dir.h"
#include "worker/app/gateway.h"

namespace dynoguard::worker {
namespace {

using testing::TempDir;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kDay = 24LL * 3600 * 1000;
constexpr int64_t kStart = 1'760'000'000'000;  // the events' and sends' time

std::unique_ptr<Gateway> OpenGateway(const TempDir& dir,
                                     const common::Config& config,
                                     const common::Logger& log) {
  GatewayOptions parts;
  parts.data_dir = dir.path();
  parts.limit_bytes = 512 * kMiB;
  parts.emergency_percent = 85;
  parts.read_usage = [] { return 100 * kMiB; };
  parts.read_rss = [] { return 100 * kMiB; };
  parts.now_ms = [] { return kStart; };
  parts.durable_sandbox = false;
  auto gateway = Gateway::Open(config, log, std::move(parts));
  INFO(gateway.status().ToString());
  REQUIRE(gateway.ok());
  return std::move(gateway).value();
}

ForwardEvent Event(const std::string& id) {
  return ForwardEvent{id, "message", "15551234567", kStart,
                      R"({"id":")" + id + R"(","type":"message"})"};
}

TEST_CASE(
    "gateway: finished messages and delivered events go after 7 days, dead "
    "letters after 30, nothing pending ever",
    "[gateway][forward]") {
  TempDir dir;
  common::Config config;
  config.webhook_url = "http://127.0.0.1:9/events";  // an outbox, no POST
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError, -1);
  auto gateway = OpenGateway(dir, config, log);
  MessageQueue& queue = gateway->queue();
  EventOutbox* outbox = gateway->outbox();
  REQUIRE(outbox != nullptr);

  NewMessage text;
  text.to = "15551234567";
  text.text = "hello";
  auto sent = queue.Enqueue(text, kStart);
  auto waiting = queue.Enqueue(text, kStart);
  REQUIRE(sent.ok());
  REQUIRE(waiting.ok());
  REQUIRE(queue.MarkSending(sent->id, kStart).ok());
  REQUIRE(queue.MarkSent(sent->id, "wamid.1", kStart).ok());

  const std::vector<ForwardEvent> events = {
      Event("evt_delivered"), Event("evt_dead"), Event("evt_pending")};
  REQUIRE(outbox->Append(events, kStart).ok());
  REQUIRE(outbox->MarkDelivered("evt_delivered", kStart).ok());
  REQUIRE(outbox->MarkDead("evt_dead", "http_400", kStart).ok());

  // Within the retention: nothing goes.
  auto early = gateway->PruneFinished(kStart + 7 * kDay - 1, 100);
  REQUIRE(early.ok());
  CHECK(early->messages == 0);
  CHECK(early->delivered_events == 0);
  CHECK(early->dead_events == 0);

  // After 7 days: the sent message and the delivered event.
  auto week = gateway->PruneFinished(kStart + 7 * kDay + 1, 100);
  REQUIRE(week.ok());
  CHECK(week->messages == 1);
  CHECK(week->delivered_events == 1);
  CHECK(week->dead_events == 0);
  CHECK_FALSE(queue.Get(sent->id)->has_value());
  CHECK(queue.Get(waiting->id)->has_value());
  CHECK_FALSE(outbox->Get("evt_delivered")->has_value());
  CHECK(outbox->Get("evt_dead")->has_value());

  // After 30 days: the dead letter; the queued message and the pending event
  // stay whatever their age.
  auto month = gateway->PruneFinished(kStart + 30 * kDay + 1, 100);
  REQUIRE(month.ok());
  CHECK(month->dead_events == 1);
  CHECK_FALSE(outbox->Get("evt_dead")->has_value());
  auto late = gateway->PruneFinished(kStart + 365 * kDay, 100);
  REQUIRE(late.ok());
  CHECK(late->messages == 0);
  CHECK(queue.Get(waiting->id)->has_value());
  CHECK(outbox->Get("evt_pending")->has_value());
  CHECK(outbox->Stats()->delivered_total == 1);
}

TEST_CASE("gateway: without WEBHOOK_URL only the queue is pruned",
          "[gateway]") {
  TempDir dir;
  common::Config config;
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError, -1);
  auto gateway = OpenGateway(dir, config, log);
  REQUIRE(gateway->outbox() == nullptr);
  auto pruned = gateway->PruneFinished(kStart + 365 * kDay, 100);
  REQUIRE(pruned.ok());
  CHECK(pruned->delivered_events == 0);
  CHECK(pruned->dead_events == 0);
}

}  // namespace
}  // namespace dynoguard::worker
