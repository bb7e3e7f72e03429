#include "worker/outbound/dispatcher.h"

#include <unistd.h>

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

class IgnoreEvents : public TransportEvents {
 public:
  void OnInbound(const InboundMessage&) override {}
  void OnStatus(const StatusUpdate&) override {}
};

// A real queue in a temp dir, the sandbox, a loop and a dispatcher, run until
// `done` holds.
class Fixture {
 public:
  explicit Fixture(Dispatcher::Options options)
      : log_("test", common::LogFormat::kText, common::LogLevel::kError),
        sandbox_({}, WallMs) {
    char dir_template[] = "/tmp/dg-disp-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    auto queue = MessageQueue::Open(dir_ + "/queue.db");
    REQUIRE(queue.ok());
    queue_ = std::move(queue.value());
    uv_loop_init(&loop_);
    dispatcher_ = std::make_unique<Dispatcher>(
        &loop_, options, log_, *queue_, sandbox_, events_, WallMs,
        [this](std::string_view result) { results_.emplace_back(result); });
  }
  ~Fixture() {
    dispatcher_->Close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    std::system(("rm -rf " + dir_).c_str());
  }

  std::string Enqueue(const std::string& text) {
    auto result = queue_->Enqueue({"15551234567", text, "", "", ""}, WallMs());
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
  SandboxTransport sandbox_;
  IgnoreEvents events_;
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

}  // namespace
}  // namespace dynoguard::worker
