// The Forwarder against a real receiver (tests/support/webhook_receiver.h) on
// 127.0.0.1, through the real HttpClient, with a real outbox in a temp dir.
// The libuv loop runs on the test thread until a condition holds (generous
// deadlines; nothing asserts on durations).
#include "worker/forward/forwarder.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using testing::ReceivedPost;
using testing::ReceiverAnswer;
using testing::TempDir;
using testing::WebhookReceiver;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hmac(const std::string& secret, const std::string& body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
               reinterpret_cast<const unsigned char*>(body.data()), body.size(),
               digest, &length) != nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

// Fast retries for tests: a few ms of backoff, no retry window.
Forwarder::Options FastOptions(const WebhookReceiver& receiver) {
  Forwarder::Options options;
  options.url = receiver.url("/hook?token=abc");
  options.secret = "s3cret-webhook";
  options.retry.base = milliseconds(5);
  options.retry.max = milliseconds(40);
  options.retry.max_attempts = 4;
  options.retry.min_retry_window = milliseconds(0);
  options.connect_timeout = milliseconds(2000);
  options.total_timeout = milliseconds(5000);
  options.error_retry = milliseconds(20);
  return options;
}

ForwardEvent Event(const std::string& id, const std::string& chat) {
  ForwardEvent event;
  event.id = id;
  event.type = "message";
  event.chat = chat;
  event.timestamp_ms = 1700000000000;
  event.json =
      R"({"id":")" + id + R"(","type":"message","chat":")" + chat + R"("})";
  return event;
}

// A loop, a log file, an HttpClient, an outbox in a temp dir and a forwarder.
class Fixture {
 public:
  explicit Fixture(Forwarder::Options options) : options_(std::move(options)) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    log_fd_ = ::open(dir_.File("log.txt").c_str(),
                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(log_fd_ >= 0);
    log_ = std::make_unique<common::Logger>("worker", common::LogFormat::kText,
                                            common::LogLevel::kInfo, log_fd_);
    auto http = HttpClient::Create(&loop_, {});
    REQUIRE(http.ok());
    http_ = std::move(http).value();
    OpenOutbox();
    MakeForwarder();
  }
  ~Fixture() {
    forwarder_.reset();
    http_->Close();
    http_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
    ::close(log_fd_);
  }

  void OpenOutbox() {
    auto outbox = EventOutbox::Open(dir_.File("events.db"));
    REQUIRE(outbox.ok());
    outbox_ = std::move(outbox).value();
  }
  void MakeForwarder() {
    auto forwarder =
        Forwarder::Create(&loop_, *http_, *outbox_, *log_, options_);
    REQUIRE(forwarder.ok());
    forwarder_ = std::move(forwarder).value();
  }
  // A new worker: the forwarder closed, the outbox reopened, a new
  // forwarder on the same file (not started).
  void Restart() {
    forwarder_->Close();
    forwarder_.reset();
    Settle();
    outbox_.reset();
    OpenOutbox();
    MakeForwarder();
  }

  void Append(const std::vector<ForwardEvent>& events) {
    REQUIRE(outbox_->Append(events, WallMs()).ok());
    forwarder_->Wake();
  }

  bool RunUntil(const std::function<bool()>& done,
                milliseconds timeout = milliseconds(10000)) {
    return dynoguard::testing::RunLoopUntil(&loop_, &tick_, done, timeout);
  }
  void Settle() {
    for (int i = 0; i < 5; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }

  OutboxStats Stats() {
    auto stats = outbox_->Stats();
    REQUIRE(stats.ok());
    return *stats;
  }
  std::string Log() {
    return testing::ReadFileText(dir_.File("log.txt")).value_or("");
  }

  Forwarder& forwarder() { return *forwarder_; }
  EventOutbox& outbox() { return *outbox_; }
  Forwarder::Options& options() { return options_; }

 private:
  TempDir dir_;
  Forwarder::Options options_;
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  int log_fd_ = -1;
  std::unique_ptr<common::Logger> log_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<EventOutbox> outbox_;
  std::unique_ptr<Forwarder> forwarder_;
};

// The ids of `posts` whose body names chat `chat`.
std::vector<std::string> IdsOfChat(const std::vector<ReceivedPost>& posts,
                                   const std::string& chat) {
  std::vector<std::string> ids;
  for (const ReceivedPost& post : posts) {
    if (post.body.find(R"("chat":")" + chat + "\"") != std::string::npos) {
      ids.push_back(post.event_id());
    }
  }
  return ids;
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("forwarder: a signed POST per event with the event id", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  const ForwardEvent event = BuildConnectionEvent(ConnectionState::kConnected,
                                                  "", WallMs(), "default");
  f.forwarder().Start();
  f.Append({event});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));

  std::vector<ReceivedPost> posts = receiver.requests();
  REQUIRE(posts.size() == 1);
  const ReceivedPost& post = posts[0];
  CHECK(post.path == "/hook");
  CHECK(post.body == event.json);  // the raw body, byte for byte
  CHECK(post.Header("Content-Type") == "application/json");
  CHECK(post.Header("User-Agent") == "dynoguard");
  CHECK(post.Header("X-Dynoguard-Event-Id") == event.id);
  CHECK(post.Header("X-Dynoguard-Signature-256") ==
        "sha256=" + Hmac("s3cret-webhook", post.body));
  CHECK(post.Header("X-Dynoguard-Signature-256") !=
        "sha256=" + Hmac("another-secret", post.body));
  CHECK(f.Stats().pending == 0);
  CHECK(f.forwarder().status().delivered == 1);
  // Never the secret, nor a body, in the log.
  const std::string log = f.Log();
  CHECK(log.find("s3cret-webhook") == std::string::npos);
  CHECK(log.find(event.id) == std::string::npos);
}

TEST_CASE("forwarder: each event type arrives as built", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  WebhookMessage message;
  message.message = {"wamid.in1", "16505551234", "hi", 1700000000000};
  message.type = "text";
  message.raw_json = R"({"id":"wamid.in1","type":"text"})";
  WebhookStatus status;
  status.update.provider_id = "wamid.out1";
  status.update.status = MessageStatus::kRead;
  status.recipient_id = "16505551234";
  const std::vector<ForwardEvent> events = {
      BuildMessageEvent(message, "default"),
      BuildStatusEvent(status, std::string("msg_1"), "default"),
      BuildConnectionEvent(ConnectionState::kReconnecting, "heartbeat failed",
                           WallMs(), "default")};
  f.forwarder().Start();
  f.Append(events);
  REQUIRE(f.RunUntil([&] { return receiver.delivered().size() == 3; }));
  std::map<std::string, std::string> bodies;
  for (const ReceivedPost& post : receiver.delivered()) {
    bodies[post.event_id()] = post.body;
  }
  for (const ForwardEvent& event : events) {
    INFO(event.type);
    CHECK(bodies[event.id] == event.json);
  }
  CHECK(bodies[events[0].id].find(R"("raw":{"id":"wamid.in1")") !=
        std::string::npos);
  CHECK(bodies[events[1].id].find(R"("messageId":"msg_1")") !=
        std::string::npos);
  CHECK(bodies[events[2].id].find(R"("state":"reconnecting")") !=
        std::string::npos);
}

TEST_CASE("forwarder: no secret, no signature header", "[forward]") {
  WebhookReceiver receiver;
  Forwarder::Options options = FastOptions(receiver);
  options.secret.clear();
  Fixture f(options);
  f.forwarder().Start();
  f.Append({Event("evt_unsigned", "A")});
  REQUIRE(f.RunUntil([&] { return receiver.delivered().size() == 1; }));
  CHECK_FALSE(receiver.requests()[0].HasHeader("X-Dynoguard-Signature-256"));
  CHECK(receiver.requests()[0].event_id() == "evt_unsigned");
  CHECK(f.Log().find("forward-unsigned") != std::string::npos);
}

TEST_CASE("forwarder: a chat's events stay in order across a retry",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptEvent("a2", ReceiverAnswer::Status(503), 2);
  f.forwarder().Start();
  f.Append(
      {Event("a1", "A"), Event("a2", "A"), Event("a3", "A"), Event("a4", "A")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 4; }));
  // Every POST of the chat, failed ones included, in order: a3 only after
  // a2 went through.
  CHECK(IdsOfChat(receiver.requests(), "A") ==
        std::vector<std::string>{"a1", "a2", "a2", "a2", "a3", "a4"});
  CHECK(receiver.delivered_ids() ==
        std::vector<std::string>{"a1", "a2", "a3", "a4"});
  CHECK(f.forwarder().status().retried == 2);
}

TEST_CASE("forwarder: chats go in parallel, a slow chat holds only itself",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  // Chat A's first answer comes late; B and C go on meanwhile.
  receiver.ScriptEvent("a1", ReceiverAnswer::Delayed(200, milliseconds(3000)));
  f.forwarder().Start();
  f.Append({Event("a1", "A"), Event("a2", "A"), Event("b1", "B"),
            Event("b2", "B"), Event("c1", "C"), Event("c2", "C")});
  REQUIRE(f.RunUntil([&] {
    return *f.outbox().State("b2") == "delivered" &&
           *f.outbox().State("c2") == "delivered";
  }));
  CHECK(IdsOfChat(receiver.requests(), "A").empty());  // a1 still answering
  CHECK(f.forwarder().status().in_flight == 1);
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 6; }));
  CHECK(IdsOfChat(receiver.delivered(), "A") ==
        std::vector<std::string>{"a1", "a2"});
}

TEST_CASE("forwarder: at most max_in_flight chats at once", "[forward]") {
  WebhookReceiver receiver;
  Forwarder::Options options = FastOptions(receiver);
  options.max_in_flight = 2;
  Fixture f(options);
  receiver.SetDefault(ReceiverAnswer::Delayed(200, milliseconds(300)));
  f.forwarder().Start();
  std::vector<ForwardEvent> events;
  for (int chat = 0; chat < 6; ++chat) {
    events.push_back(Event("e" + std::to_string(chat), std::to_string(chat)));
  }
  f.Append(events);
  size_t most = 0;
  REQUIRE(f.RunUntil([&] {
    most = std::max(most, f.forwarder().status().in_flight);
    return f.Stats().delivered_total == 6;
  }));
  CHECK(most == 2);
}

TEST_CASE("forwarder: a 4xx is a dead letter at once, the chat goes on",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptEvent("bad", ReceiverAnswer::Status(400));
  f.forwarder().Start();
  f.Append({Event("bad", "A"), Event("good", "A")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
  CHECK(IdsOfChat(receiver.requests(), "A") ==
        std::vector<std::string>{"bad", "good"});
  const OutboxStats stats = f.Stats();
  CHECK(stats.dead == 1);
  CHECK(stats.pending == 0);
  auto dead = f.outbox().DeadLetters(10);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK((*dead)[0].event.id == "bad");
  CHECK((*dead)[0].last_error == "http_400");
  CHECK(f.forwarder().status().dead == 1);
  const std::string log = f.Log();
  CHECK(Occurrences(log, "forward-dead") == 1);
  CHECK(log.find("id=bad") != std::string::npos);
  // A refused event is not a failing receiver.
  CHECK(log.find("forward-failing") == std::string::npos);
}

TEST_CASE("forwarder: 408, 429, 5xx and dropped connections are retried",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptNext(ReceiverAnswer::Status(408));
  receiver.ScriptNext(ReceiverAnswer::RetryAfter(429, "0"));
  receiver.ScriptNext(ReceiverAnswer::Status(500));
  receiver.ScriptNext(ReceiverAnswer::Drop());
  f.forwarder().Start();
  f.Append({Event("r1", "A")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
  std::vector<ReceivedPost> posts = receiver.requests();
  REQUIRE(posts.size() == 5);
  CHECK(posts[0].status == 408);
  CHECK(posts[1].status == 429);
  CHECK(posts[2].status == 500);
  CHECK(posts[3].status == 0);
  CHECK(posts[4].status == 200);
  for (const ReceivedPost& post : posts) CHECK(post.event_id() == "r1");
  // libcurl itself sends a request again once when a reused connection
  // dies before any answer, so the drop may not reach the forwarder.
  CHECK(f.forwarder().status().retried >= 3);
  CHECK(f.Stats().dead == 0);
  const std::string log = f.Log();
  CHECK(Occurrences(log, "forward-failing") == 1);
  CHECK(Occurrences(log, "forward-recovered") == 1);
  // The URL's origin only: its query may carry a token.
  CHECK(log.find("token=abc") == std::string::npos);
}

TEST_CASE("forwarder: Retry-After is honoured", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptNext(ReceiverAnswer::RetryAfter(503, "1"));
  f.forwarder().Start();
  f.Append({Event("ra", "A")});
  REQUIRE(f.RunUntil([&] { return receiver.count() == 1; }));
  REQUIRE(f.RunUntil([&] { return f.forwarder().status().retried == 1; }));
  auto stored = f.outbox().Get("ra");
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  // next = answer time + 1000 ms; recorded a moment after the answer.
  const int64_t wait = (*stored)->next_attempt_ms - (*stored)->updated_ms;
  CHECK(wait > 500);
  CHECK(wait <= 1000);
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
}

TEST_CASE("forwarder: retries run out into a dead letter", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));  // 4 attempts
  receiver.ScriptEvent("hopeless", ReceiverAnswer::Status(502), -1);
  f.forwarder().Start();
  f.Append({Event("hopeless", "A"), Event("next", "A")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
  CHECK(IdsOfChat(receiver.requests(), "A") ==
        std::vector<std::string>{"hopeless", "hopeless", "hopeless", "hopeless",
                                 "next"});
  auto dead = f.outbox().DeadLetters(10);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK((*dead)[0].attempts == 4);
  CHECK((*dead)[0].last_error == "http_502");
}

TEST_CASE("forwarder: a receiver down then up gets everything, in order",
          "[forward]") {
  WebhookReceiver receiver;
  Forwarder::Options options = FastOptions(receiver);
  options.retry.max_attempts = 1000;  // "an hour" of failures, compressed
  options.retry.max = milliseconds(50);
  Fixture f(options);
  receiver.Stop();
  f.forwarder().Start();
  std::vector<ForwardEvent> events;
  for (int i = 1; i <= 5; ++i) {
    events.push_back(Event("a" + std::to_string(i), "A"));
    events.push_back(Event("b" + std::to_string(i), "B"));
  }
  f.Append(events);
  // Several failed attempts while it is down.
  REQUIRE(f.RunUntil([&] { return f.forwarder().status().retried >= 10; }));
  CHECK(f.forwarder().status().failing);
  CHECK(f.Stats().pending == 10);
  REQUIRE(receiver.Start().ok());
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 10; }));
  CHECK(IdsOfChat(receiver.delivered(), "A") ==
        std::vector<std::string>{"a1", "a2", "a3", "a4", "a5"});
  CHECK(IdsOfChat(receiver.delivered(), "B") ==
        std::vector<std::string>{"b1", "b2", "b3", "b4", "b5"});
  CHECK(receiver.delivered().size() == 10);
  CHECK_FALSE(f.forwarder().status().failing);
  CHECK(f.Stats().dead == 0);
  const std::string log = f.Log();
  CHECK(Occurrences(log, "forward-failing") == 1);
  CHECK(Occurrences(log, "forward-recovered") == 1);
  CHECK(log.find("status=connect") != std::string::npos);
}

TEST_CASE("forwarder: a restart resumes from the outbox", "[forward]") {
  WebhookReceiver receiver;
  Forwarder::Options options = FastOptions(receiver);
  options.retry.max_attempts = 1000;
  Fixture f(options);
  f.forwarder().Start();
  f.Append({Event("a1", "A")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));

  // Down: a2, a3 fail a few times and stay pending with their attempts.
  receiver.Stop();
  f.Append({Event("a2", "A"), Event("a3", "A"), Event("b1", "B")});
  REQUIRE(f.RunUntil([&] { return f.forwarder().status().retried >= 4; }));
  bool stopped = false;
  f.forwarder().Stop([&] { stopped = true; });
  CHECK(stopped);
  auto a2 = f.outbox().Get("a2");
  REQUIRE(a2.ok());
  CHECK((*a2)->attempts >= 1);

  // A new worker on the same file, the receiver back.
  f.Restart();
  CHECK(f.Stats().pending == 3);
  REQUIRE(receiver.Start().ok());
  f.forwarder().Start();
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 4; }));
  CHECK(receiver.delivered_ids().size() == 4);
  CHECK(IdsOfChat(receiver.delivered(), "A") ==
        std::vector<std::string>{"a1", "a2", "a3"});
}

TEST_CASE("forwarder: Stop cancels a POST in flight, it stays pending",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptEvent("slow",
                       ReceiverAnswer::Delayed(200, milliseconds(8000)));
  f.forwarder().Start();
  f.Append({Event("slow", "A")});
  // The receiver holds the request (not merely the forwarder started it).
  REQUIRE(f.RunUntil([&] { return receiver.arrived() == 1; }));
  CHECK(f.forwarder().status().in_flight == 1);
  bool stopped = false;
  f.forwarder().Stop([&] { stopped = true; });
  CHECK(stopped);
  CHECK(f.forwarder().status().in_flight == 0);
  auto slow = f.outbox().Get("slow");
  REQUIRE(slow.ok());
  CHECK(*f.outbox().State("slow") == "pending");
  CHECK((*slow)->attempts == 0);
  // End the receiver's wait; the next run delivers it.
  receiver.Stop();
  REQUIRE(receiver.Start().ok());
  f.Restart();
  f.forwarder().Start();
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
  CHECK(receiver.delivered_ids() == std::vector<std::string>{"slow"});
}

TEST_CASE("forwarder: Drain lets the POST in flight finish", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  receiver.ScriptEvent("d1", ReceiverAnswer::Delayed(200, milliseconds(300)));
  f.forwarder().Start();
  f.Append({Event("d1", "A"), Event("d2", "A")});
  REQUIRE(f.RunUntil([&] { return receiver.arrived() == 1; }));
  bool drained = false;
  f.forwarder().Drain([&] { drained = true; });
  CHECK_FALSE(drained);
  REQUIRE(f.RunUntil([&] { return drained; }));
  CHECK(*f.outbox().State("d1") == "delivered");
  CHECK(*f.outbox().State("d2") == "pending");  // not started once draining
  CHECK(receiver.count() == 1);
  CHECK(f.forwarder().status().stopping);
}

TEST_CASE("forwarder: an event appended twice is delivered once", "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  WebhookMessage message;
  message.message = {"wamid.dup", "16505550000", "again?", 1700000000000};
  message.type = "text";
  f.forwarder().Start();
  f.Append({BuildMessageEvent(message)});
  f.Append({BuildMessageEvent(message)});  // Meta redelivered it
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 1; }));
  f.Append({BuildMessageEvent(message)});  // and again, after delivery
  f.Append({Event("after", "16505550000")});
  REQUIRE(f.RunUntil([&] { return f.Stats().delivered_total == 2; }));
  CHECK(receiver.delivered_ids() ==
        std::vector<std::string>{MessageEventId("wamid.dup"), "after"});
  CHECK(receiver.count() == 2);
}

TEST_CASE("forwarder: events appended and woken from another thread",
          "[forward]") {
  WebhookReceiver receiver;
  Fixture f(FastOptions(receiver));
  f.forwarder().Start();
  std::thread producer([&f] {
    for (int i = 0; i < 20; ++i) {
      const std::string chat = i % 2 == 0 ? "A" : "B";
      if (!f.outbox()
               .Append(Event(chat + std::to_string(i), chat), WallMs())
               .ok()) {
        std::abort();
      }
      f.forwarder().Wake();
    }
  });
  const bool all = f.RunUntil([&] { return f.Stats().delivered_total == 20; });
  producer.join();
  REQUIRE(all);
  std::vector<std::string> expected_a;
  std::vector<std::string> expected_b;
  for (int i = 0; i < 20; ++i) {
    (i % 2 == 0 ? expected_a : expected_b)
        .push_back((i % 2 == 0 ? "A" : "B") + std::to_string(i));
  }
  CHECK(IdsOfChat(receiver.delivered(), "A") == expected_a);
  CHECK(IdsOfChat(receiver.delivered(), "B") == expected_b);
}

TEST_CASE("forwarder: a bad URL is refused at creation", "[forward]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto http = HttpClient::Create(&loop, {});
    REQUIRE(http.ok());
    TempDir dir;
    auto outbox = EventOutbox::Open(dir.File("events.db"));
    REQUIRE(outbox.ok());
    common::Logger log("worker", common::LogFormat::kText,
                       common::LogLevel::kError);
    for (const char* url : {"", "ftp://example.com/x", "http://", "hook"}) {
      Forwarder::Options options;
      options.url = url;
      auto forwarder = Forwarder::Create(&loop, **http, **outbox, log, options);
      REQUIRE_FALSE(forwarder.ok());
      CHECK(forwarder.status().message().find("WEBHOOK_URL") !=
            std::string::npos);
    }
    (*http)->Close();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace dynoguard::worker
