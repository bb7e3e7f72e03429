#include "worker/outbound/dispatcher.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>

#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The sandbox's events: nothing to route here.
class NoEvents : public TransportEvents {
 public:
  void OnInbound(const InboundMessage&) override {}
  void OnStatus(const StatusUpdate&) override {}
  void OnConnection(ConnectionState, std::string_view) override {}
};

// A real queue in a temp dir, the sandbox, a loop and a dispatcher, run until
// `done` holds.
class Fixture {
 public:
  explicit Fixture(Dispatcher::Options options,
                   std::function<int64_t()> wall = WallMs)
      : log_("test", common::LogFormat::kText, common::LogLevel::kError),
        wall_(std::move(wall)),
        sandbox_({}, wall_) {
    char dir_template[] = "/tmp/dg-disp-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    auto queue = MessageQueue::Open(dir_ + "/queue.db");
    REQUIRE(queue.ok());
    queue_ = std::move(queue.value());
    uv_loop_init(&loop_);
    REQUIRE(sandbox_.Start(&loop_, events_).ok());
    dispatcher_ =
        std::make_unique<Dispatcher>(&loop_, options, log_, *queue_, sandbox_,
                                     wall_, [this](DispatchResult result) {
                                       results_.emplace_back(ToString(result));
                                     });
  }
  ~Fixture() {
    dispatcher_->Close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    std::system(("rm -rf " + dir_).c_str());
  }

  std::string Enqueue(const std::string& text) {
    NewMessage message;
    message.to = "15551234567";
    message.content_json = R"({"body":"x"})";
    message.text = text;
    auto result = queue_->Enqueue(message, wall_());
    REQUIRE(result.ok());
    return result->id;
  }

  // Runs the loop until `done()` or 10 s.
  void RunUntil(const std::function<bool()>& done) {
    uv_timer_t check;
    uv_timer_init(&loop_, &check);
    struct State {
      const std::function<bool()>* done;
      int64_t deadline;
    } state{&done, WallMs() + 10000};
    check.data = &state;
    uv_timer_start(
        &check,
        [](uv_timer_t* t) {
          auto* s = static_cast<State*>(t->data);
          if ((*s->done)() || WallMs() > s->deadline) uv_stop(t->loop);
        },
        5, 5);
    dispatcher_->Start();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  MessageStatus StatusOf(const std::string& id) {
    auto message = queue_->Get(id);
    REQUIRE(message.ok());
    REQUIRE(message.value().has_value());
    return message.value()->status;
  }

  SandboxTransport& sandbox() { return sandbox_; }
  MessageQueue& queue() { return *queue_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  const std::vector<std::string>& results() const { return results_; }

 private:
  common::Logger log_;
  std::function<int64_t()> wall_;
  NoEvents events_;
  SandboxTransport sandbox_;
  std::string dir_;
  std::unique_ptr<MessageQueue> queue_;
  uv_loop_t loop_{};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::string> results_;
};

Dispatcher::Options FastOptions() {
  Dispatcher::Options options;
  options.send_delay = std::chrono::milliseconds(30);
  options.retry.base = std::chrono::milliseconds(10);
  options.retry.max = std::chrono::milliseconds(50);
  options.retry.max_attempts = 3;
  return options;
}

TEST_CASE("dispatcher: sends in order, one at a time, with the delay between",
          "[dispatcher]") {
  Fixture f(FastOptions());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(f.Enqueue("m" + std::to_string(i)));
  f.RunUntil([&] { return f.sandbox().Outbox().size() == 4; });
  auto outbox = f.sandbox().Outbox();
  REQUIRE(outbox.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(outbox[i].text == "m" + std::to_string(i));
  for (int i = 1; i < 4; ++i)
    CHECK(outbox[i].sent_at_ms - outbox[i - 1].sent_at_ms >= 30);
  for (const auto& id : ids) CHECK(f.StatusOf(id) == MessageStatus::kSent);
  CHECK(f.results() ==
        std::vector<std::string>{"sent", "sent", "sent", "sent"});
}

TEST_CASE("dispatcher: retryable failures are retried, then sent",
          "[dispatcher]") {
  Fixture f(FastOptions());
  f.sandbox().FailNext(2, 131000, "Something went wrong");
  auto id = f.Enqueue("retry me");
  f.RunUntil([&] { return f.sandbox().Outbox().size() == 1; });
  auto message = f.queue().Get(id);
  REQUIRE(message.ok());
  REQUIRE(message.value());
  CHECK(message.value()->status == MessageStatus::kSent);
  CHECK(message.value()->attempts == 3);
  CHECK(f.results() == std::vector<std::string>{"retry", "retry", "sent"});
}

TEST_CASE(
    "dispatcher: permanent failures and exhausted retries become dead letters",
    "[dispatcher]") {
  Fixture f(FastOptions());
  f.sandbox().FailNext(1, 131026, "Message undeliverable");
  auto permanent = f.Enqueue("undeliverable");
  f.RunUntil([&] { return f.StatusOf(permanent) == MessageStatus::kFailed; });
  CHECK(f.StatusOf(permanent) == MessageStatus::kFailed);

  f.sandbox().FailNext(10, 131000, "Something went wrong");
  auto exhausted = f.Enqueue("keeps failing");
  f.RunUntil([&] { return f.StatusOf(exhausted) == MessageStatus::kFailed; });
  auto message = f.queue().Get(exhausted);
  REQUIRE(message.value());
  CHECK(message.value()->status == MessageStatus::kFailed);
  CHECK(message.value()->attempts == 3);
  REQUIRE(message.value()->error);
  CHECK(message.value()->error->code == "131000");
  auto stats = f.queue().Stats();
  REQUIRE(stats.ok());
  CHECK(stats->dead_letters == 2);
}

TEST_CASE(
    "dispatcher: draining waits for the send in flight and starts no other",
    "[dispatcher]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(200);
  Fixture f(options);
  f.Enqueue("first");
  auto second = f.Enqueue("second");
  bool drained = false;
  f.RunUntil([&] {
    if (!f.sandbox().Outbox().empty() && !f.dispatcher().Status().stopping) {
      f.dispatcher().BeginDrain([&] { drained = true; });
    }
    return drained;
  });
  CHECK(drained);
  CHECK(f.sandbox().Outbox().size() == 1);
  CHECK(f.StatusOf(second) == MessageStatus::kQueued);
  CHECK(f.dispatcher().Status().stopping);
}

TEST_CASE("dispatcher: a wall clock stepped back does not stall sends",
          "[dispatcher][clock]") {
  // The wall clock (persisted times) jumps back an hour after the first send;
  // the spacing between sends is steady time, so the second send still goes
  // out after send_delay.
  std::atomic<int64_t> offset{0};
  Fixture f(FastOptions(), [&] { return WallMs() + offset.load(); });
  f.Enqueue("before the step");
  auto second = f.Enqueue("after the step");
  f.RunUntil([&] {
    if (!f.sandbox().Outbox().empty()) offset = -3600 * 1000;
    return f.sandbox().Outbox().size() == 2;
  });
  CHECK(f.sandbox().Outbox().size() == 2);
  CHECK(f.StatusOf(second) == MessageStatus::kSent);
}

TEST_CASE(
    "dispatcher: the pause between sends follows the injected steady clock",
    "[dispatcher][clock]") {
  // A steady clock that stands still: after the first send the delay never
  // ends, whatever the wall clock does.
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(1000);
  std::atomic<int64_t> steady{0};
  options.steady_ms = [&] { return steady.load(); };
  std::atomic<int64_t> offset{0};
  Fixture f(options, [&] { return WallMs() + offset.load(); });
  f.Enqueue("one");
  f.Enqueue("two");
  f.RunUntil([&] { return f.sandbox().Outbox().size() == 1; });
  // A wall clock jumping forward an hour does not shorten the pause.
  offset = 3600 * 1000;
  int polls = 0;
  f.RunUntil([&] { return ++polls > 20; });  // ~100 ms of loop time
  CHECK(f.sandbox().Outbox().size() == 1);
  steady = 1000;  // the pause is over
  f.RunUntil([&] { return f.sandbox().Outbox().size() == 2; });
  CHECK(f.sandbox().Outbox().size() == 2);
}

TEST_CASE("dispatcher: an answer the queue cannot record is kept, never resent",
          "[dispatcher][mark_sent]") {
  Dispatcher::Options options = FastOptions();
  options.record_retry = std::chrono::milliseconds(10);
  Fixture f(options);
  // The fault sits at the queue's seam: every MarkSent fails as a full or
  // broken disk would make it fail, until `broken` is cleared.
  std::atomic<bool> broken{true};
  std::atomic<int> failed_writes{0};
  f.queue().SetFaultForTesting([&](std::string_view op) {
    if (op == "MarkSent" && broken) {
      ++failed_writes;
      return common::Status::IOError("test", "database or disk is full");
    }
    return common::Status::Ok();
  });
  auto first = f.Enqueue("first");
  auto second = f.Enqueue("second");
  f.RunUntil([&] { return failed_writes >= 8; });  // several retry rounds
  CHECK(f.sandbox().Outbox().size() == 1);  // nothing resent, nothing newer
  CHECK(f.dispatcher().unrecorded() == 1);
  CHECK(f.StatusOf(first) == MessageStatus::kSending);
  CHECK(f.StatusOf(second) == MessageStatus::kQueued);

  broken = false;  // the disk has room again
  f.RunUntil([&] { return f.StatusOf(second) == MessageStatus::kSent; });
  auto outbox = f.sandbox().Outbox();
  REQUIRE(outbox.size() == 2);
  CHECK(outbox[0].text == "first");
  CHECK(outbox[1].text == "second");
  auto stored = f.queue().Get(first);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->status == MessageStatus::kSent);
  CHECK((*stored)->provider_id == outbox[0].id);
  CHECK(f.dispatcher().unrecorded() == 0);
}

}  // namespace
}  // namespace dynoguard::worker
