#include "worker/outbound/dispatcher.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "worker/model/provider_error.h"
#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SendResult Accepted(std::string provider_id) {
  SendResult result;
  result.ok = true;
  result.provider_id = std::move(provider_id);
  result.message_status = "accepted";
  return result;
}

// A failed send as the Cloud transport classifies Graph error `code`.
SendResult GraphError(int code, int http_status = 400) {
  SendResult result;
  result.error = ClassifyGraphError(http_status, code, "scripted");
  return result;
}

// A real Transport whose answers the test scripts: each Send is recorded and
// answered by `script` (after `answer_after_ms` on the loop) or held until the
// test calls Answer. It checks the dispatcher's rule itself: never two sends
// in flight to one recipient.
class ScriptedTransport : public Transport {
 public:
  struct Sent {
    SendRequest request;
    int attempt = 0;    // 1 for the first send of this message id
    int64_t at_ms = 0;  // wall time of the Send call
  };
  // nullopt: hold the send for Answer().
  using Script = std::function<std::optional<SendResult>(const Sent& sent)>;

  explicit ScriptedTransport(Script script = {}, uint64_t answer_after_ms = 1)
      : script_(std::move(script)), answer_after_ms_(answer_after_ms) {}
  ~ScriptedTransport() override = default;

  std::string_view name() const override { return "scripted"; }
  ConnectionState state() const override { return state_.load(); }
  std::string reason() const override {
    std::lock_guard lock(mu_);
    return reason_;
  }
  std::optional<int64_t> last_heartbeat_ms() const override {
    return std::nullopt;
  }
  std::optional<int64_t> last_send_ok_ms() const override {
    return std::nullopt;
  }
  common::Status Start(uv_loop_t* loop, TransportEvents& events) override {
    loop_ = loop;
    events_ = &events;
    return common::Status::Ok();
  }
  void Send(const SendRequest& request, SendCallback done) override {
    Sent sent{request, ++attempts_[request.message_id], WallMs()};
    sent_.push_back(sent);
    if (++in_flight_to_[request.to] > 1) two_to_one_ = true;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    std::optional<SendResult> answer;
    if (script_) answer = script_(sent);
    if (!answer) {
      held_.push_back({request, std::move(done)});
      return;
    }
    Later(answer_after_ms_,
          [this, to = request.to, answer = *answer, done = std::move(done)] {
            Finish(to, done, answer);
          });
  }
  void MarkRead(const std::string&, bool, DoneCallback done) override {
    Later(0, [done = std::move(done)] { done(common::Status::Ok()); });
  }
  void UploadMedia(const MediaUpload&, UploadCallback done) override {
    Later(0, [done = std::move(done)] {
      done(common::Status::Unavailable("scripted"));
    });
  }
  MediaDownloadId DownloadMedia(const std::string&, uint64_t, MediaStreamSink,
                                DownloadCallback done) override {
    Later(0, [done = std::move(done)] {
      done(common::Status::Unavailable("scripted"));
    });
    return 1;
  }
  void ResumeDownload(MediaDownloadId) override {}
  void CancelDownload(MediaDownloadId) override {}
  void Poll(int64_t) override {}
  void Stop(std::function<void()> on_stopped) override {
    Later(0, std::move(on_stopped));
  }

  // Changes the connection state without reporting it (before Start).
  void SetStateQuietly(ConnectionState state, std::string reason) {
    state_ = state;
    std::lock_guard lock(mu_);
    reason_ = std::move(reason);
  }
  // Changes the connection state and reports it (as a transport does).
  void SetState(ConnectionState state, std::string reason) {
    state_ = state;
    {
      std::lock_guard lock(mu_);
      reason_ = reason;
    }
    events_->OnConnection(state, reason);
  }
  // Answers the oldest held send with `result`; false when none is held.
  bool AnswerOldest(const SendResult& result) {
    if (held_.empty()) return false;
    Held held = std::move(held_.front());
    held_.erase(held_.begin());
    Finish(held.request.to, held.done, result);
    return true;
  }
  size_t held() const { return held_.size(); }

  const std::vector<Sent>& sent() const { return sent_; }
  // The texts sent to `to`, in order, retries included.
  std::vector<std::string> TextsTo(const std::string& to) const {
    std::vector<std::string> texts;
    for (const Sent& s : sent_) {
      if (s.request.to == to) texts.push_back(s.request.text);
    }
    return texts;
  }
  // The index in sent() of the `attempt`-th send of the message with `text`.
  std::optional<size_t> IndexOf(const std::string& text,
                                int attempt = 1) const {
    for (size_t i = 0; i < sent_.size(); ++i) {
      if (sent_[i].request.text == text && sent_[i].attempt == attempt)
        return i;
    }
    return std::nullopt;
  }
  int max_in_flight() const { return max_in_flight_; }
  bool two_to_one() const { return two_to_one_; }

 private:
  struct Held {
    SendRequest request;
    SendCallback done;
  };
  struct Timer {
    uv_timer_t handle{};
    std::function<void()> fn;
  };

  void Finish(const std::string& to, const SendCallback& done,
              const SendResult& result) {
    --in_flight_;
    --in_flight_to_[to];
    done(result);
  }
  void Later(uint64_t ms, std::function<void()> fn) {
    auto* timer = new Timer;
    timer->fn = std::move(fn);
    timer->handle.data = timer;
    uv_timer_init(loop_, &timer->handle);
    uv_timer_start(
        &timer->handle,
        [](uv_timer_t* t) {
          auto* self = static_cast<Timer*>(t->data);
          self->fn();
          uv_close(reinterpret_cast<uv_handle_t*>(t),
                   [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
        },
        ms, 0);
  }

  const Script script_;
  const uint64_t answer_after_ms_;
  std::atomic<ConnectionState> state_{ConnectionState::kConnected};
  mutable std::mutex mu_;
  std::string reason_;  // guarded by mu_
  uv_loop_t* loop_ = nullptr;
  TransportEvents* events_ = nullptr;
  std::vector<Sent> sent_;
  std::vector<Held> held_;
  std::map<std::string, int> attempts_;
  std::map<std::string, int> in_flight_to_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  bool two_to_one_ = false;
};

// A real queue in a temp dir, a transport (the sandbox unless the test gives
// its own), a loop and a dispatcher, run until `done` holds. It is also the
// transport's events sink: a connection change wakes the dispatcher, as the
// worker does.
class Fixture : public TransportEvents {
 public:
  explicit Fixture(Dispatcher::Options options,
                   std::function<int64_t()> wall = WallMs,
                   Transport* transport = nullptr)
      : log_("test", common::LogFormat::kText, common::LogLevel::kError),
        wall_(std::move(wall)),
        sandbox_({}, wall_),
        transport_(transport != nullptr ? transport : &sandbox_) {
    char dir_template[] = "/tmp/dg-disp-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    auto queue = MessageQueue::Open(dir_ + "/queue.db");
    REQUIRE(queue.ok());
    queue_ = std::move(queue.value());
    uv_loop_init(&loop_);
    REQUIRE(transport_->Start(&loop_, *this).ok());
    dispatcher_ = std::make_unique<Dispatcher>(
        &loop_, options, log_, *queue_, *transport_, wall_,
        [this](DispatchResult result, const SendRequest& request,
               const SendResult& answer) {
          results_.emplace_back(ToString(result));
          if (answer.ok) statuses_[request.message_id] = answer.message_status;
        });
  }
  ~Fixture() override {
    dispatcher_->Close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    std::system(("rm -rf " + dir_).c_str());
  }

  void OnInbound(const InboundMessage&) override {}
  void OnStatus(const StatusUpdate&) override {}
  void OnConnection(ConnectionState, std::string_view) override {
    dispatcher_->Wake();
  }

  std::string Enqueue(const std::string& text,
                      const std::string& to = "15551234567") {
    NewMessage message;
    message.to = to;
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

  std::optional<OutboundMessage> Message(const std::string& id) {
    auto message = queue_->Get(id);
    REQUIRE(message.ok());
    return message.value();
  }

  SandboxTransport& sandbox() { return sandbox_; }
  MessageQueue& queue() { return *queue_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  const std::vector<std::string>& results() const { return results_; }
  // The message_status each accepted message was answered with.
  const std::map<std::string, std::string>& statuses() const {
    return statuses_;
  }

 private:
  common::Logger log_;
  std::function<int64_t()> wall_;
  SandboxTransport sandbox_;
  Transport* transport_;
  std::string dir_;
  std::unique_ptr<MessageQueue> queue_;
  uv_loop_t loop_{};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::string> results_;
  std::map<std::string, std::string> statuses_;
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
  // SEND_DELAY_MS between the starts (steady ms; the wall stamps may round
  // one millisecond apart).
  for (int i = 1; i < 4; ++i)
    CHECK(outbox[i].sent_at_ms - outbox[i - 1].sent_at_ms >= 29);
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
    "dispatcher: before_record gets every answer while the message is still "
    "sending",
    "[dispatcher]") {
  // What the worker forwards from here must be written before the queue
  // moves on: a crash in between leaves the message `sending`, sent again.
  struct Seen {
    std::string result;
    MessageStatus status_then;
    std::string provider_id;
    std::string code;
  };
  std::vector<Seen> seen;
  std::function<MessageStatus(const std::string&)> status_of;
  Dispatcher::Options options = FastOptions();
  options.before_record = [&](DispatchResult result, const SendRequest& request,
                              const SendResult& answer) {
    seen.push_back({std::string(ToString(result)),
                    status_of(request.message_id), answer.provider_id,
                    answer.error.code});
  };
  Fixture f(options);
  status_of = [&](const std::string& id) { return f.StatusOf(id); };
  f.sandbox().FailNext(1, 131000, "Something went wrong");
  auto retried = f.Enqueue("retried, then sent");
  f.RunUntil([&] { return f.StatusOf(retried) == MessageStatus::kSent; });
  f.sandbox().FailNext(1, 131026, "Message undeliverable");
  auto failed = f.Enqueue("undeliverable");
  f.RunUntil([&] { return f.StatusOf(failed) == MessageStatus::kFailed; });

  REQUIRE(seen.size() == 3);
  CHECK(seen[0].result == "retry");
  CHECK(seen[0].code == "131000");
  CHECK(seen[1].result == "sent");
  CHECK(seen[1].provider_id == f.Message(retried)->provider_id);
  CHECK(seen[2].result == "failed");
  CHECK(seen[2].code == "131026");
  for (const Seen& s : seen) CHECK(s.status_then == MessageStatus::kSending);
  // on_result still follows, once per answer.
  CHECK(f.results() == std::vector<std::string>{"retry", "sent", "failed"});
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

TEST_CASE(
    "dispatcher: SEND_CONCURRENCY sends in flight, never two to one "
    "recipient, each recipient in order",
    "[dispatcher][concurrency]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 4;
  ScriptedTransport transport(
      [](const ScriptedTransport::Sent& sent) {
        return Accepted("wamid." + sent.request.message_id);
      },
      /*answer_after_ms=*/20);
  Fixture f(options, WallMs, &transport);
  std::vector<std::string> recipients;
  for (int r = 0; r < 6; ++r)
    recipients.push_back("1555000000" + std::to_string(r));
  std::vector<std::string> ids;
  for (int round = 0; round < 3; ++round) {
    for (const auto& to : recipients) {
      ids.push_back(f.Enqueue(to + "-" + std::to_string(round), to));
    }
  }
  bool saw_four = false;
  f.RunUntil([&] {
    if (f.dispatcher().Status().in_flight_ids.size() == 4) saw_four = true;
    return transport.sent().size() == ids.size() && transport.held() == 0 &&
           f.results().size() == ids.size();
  });
  CHECK(transport.sent().size() == ids.size());
  CHECK(transport.max_in_flight() == 4);
  CHECK(saw_four);
  CHECK_FALSE(transport.two_to_one());
  for (const auto& to : recipients) {
    CHECK(transport.TextsTo(to) ==
          std::vector<std::string>{to + "-0", to + "-1", to + "-2"});
  }
  for (const auto& id : ids) CHECK(f.StatusOf(id) == MessageStatus::kSent);
  CHECK(f.statuses().at(ids[0]) == "accepted");
  CHECK(f.dispatcher().Status().in_flight_ids.empty());
}

TEST_CASE(
    "dispatcher: concurrent sends through the sandbox keep each "
    "recipient's order",
    "[dispatcher][concurrency][sandbox]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 8;
  Fixture f(options);
  std::vector<std::string> ids;
  for (int round = 0; round < 4; ++round) {
    for (int r = 0; r < 8; ++r) {
      const std::string to = "1555000000" + std::to_string(r);
      ids.push_back(f.Enqueue(to + "/" + std::to_string(round), to));
    }
  }
  f.RunUntil([&] { return f.results().size() == ids.size(); });
  auto outbox = f.sandbox().Outbox();
  REQUIRE(outbox.size() == ids.size());
  std::map<std::string, std::vector<std::string>> by_recipient;
  for (const auto& entry : outbox) by_recipient[entry.to].push_back(entry.text);
  REQUIRE(by_recipient.size() == 8);
  for (const auto& [to, texts] : by_recipient) {
    CHECK(texts ==
          std::vector<std::string>{to + "/0", to + "/1", to + "/2", to + "/3"});
  }
  for (const auto& id : ids) CHECK(f.StatusOf(id) == MessageStatus::kSent);
}

TEST_CASE(
    "dispatcher: a retry holds its recipient's later messages, not "
    "the others'",
    "[dispatcher][concurrency]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 2;
  options.retry.base = std::chrono::milliseconds(300);
  options.retry.max = std::chrono::milliseconds(300);
  ScriptedTransport transport([](const ScriptedTransport::Sent& sent) {
    if (sent.request.text == "a2" && sent.attempt == 1) {
      return GraphError(131000, 500);  // retryable
    }
    return Accepted("wamid." + sent.request.message_id);
  });
  Fixture f(options, WallMs, &transport);
  const std::string a = "15550000001";
  const std::string b = "15550000002";
  auto a1 = f.Enqueue("a1", a);
  auto a2 = f.Enqueue("a2", a);
  auto a3 = f.Enqueue("a3", a);
  auto b1 = f.Enqueue("b1", b);
  auto b2 = f.Enqueue("b2", b);
  auto b3 = f.Enqueue("b3", b);
  f.RunUntil([&] { return f.StatusOf(a3) == MessageStatus::kSent; });
  CHECK(transport.TextsTo(a) ==
        std::vector<std::string>{"a1", "a2", "a2", "a3"});
  CHECK(transport.TextsTo(b) == std::vector<std::string>{"b1", "b2", "b3"});
  // b's line went on while a2 waited for its retry.
  REQUIRE(transport.IndexOf("b3"));
  REQUIRE(transport.IndexOf("a2", 2));
  CHECK(*transport.IndexOf("b3") < *transport.IndexOf("a2", 2));
  CHECK_FALSE(transport.two_to_one());
  for (const auto& id : {a1, a2, a3, b1, b2, b3}) {
    CHECK(f.StatusOf(id) == MessageStatus::kSent);
  }
  auto retried = f.Message(a2);
  REQUIRE(retried);
  CHECK(retried->attempts == 2);
}

TEST_CASE(
    "dispatcher: 131056 slows that recipient only, 4^n, without using "
    "up its retries",
    "[dispatcher][slow]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 2;
  options.slow_base = std::chrono::milliseconds(20);  // 80 ms, then 320 ms
  options.retry.max_attempts = 2;
  ScriptedTransport transport([](const ScriptedTransport::Sent& sent) {
    if (sent.request.text == "slow") {
      if (sent.attempt <= 2) return GraphError(131056);
      if (sent.attempt == 3) return GraphError(131000, 500);  // one retry
    }
    return Accepted("wamid." + sent.request.message_id);
  });
  Fixture f(options, WallMs, &transport);
  const std::string slowed = "15550000001";
  const std::string other = "15550000002";
  auto slow = f.Enqueue("slow", slowed);
  auto behind = f.Enqueue("behind", slowed);
  std::vector<std::string> others;
  for (int i = 0; i < 3; ++i)
    others.push_back(f.Enqueue("o" + std::to_string(i), other));
  bool counted_slowed = false;
  f.RunUntil([&] {
    if (f.dispatcher().Status().slowed_recipients == 1) counted_slowed = true;
    return f.StatusOf(behind) == MessageStatus::kSent;
  });
  CHECK(counted_slowed);
  // Sent after two slow-downs and one retry: 4 sends, but only one counts
  // against max_attempts = 2.
  auto message = f.Message(slow);
  REQUIRE(message);
  CHECK(message->status == MessageStatus::kSent);
  CHECK(message->attempts == 4);
  CHECK(transport.TextsTo(slowed) ==
        std::vector<std::string>{"slow", "slow", "slow", "slow", "behind"});
  // The waits grew 4^n: 80 ms, then 320 ms at least between the starts (the
  // wall stamps may round a millisecond).
  std::vector<int64_t> slow_starts;
  for (const auto& sent : transport.sent()) {
    if (sent.request.text == "slow") slow_starts.push_back(sent.at_ms);
  }
  REQUIRE(slow_starts.size() == 4);
  CHECK(slow_starts[1] - slow_starts[0] >= 79);
  CHECK(slow_starts[2] - slow_starts[1] >= 319);
  // The other recipient was not held.
  REQUIRE(transport.IndexOf("o2"));
  REQUIRE(transport.IndexOf("slow", 2));
  CHECK(*transport.IndexOf("o2") < *transport.IndexOf("slow", 2));
  for (const auto& id : others) CHECK(f.StatusOf(id) == MessageStatus::kSent);
}

TEST_CASE(
    "dispatcher: a pausing answer stops every send, fails nothing, and "
    "sending resumes when the transport is connected again",
    "[dispatcher][pause]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 2;
  options.retry.max_attempts = 1;  // a pause must not use it up
  ScriptedTransport* self = nullptr;
  ScriptedTransport transport([&self](const ScriptedTransport::Sent& sent) {
    if (sent.request.text == "first" && sent.attempt == 1) {
      // As the Cloud transport does: disconnected, with the reason, before
      // it answers.
      self->SetState(ConnectionState::kDisconnected,
                     "token_invalid: Error validating access token");
      return GraphError(190, 401);
    }
    return Accepted("wamid." + sent.request.message_id);
  });
  self = &transport;
  options.concurrency = 1;
  Fixture f(options, WallMs, &transport);
  auto first = f.Enqueue("first", "15550000001");
  auto second = f.Enqueue("second", "15550000002");
  f.RunUntil([&] {
    return f.results().size() == 1 && f.dispatcher().Status().paused;
  });
  DispatcherStatus status = f.dispatcher().Status();
  CHECK(status.paused);
  CHECK(status.pause_reason == "token_invalid: Error validating access token");
  CHECK(f.StatusOf(first) == MessageStatus::kQueued);  // waiting, not failed
  CHECK(f.StatusOf(second) == MessageStatus::kQueued);
  // Nothing starts while disconnected (the loop runs, wakes come).
  int polls = 0;
  f.RunUntil([&] {
    if (polls == 5) f.dispatcher().Wake();
    return ++polls > 20;
  });
  CHECK(transport.sent().size() == 1);

  transport.SetState(ConnectionState::kConnected, "");
  f.RunUntil([&] { return f.StatusOf(second) == MessageStatus::kSent; });
  CHECK(f.StatusOf(first) == MessageStatus::kSent);
  CHECK(transport.TextsTo("15550000001") ==
        std::vector<std::string>{"first", "first"});
  CHECK_FALSE(f.dispatcher().Status().paused);
}

TEST_CASE(
    "dispatcher: enqueues from many threads, each followed by OnEnqueued, are "
    "all sent (no wake-up is lost while the dispatcher goes idle)",
    "[dispatcher]") {
  Dispatcher::Options options;
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 4;
  Fixture f(options);
  constexpr int kThreads = 4;
  constexpr int kEach = 150;
  std::atomic<int> enqueued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < kEach; ++i) {
        NewMessage message;
        message.to = "1555" + std::to_string(t * 1000 + i);
        message.content_json = R"({"body":"x"})";
        message.text = "x";
        if (!f.queue().Enqueue(message, WallMs()).ok()) return;
        f.dispatcher().OnEnqueued();
        enqueued.fetch_add(1);
        // Now and then the dispatcher catches up and goes idle in between.
        if (rng() % 8 == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
        }
      }
    });
  }
  f.RunUntil([&] {
    return enqueued.load() == kThreads * kEach &&
           f.sandbox().Outbox().size() == static_cast<size_t>(kThreads * kEach);
  });
  for (auto& thread : threads) thread.join();
  CHECK(enqueued.load() == kThreads * kEach);
  CHECK(f.sandbox().Outbox().size() == static_cast<size_t>(kThreads * kEach));
}

TEST_CASE("dispatcher: on_idle runs once when a burst of sends is over",
          "[dispatcher]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  int idles = 0;
  size_t sent_at_idle = 0;
  Fixture* fixture = nullptr;
  options.on_idle = [&] {
    ++idles;
    sent_at_idle = fixture->sandbox().Outbox().size();
  };
  Fixture f(options);
  fixture = &f;
  for (int i = 0; i < 5; ++i) f.Enqueue("m" + std::to_string(i));
  f.RunUntil([&] { return idles > 0; });
  CHECK(idles == 1);
  CHECK(sent_at_idle == 5);  // after the last answer, not between sends
  // Woken with nothing to send: not idle again.
  f.dispatcher().Wake();
  const int64_t until = WallMs() + 300;
  f.RunUntil([&] { return WallMs() > until; });
  CHECK(idles == 1);
}

TEST_CASE("dispatcher: nothing starts while the transport is not connected",
          "[dispatcher][pause]") {
  ScriptedTransport transport([](const ScriptedTransport::Sent& sent) {
    return Accepted("wamid." + sent.request.message_id);
  });
  transport.SetStateQuietly(ConnectionState::kReconnecting,
                            "graph_unreachable");
  Fixture f(FastOptions(), WallMs, &transport);
  auto id = f.Enqueue("waits");
  int polls = 0;
  f.RunUntil([&] { return ++polls > 20; });
  CHECK(transport.sent().empty());
  CHECK(f.dispatcher().Status().paused);
  CHECK(f.dispatcher().Status().pause_reason == "graph_unreachable");
  transport.SetState(ConnectionState::kConnected, "");
  f.RunUntil([&] { return f.StatusOf(id) == MessageStatus::kSent; });
  CHECK(f.StatusOf(id) == MessageStatus::kSent);
}

TEST_CASE(
    "dispatcher: a pause on a transport that stays connected (the "
    "sandbox) ends with a probe send",
    "[dispatcher][pause]") {
  Dispatcher::Options options = FastOptions();
  options.pause_probe = std::chrono::milliseconds(100);
  Fixture f(options);
  f.sandbox().FailNext(1, 131048, "Spam rate limit hit");
  auto id = f.Enqueue("held");
  bool saw_pause = false;
  f.RunUntil([&] {
    DispatcherStatus status = f.dispatcher().Status();
    if (status.paused && status.pause_reason == "spam_rate_limited") {
      saw_pause = true;
    }
    return f.StatusOf(id) == MessageStatus::kSent;
  });
  CHECK(saw_pause);
  CHECK(f.StatusOf(id) == MessageStatus::kSent);
  CHECK(f.results() == std::vector<std::string>{"retry", "sent"});
}

TEST_CASE(
    "dispatcher: a final provider error is a dead letter with its code "
    "and message",
    "[dispatcher]") {
  ScriptedTransport transport([](const ScriptedTransport::Sent&) {
    SendResult result;
    result.error = ClassifyGraphError(400, 131047, "Re-engagement message");
    return result;
  });
  Fixture f(FastOptions(), WallMs, &transport);
  auto id = f.Enqueue("late");
  f.RunUntil([&] { return f.StatusOf(id) == MessageStatus::kFailed; });
  auto message = f.Message(id);
  REQUIRE(message);
  CHECK(message->status == MessageStatus::kFailed);
  CHECK(message->attempts == 1);
  REQUIRE(message->error);
  CHECK(message->error->code == "131047");
  CHECK(message->error->message == "Re-engagement message");
  CHECK(f.results() == std::vector<std::string>{"failed"});
}

TEST_CASE("dispatcher: draining waits for every send in flight",
          "[dispatcher][concurrency]") {
  Dispatcher::Options options = FastOptions();
  options.send_delay = std::chrono::milliseconds(0);
  options.concurrency = 3;
  ScriptedTransport transport;  // holds every send for the test to answer
  Fixture f(options, WallMs, &transport);
  for (int i = 0; i < 3; ++i) {
    f.Enqueue("m" + std::to_string(i), "1555000000" + std::to_string(i));
  }
  auto fourth = f.Enqueue("m3", "15550000009");
  f.RunUntil([&] { return transport.held() == 3; });
  REQUIRE(transport.held() == 3);
  CHECK(f.dispatcher().Status().in_flight_ids.size() == 3);
  bool drained = false;
  f.dispatcher().BeginDrain([&] { drained = true; });
  CHECK_FALSE(drained);
  CHECK(transport.AnswerOldest(Accepted("wamid.1")));
  CHECK(transport.AnswerOldest(Accepted("wamid.2")));
  CHECK_FALSE(drained);
  CHECK(f.dispatcher().Status().in_flight_ids.size() == 1);
  CHECK(transport.AnswerOldest(Accepted("wamid.3")));
  CHECK(drained);
  CHECK(transport.sent().size() == 3);  // nothing new started
  CHECK(f.StatusOf(fourth) == MessageStatus::kQueued);
  CHECK(f.dispatcher().Status().in_flight_ids.empty());
}

}  // namespace
}  // namespace dynoguard::worker
