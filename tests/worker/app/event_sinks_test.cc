#include "worker/app/event_sinks.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/json_fields.h"
#include "tests/support/temp_dir.h"
#include "worker/forward/forward_event.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;

constexpr char kTo[] = "16505551234";

// The sinks over a real queue and outbox in a temp dir and a clock the test
// sets.
class Fixture {
 public:
  explicit Fixture(bool forwarding = true)
      : log_("test", common::LogFormat::kText, common::LogLevel::kError) {
    auto queue = MessageQueue::Open(dir_.File("queue.db"));
    REQUIRE(queue.ok());
    queue_ = std::move(queue.value());
    if (forwarding) {
      auto outbox = EventOutbox::Open(dir_.File("events.db"));
      REQUIRE(outbox.ok());
      outbox_ = std::move(outbox.value());
    }
    EventSinks::Parts parts;
    parts.queue = queue_.get();
    parts.outbox = outbox_.get();
    parts.session = "shop";
    parts.now_ms = [this] { return now_ms_; };
    parts.wake_forwarder = [this] { ++wakes_; };
    sinks_ = std::make_unique<EventSinks>(log_, std::move(parts));
  }

  // A message enqueued and marked sending: what the dispatcher hands over.
  SendRequest Sending(const std::string& text = "hello") {
    NewMessage message;
    message.to = kTo;
    message.content_json = R"({"body":"x"})";
    message.text = text;
    auto queued = queue_->Enqueue(message, now_ms_);
    REQUIRE(queued.ok());
    REQUIRE(queue_->MarkSending(queued->id, now_ms_).ok());
    SendRequest request;
    request.message_id = queued->id;
    request.to = kTo;
    request.text = text;
    return request;
  }

  // The provider's status webhook for `wamid`.
  static WebhookStatus Webhook(const std::string& wamid, MessageStatus status,
                               int64_t at_ms,
                               std::optional<ProviderError> error = {}) {
    WebhookStatus s;
    s.update = {wamid, status, at_ms, std::move(error)};
    s.recipient_id = kTo;
    return s;
  }

  // The status objects in the outbox, oldest first.
  std::vector<rapidjson::Document> Statuses() {
    auto pending = outbox_->Pending(100);
    REQUIRE(pending.ok());
    std::vector<rapidjson::Document> out;
    for (const StoredEvent& e : pending.value()) {
      rapidjson::Document doc = t::Json(e.event.json);
      REQUIRE(doc.IsObject());
      CHECK(t::StringAt(doc, "id") == e.event.id);
      CHECK(t::StringAt(doc, "type") == "status");
      CHECK(t::StringAt(doc, "session") == "shop");
      CHECK(e.event.chat == kTo);
      out.push_back(std::move(doc));
    }
    return out;
  }
  // "status" of each status event, oldest first.
  std::vector<std::string> StatusNames() {
    std::vector<std::string> names;
    for (auto& doc : Statuses()) {
      names.push_back(t::StringAt(doc["status"], "status"));
    }
    return names;
  }

  OutboundMessage Get(const std::string& id) {
    auto m = queue_->Get(id);
    REQUIRE(m.ok());
    REQUIRE(m->has_value());
    return **m;
  }

  EventSinks& sinks() { return *sinks_; }
  MessageQueue& queue() { return *queue_; }
  EventOutbox* outbox() { return outbox_.get(); }
  int wakes() const { return wakes_; }
  int64_t now_ms_ = 1'700'000'000'000;

 private:
  t::TempDir dir_;
  common::Logger log_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<EventOutbox> outbox_;
  std::unique_ptr<EventSinks> sinks_;
  int wakes_ = 0;
};

SendResult Accepted(const std::string& wamid) {
  SendResult result;
  result.ok = true;
  result.provider_id = wamid;
  result.message_status = "accepted";
  return result;
}

SendResult Refused(ProviderError error) {
  SendResult result;
  result.error = std::move(error);
  return result;
}

TEST_CASE(
    "event sinks: our sent is one event, Meta's later sent adds none, "
    "delivered and read one each",
    "[event_sinks]") {
  Fixture f;
  const SendRequest request = f.Sending();
  REQUIRE(
      f.sinks()
          .OnDispatched(DispatchResult::kSent, request, Accepted("wamid.S1"))
          .ok());
  // A worker killed before MarkSent hands the same answer over again.
  REQUIRE(
      f.sinks()
          .OnDispatched(DispatchResult::kSent, request, Accepted("wamid.S1"))
          .ok());
  REQUIRE(f.queue().MarkSent(request.message_id, "wamid.S1", f.now_ms_).ok());
  {
    auto statuses = f.Statuses();
    REQUIRE(statuses.size() == 1);
    const rapidjson::Value& s = statuses[0]["status"];
    CHECK(t::StringAt(s, "messageId") == request.message_id);
    CHECK(t::StringAt(s, "providerId") == "wamid.S1");
    CHECK(t::StringAt(s, "status") == "sent");
    CHECK_FALSE(s.HasMember("error"));
    CHECK(statuses[0]["timestamp"].GetInt64() == f.now_ms_);
    CHECK(f.wakes() == 1);  // the repeat stored nothing, woke nothing
  }

  // Meta's own sent: the queue is already there, nothing moves.
  REQUIRE(f.sinks()
              .OnStatusEvent(Fixture::Webhook("wamid.S1", MessageStatus::kSent,
                                              f.now_ms_ + 1))
              .ok());
  CHECK(f.StatusNames() == std::vector<std::string>{"sent"});
  for (MessageStatus status : {MessageStatus::kDelivered, MessageStatus::kRead,
                               MessageStatus::kDelivered /* late */}) {
    REQUIRE(
        f.sinks()
            .OnStatusEvent(Fixture::Webhook("wamid.S1", status, f.now_ms_ + 2))
            .ok());
  }
  CHECK(f.StatusNames() ==
        std::vector<std::string>{"sent", "delivered", "read"});
  CHECK(f.Get(request.message_id).status == MessageStatus::kRead);
  for (auto& doc : f.Statuses()) {
    CHECK(t::StringAt(doc["status"], "messageId") == request.message_id);
  }
}

TEST_CASE(
    "event sinks: a send that failed is one failed event with the queue's "
    "error",
    "[event_sinks]") {
  Fixture f;
  const SendRequest request = f.Sending();
  const ProviderError undeliverable{"131026", "Message undeliverable", false};
  // A retry is no status change: the message is still on its way.
  REQUIRE(f.sinks()
              .OnDispatched(DispatchResult::kRetry, request,
                            Refused({"131000", "Something went wrong", true}))
              .ok());
  CHECK(f.Statuses().empty());

  REQUIRE(f.sinks()
              .OnDispatched(DispatchResult::kFailed, request,
                            Refused(undeliverable))
              .ok());
  REQUIRE(
      f.queue().MarkFailed(request.message_id, undeliverable, f.now_ms_).ok());
  auto statuses = f.Statuses();
  REQUIRE(statuses.size() == 1);
  const rapidjson::Value& s = statuses[0]["status"];
  CHECK(t::StringAt(s, "messageId") == request.message_id);
  CHECK(s["providerId"].IsNull());
  CHECK(t::StringAt(s, "status") == "failed");
  // The same error GET /api/messages/{id} shows.
  const OutboundMessage kept = f.Get(request.message_id);
  REQUIRE(kept.error.has_value());
  CHECK(t::StringAt(s["error"], "code") == kept.error->code);
  CHECK(t::StringAt(s["error"], "message") == kept.error->message);
  CHECK(s["error"]["retryable"].GetBool() == kept.error->retryable);
  CHECK(t::StringAt(s["error"], "code") == "131026");
}

TEST_CASE(
    "event sinks: Meta's failed status with errors fails our message and "
    "forwards the error",
    "[event_sinks]") {
  Fixture f;
  const SendRequest request = f.Sending();
  REQUIRE(
      f.sinks()
          .OnDispatched(DispatchResult::kSent, request, Accepted("wamid.F1"))
          .ok());
  REQUIRE(f.queue().MarkSent(request.message_id, "wamid.F1", f.now_ms_).ok());
  const ProviderError outside{"131047", "Re-engagement message", false};
  REQUIRE(f.sinks()
              .OnStatusEvent(Fixture::Webhook(
                  "wamid.F1", MessageStatus::kFailed, f.now_ms_ + 5, outside))
              .ok());
  const OutboundMessage m = f.Get(request.message_id);
  CHECK(m.status == MessageStatus::kFailed);
  CHECK(m.error == std::optional<ProviderError>(outside));
  auto statuses = f.Statuses();
  REQUIRE(statuses.size() == 2);
  const rapidjson::Value& s = statuses[1]["status"];
  CHECK(t::StringAt(s, "messageId") == request.message_id);
  CHECK(t::StringAt(s, "providerId") == "wamid.F1");
  CHECK(t::StringAt(s, "status") == "failed");
  CHECK(t::StringAt(s["error"], "code") == "131047");
  CHECK(t::StringAt(s["error"], "message") == "Re-engagement message");
  CHECK(s["error"]["retryable"].IsFalse());
  CHECK(statuses[1]["timestamp"].GetInt64() == f.now_ms_ + 5);
}

TEST_CASE(
    "event sinks: a status for a wamid the queue does not know is forwarded "
    "with messageId null",
    "[event_sinks]") {
  Fixture f;
  // Sent by another app on the same number (or ours, its MarkSent not yet
  // committed): nothing to move, still one event.
  const WebhookStatus foreign = Fixture::Webhook(
      "wamid.other-app", MessageStatus::kDelivered, f.now_ms_ + 7);
  REQUIRE(f.sinks().OnStatusEvent(foreign).ok());
  REQUIRE(f.sinks().OnStatusEvent(foreign).ok());  // a repeat: stored once
  auto statuses = f.Statuses();
  REQUIRE(statuses.size() == 1);
  const rapidjson::Value& s = statuses[0]["status"];
  CHECK(s["messageId"].IsNull());
  CHECK(t::StringAt(s, "providerId") == "wamid.other-app");
  CHECK(t::StringAt(s, "status") == "delivered");
  CHECK(statuses[0]["timestamp"].GetInt64() == f.now_ms_ + 7);
  CHECK(t::StringAt(statuses[0], "id") ==
        StatusEventId("wamid.other-app", "delivered"));
  auto stats = f.queue().Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == 0);
}

TEST_CASE(
    "event sinks: without an outbox the queue still moves and nothing fails",
    "[event_sinks]") {
  Fixture f(/*forwarding=*/false);
  REQUIRE(f.outbox() == nullptr);
  const SendRequest request = f.Sending();
  CHECK(f.sinks()
            .OnDispatched(DispatchResult::kSent, request, Accepted("wamid.N1"))
            .ok());
  REQUIRE(f.queue().MarkSent(request.message_id, "wamid.N1", f.now_ms_).ok());
  CHECK(f.sinks()
            .OnStatusEvent(Fixture::Webhook(
                "wamid.N1", MessageStatus::kDelivered, f.now_ms_))
            .ok());
  CHECK(f.sinks()
            .OnStatusEvent(Fixture::Webhook("wamid.unknown",
                                            MessageStatus::kRead, f.now_ms_))
            .ok());
  CHECK(f.Get(request.message_id).status == MessageStatus::kDelivered);
  CHECK(f.wakes() == 0);
}

}  // namespace
}  // namespace dynoguard::worker
