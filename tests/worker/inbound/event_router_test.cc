#include "worker/inbound/event_router.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

namespace dynoguard::worker {
namespace {

class RouterFixture {
 public:
  RouterFixture()
      : log_("test", common::LogFormat::kText, common::LogLevel::kError) {
    char dir_template[] = "/tmp/dg-router-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    auto queue = MessageQueue::Open(dir_ + "/queue.db");
    REQUIRE(queue.ok());
    queue_ = std::move(queue.value());
    router_ = std::make_unique<EventRouter>(
        log_, *queue_, [] { return 1000; }, 4);
  }
  ~RouterFixture() { std::system(("rm -rf " + dir_).c_str()); }

  common::Logger log_;
  std::string dir_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<EventRouter> router_;
};

TEST_CASE("event_router: inbound messages are deduplicated by id",
          "[event_router]") {
  RouterFixture f;
  f.router_->OnInbound({"wamid.1", "15551234567", "hi", 1});
  f.router_->OnInbound({"wamid.1", "15551234567", "hi", 1});  // delivered twice
  f.router_->OnInbound({"wamid.2", "15551234567", "again", 2});
  CHECK(f.router_->inbound_total() == 2);
  CHECK(f.router_->duplicates_total() == 1);
}

TEST_CASE("event_router: the id index is bounded and a Cleanable",
          "[event_router]") {
  RouterFixture f;
  for (int i = 0; i < 6; ++i)
    f.router_->OnInbound({"wamid." + std::to_string(i), "1555", "x", i});
  // Only the 4 newest ids are remembered: the oldest comes back as new.
  f.router_->OnInbound({"wamid.0", "1555", "x", 0});
  CHECK(f.router_->duplicates_total() == 0);
  f.router_->OnInbound({"wamid.5", "1555", "x", 5});
  CHECK(f.router_->duplicates_total() == 1);
  uint64_t before = f.router_->bytes();
  CHECK(before > 0);
  CHECK(f.router_->Trim(CleanupLevel::kStandard) > 0);
  CHECK(f.router_->bytes() < before);
  f.router_->Trim(CleanupLevel::kEmergency);
  f.router_->OnInbound({"wamid.5", "1555", "x", 5});
  CHECK(f.router_->duplicates_total() ==
        1);  // forgotten after the emergency cleanup
}

TEST_CASE("event_router: delivery statuses update the queue, forward only",
          "[event_router]") {
  RouterFixture f;
  NewMessage hello;
  hello.to = "15551234567";
  hello.text = "hello";
  auto enqueued = f.queue_->Enqueue(hello, 1);
  REQUIRE(enqueued.ok());
  const std::string& id = enqueued->id;
  REQUIRE(f.queue_->MarkSending(id, 2).ok());
  REQUIRE(f.queue_->MarkSent(id, "wamid.out.1", 3).ok());
  f.router_->OnStatus({"wamid.out.1", MessageStatus::kRead, 5, std::nullopt});
  f.router_->OnStatus(
      {"wamid.out.1", MessageStatus::kDelivered, 4, std::nullopt});
  f.router_->OnStatus(
      {"wamid.unknown", MessageStatus::kDelivered, 4, std::nullopt});
  auto message = f.queue_->Get(id);
  REQUIRE(message.ok());
  REQUIRE(message.value());
  CHECK(message.value()->status == MessageStatus::kRead);
}

}  // namespace
}  // namespace dynoguard::worker
