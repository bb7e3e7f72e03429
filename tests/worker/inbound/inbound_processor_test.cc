#include "worker/inbound/inbound_processor.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "worker/inbound/inbound_policy.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;
using std::chrono::milliseconds;

constexpr int64_t kT = 1'739'321'024'000;  // kTestTimestampS in ms

// What the sinks were handed, in order; `fail` makes the next calls fail.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> messages;  // message ids
  std::vector<std::string> statuses;  // "wamid/status"
  std::vector<int> errors;            // codes
  std::atomic<int> fail{0};

  common::Status Fail() {
    if (fail.load() > 0) {
      fail.fetch_sub(1);
      return common::Status::Unavailable("outbox down");
    }
    return common::Status::Ok();
  }
  InboundSinks Sinks() {
    InboundSinks sinks;
    sinks.on_message = [this](const WebhookMessage& m) {
      if (common::Status s = Fail(); !s.ok()) return s;
      std::lock_guard lock(mu);
      messages.push_back(m.message.id);
      return common::Status::Ok();
    };
    sinks.on_status = [this](const WebhookStatus& s) {
      if (common::Status f = Fail(); !f.ok()) return f;
      std::lock_guard lock(mu);
      statuses.push_back(s.update.provider_id + "/" +
                         std::string(ToString(s.update.status)));
      return common::Status::Ok();
    };
    sinks.on_error = [this](const WebhookError& e) {
      std::lock_guard lock(mu);
      errors.push_back(e.code);
      return common::Status::Ok();
    };
    return sinks;
  }
  size_t message_count() {
    std::lock_guard lock(mu);
    return messages.size();
  }
};

// A store in a temp dir, reopenable (a restart), and a processor over it.
class Fixture {
 public:
  Fixture()
      : log_fd_(::open(dir_.File("worker.log").c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)),
        log_("worker", common::LogFormat::kText, common::LogLevel::kInfo,
             log_fd_) {
    REQUIRE(log_fd_ >= 0);
    Reopen();
  }
  ~Fixture() {
    processor_.reset();
    store_.reset();
    ::close(log_fd_);
  }

  // Drops the processor and the store and opens both again, as a restart.
  void Reopen(InboundProcessorOptions options = {}) {
    processor_.reset();
    store_.reset();
    auto store = InboundStore::Open(dir_.File("inbound.db"), &log_);
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    processor_ = std::make_unique<InboundProcessor>(
        log_, *store_, recorder_.Sinks(), [this] { return now_; }, options);
  }

  void Deliver(const std::string& body) {
    REQUIRE(store_->Append(InboxSource::kWebhook, body, now_).ok());
  }

  std::string LogText() const {
    return t::ReadFileText(dir_.File("worker.log")).value_or("");
  }
  size_t Count(const std::string& needle) const {
    const std::string text = LogText();
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }

  t::TempDir dir_;
  int log_fd_;
  common::Logger log_;
  int64_t now_ = kT + 1000;
  Recorder recorder_;
  std::unique_ptr<InboundStore> store_;
  std::unique_ptr<InboundProcessor> processor_;
};

t::MessageHeader Header(std::string id, std::string from = "16505551234") {
  t::MessageHeader h;
  h.id = std::move(id);
  h.from = std::move(from);
  return h;
}

TEST_CASE(
    "inbound processor: a batch of several entries and changes reaches "
    "the sinks in order",
    "[inbound]") {
  Fixture f;
  t::ChangeValue messages;
  messages.messages = {t::TextMessage(Header("wamid.1"), "one"),
                       t::MediaMessage(Header("wamid.2"), "image", "media.9",
                                       "image/jpeg", "a cat")};
  t::ChangeValue statuses;
  statuses.statuses = {t::StatusObject("wamid.out.1", "sent"),
                       t::StatusObject("wamid.out.1", "delivered")};
  t::ChangeValue errors;
  errors.errors = {t::WebhookError({131000, "Something went wrong", "x", ""})};
  t::ChangeValue other;
  other.messages = {t::TextMessage(Header("wamid.3", "4915112345678"), "hi")};
  f.Deliver(t::Webhook({t::Entry({t::Change(messages), t::Change(statuses)}),
                        t::Entry({t::Change(errors), t::Change(other)})}));

  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages ==
        std::vector<std::string>{"wamid.1", "wamid.2", "wamid.3"});
  CHECK(f.recorder_.statuses ==
        std::vector<std::string>{"wamid.out.1/sent", "wamid.out.1/delivered"});
  CHECK(f.recorder_.errors == std::vector<int>{131000});
  auto counts = f.store_->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->pending == 0);

  // The chat (on disk) and the window, per contact.
  auto chat = f.store_->RecentMessages("16505551234", 10).value();
  REQUIRE(chat.size() == 2);
  CHECK(chat[0].text == "one");
  CHECK(chat[1].type == "image");
  CHECK(chat[1].text == "a cat");
  CHECK_FALSE(chat[1].outbound);
  CHECK(f.store_->WindowOpen("16505551234", kT + 24 * kHourMs - 1));
  CHECK_FALSE(f.store_->WindowOpen("16505551234", kT + 24 * kHourMs));
  CHECK(f.store_->WindowOpen("4915112345678", f.now_));
}

TEST_CASE(
    "inbound processor: the same delivery twice, and again after a "
    "restart, reaches the sinks once",
    "[inbound]") {
  Fixture f;
  const std::string body = t::MessagesWebhook(
      {t::TextMessage(Header("wamid.A"), "hello"),
       t::TextMessage(Header("wamid.A"), "hello")});  // repeated in one body
  const std::string status =
      t::StatusesWebhook({t::StatusObject("wamid.out.1", "read")});
  f.Deliver(body);
  f.Deliver(status);
  f.Deliver(body);
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages == std::vector<std::string>{"wamid.A"});
  CHECK(f.recorder_.statuses == std::vector<std::string>{"wamid.out.1/read"});
  CHECK(f.processor_->counters().duplicates == 3);

  f.Reopen();                  // a restart: the seen ids are on disk
  f.now_ += 6 * 24 * kHourMs;  // Meta redelivers for up to 7 days
  f.Deliver(body);
  f.Deliver(status);
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages == std::vector<std::string>{"wamid.A"});
  CHECK(f.recorder_.statuses == std::vector<std::string>{"wamid.out.1/read"});
  CHECK(f.store_->RecentMessages("16505551234", 10).value().size() == 1);
}

TEST_CASE(
    "inbound processor: statuses out of order are each handed over "
    "once",
    "[inbound]") {
  Fixture f;
  f.Deliver(t::StatusesWebhook({t::StatusObject("wamid.out.1", "read")}));
  f.Deliver(t::StatusesWebhook({t::StatusObject("wamid.out.1", "delivered"),
                                t::StatusObject("wamid.out.1", "sent")}));
  f.Deliver(t::StatusesWebhook({t::StatusObject("wamid.out.1", "delivered"),
                                t::StatusObject("wamid.out.2", "failed")}));
  REQUIRE(f.processor_->ProcessPending().ok());
  // The sink sees them as they came (never moving back is the queue's job),
  // each wamid+status once.
  CHECK(f.recorder_.statuses ==
        std::vector<std::string>{"wamid.out.1/read", "wamid.out.1/delivered",
                                 "wamid.out.1/sent", "wamid.out.2/failed"});
}

TEST_CASE("inbound processor: seen ids are forgotten after 7 days only",
          "[inbound]") {
  Fixture f;
  const std::string body =
      t::MessagesWebhook({t::TextMessage(Header("wamid.P"), "x")});
  f.Deliver(body);
  REQUIRE(f.processor_->ProcessPending().ok());
  REQUIRE(f.store_->Prune(f.now_ + 7 * 24 * kHourMs).ok());
  f.Deliver(body);
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.message_count() == 1);
  REQUIRE(f.store_->Prune(f.now_ + 7 * 24 * kHourMs + 1).ok());
  f.Deliver(body);
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.message_count() == 2);
}

TEST_CASE("inbound processor: a failing sink leaves the row for a retry",
          "[inbound]") {
  Fixture f;
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.1"), "one"),
                                t::TextMessage(Header("wamid.2"), "two")}));
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.3"), "three")}));
  f.recorder_.messages.clear();

  f.recorder_.fail = 1;  // wamid.1 fails once
  CHECK_FALSE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages.empty());  // nothing behind it went first
  f.recorder_.fail = 1;
  CHECK_FALSE(f.processor_->ProcessPending().ok());
  CHECK(f.Count("inbound-processing-failed") == 1);  // once per spell

  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages ==
        std::vector<std::string>{"wamid.1", "wamid.2", "wamid.3"});
  CHECK(f.Count("inbound-processing-recovered") == 1);
  CHECK(f.processor_->counters().failures == 2);
  // The history got wamid.1 once although it was tried three times.
  CHECK(f.store_->RecentMessages("16505551234", 10).value().size() == 3);
}

TEST_CASE("inbound processor: its thread retries a failing sink with backoff",
          "[inbound]") {
  Fixture f;
  InboundProcessorOptions options;
  options.retry_min = milliseconds(20);
  options.retry_max = milliseconds(40);
  f.Reopen(options);
  f.recorder_.fail = 3;
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.R"), "r")}));
  f.processor_->Start();
  CHECK(t::WaitUntil([&] { return f.recorder_.message_count() == 1; },
                     milliseconds(10000)));
  CHECK(f.processor_->counters().failures == 3);
  CHECK(f.Count("inbound-processing-failed") == 1);
  f.processor_->Stop();
}

TEST_CASE(
    "inbound processor: rows left unprocessed are handled after a "
    "restart",
    "[inbound]") {
  Fixture f;
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.L1"), "one")}));
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.L2"), "two")}));
  // A crash before any processing: the rows are on disk.
  f.Reopen();
  f.processor_->Start();
  CHECK(t::WaitUntil([&] { return f.recorder_.message_count() == 2; },
                     milliseconds(10000)));
  CHECK(f.recorder_.messages ==
        std::vector<std::string>{"wamid.L1", "wamid.L2"});

  // New rows wake the running thread.
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.L3"), "three")}));
  f.processor_->Wake();
  CHECK(t::WaitUntil([&] { return f.recorder_.message_count() == 3; },
                     milliseconds(10000)));
  f.processor_->Stop();
}

TEST_CASE(
    "inbound processor: an unparsable body is kept, logged once and "
    "not retried",
    "[inbound]") {
  Fixture f;
  f.Deliver(R"({"object":"whatsapp_business_account","entry":"nope"})");
  f.Deliver(t::MessagesWebhook({t::TextMessage(Header("wamid.OK"), "ok")}));
  REQUIRE(f.processor_->ProcessPending().ok());
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages == std::vector<std::string>{"wamid.OK"});
  CHECK(f.Count("webhook-unparsable") == 1);
  auto counts = f.store_->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->unparsable == 1);
  CHECK(counts->pending == 0);
  CHECK(f.processor_->counters().unparsable == 1);
}

// One batch with a malformed part of each kind between good events.
std::string BatchWithMalformedParts() {
  t::ChangeValue value;
  value.messages = {
      t::TextMessage(Header("wamid.M1"), "one"),
      R"({"from":"16505551234","id":"wamid.nobody","timestamp":"1",)"
      R"("type":"text","text":{}})",
      t::TextMessage(Header("wamid.M2"), "two"),
  };
  value.statuses = {
      R"({"id":"wamid.out.1","status":"failed","timestamp":"1",)"
      R"("errors":[{"code":"131026"}]})",
      t::StatusObject("wamid.out.2", "read"),
  };
  value.errors = {t::WebhookError({131000, "Something went wrong", "x", ""})};
  t::ChangeValue other;
  other.messages = {t::TextMessage(Header("wamid.M3", "4915112345678"), "hi")};
  return t::Webhook({t::Entry({t::Change(value), R"({"field":"messages"})"}),
                     t::Entry({t::Change(other)})});
}

TEST_CASE(
    "inbound processor: a malformed part is skipped and logged alone, the "
    "rest of its batch reaches the sinks",
    "[inbound]") {
  Fixture f;
  f.Deliver(BatchWithMalformedParts());
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages ==
        std::vector<std::string>{"wamid.M1", "wamid.M2", "wamid.M3"});
  CHECK(f.recorder_.statuses == std::vector<std::string>{"wamid.out.2/read"});
  CHECK(f.recorder_.errors == std::vector<int>{131000});
  CHECK(f.store_->WindowOpen("4915112345678", f.now_));

  // One line per part left out, naming it and what was wrong.
  INFO(f.LogText());
  CHECK(f.Count("webhook-part-skipped") == 3);
  CHECK(f.Count("part=entry[0].changes[0].value.messages[1]") == 1);
  CHECK(f.Count("text.body: missing") == 1);
  CHECK(f.Count("part=entry[0].changes[0].value.statuses[0]") == 1);
  CHECK(f.Count("errors[0].code: missing or not an integer") == 1);
  CHECK(f.Count("part=entry[0].changes[1] ") == 1);
  CHECK(f.Count("value: missing") == 1);
  CHECK(f.Count("webhook-unparsable") == 0);
  CHECK(f.processor_->counters().malformed_parts == 3);
  CHECK(f.processor_->counters().unparsable == 0);
  auto counts = f.store_->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->unparsable == 0);
  CHECK(counts->pending == 0);
}

TEST_CASE(
    "inbound processor: the parts left out are logged once, also when a "
    "sink failure retries their row",
    "[inbound]") {
  Fixture f;
  f.Deliver(BatchWithMalformedParts());
  f.recorder_.fail = 1;  // wamid.M1 fails once: the row is tried twice
  CHECK_FALSE(f.processor_->ProcessPending().ok());
  CHECK(f.Count("webhook-part-skipped") == 0);
  REQUIRE(f.processor_->ProcessPending().ok());
  CHECK(f.recorder_.messages ==
        std::vector<std::string>{"wamid.M1", "wamid.M2", "wamid.M3"});
  CHECK(f.Count("webhook-part-skipped") == 3);
  CHECK(f.processor_->counters().malformed_parts == 3);
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

// Appends `line` to `path` and syncs it: what a durable sink would keep.
void AppendLine(const std::string& path, const std::string& line) {
  int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) _exit(3);
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    _exit(3);
  }
  ::fsync(fd);
  ::close(fd);
}

TEST_CASE(
    "inbound processor: a crash between a sink and its seen record "
    "only repeats that event",
    "[inbound]") {
  t::TempDir dir;
  const std::string db = dir.File("inbound.db");
  const std::string taken = dir.File("taken.txt");
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError);
  {
    auto store = InboundStore::Open(db);
    REQUIRE(store.ok());
    for (const char* id : {"wamid.C1", "wamid.C2", "wamid.C3"}) {
      REQUIRE((*store)
                  ->Append(InboxSource::kWebhook,
                           t::MessagesWebhook({t::TextMessage(Header(id), id)}),
                           kT)
                  .ok());
    }
  }
  // The child process takes wamid.C1, then dies inside the sink for
  // wamid.C2, after the sink made it durable and before anything else.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto store = InboundStore::Open(db);
    if (!store.ok()) _exit(2);
    InboundSinks sinks;
    sinks.on_message = [&](const WebhookMessage& m) {
      AppendLine(taken, m.message.id);
      if (m.message.id == "wamid.C2") _exit(0);  // the crash
      return common::Status::Ok();
    };
    InboundProcessor processor(log, **store, sinks, [] { return kT; });
    (void)processor.ProcessPending();
    _exit(1);  // not reached
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  // The restart: the same sink sees wamid.C2 again, then wamid.C3.
  auto store = InboundStore::Open(db);
  REQUIRE(store.ok());
  InboundSinks sinks;
  sinks.on_message = [&](const WebhookMessage& m) {
    AppendLine(taken, m.message.id);
    return common::Status::Ok();
  };
  InboundProcessor processor(log, **store, sinks, [] { return kT; });
  REQUIRE(processor.ProcessPending().ok());
  CHECK(t::ReadFileText(taken).value_or("") ==
        "wamid.C1\nwamid.C2\nwamid.C2\nwamid.C3\n");
}

}  // namespace
}  // namespace dynoguard::worker
