// The session's collect and merge over real SQLite stores: what one instance
// leaves is carried into an empty DATA_DIR without duplicates.
#include "worker/session/session_merge.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/support/temp_dir.h"
#include "worker/forward/forward_event.h"
#include "worker/inbound/inbound_policy.h"
#include "worker/session/session_collector.h"

namespace dynoguard::worker {
namespace {

constexpr int64_t kT = 1'700'000'000'000;

// The three local stores of one DATA_DIR.
struct Stores {
  explicit Stores(const testing::TempDir& dir) {
    auto q = MessageQueue::Open(dir.File("queue.db"));
    REQUIRE(q.ok());
    queue = std::move(q).value();
    auto i = InboundStore::Open(dir.File("inbound.db"));
    REQUIRE(i.ok());
    inbox = std::move(i).value();
    auto o = EventOutbox::Open(dir.File("events.db"));
    REQUIRE(o.ok());
    outbox = std::move(o).value();
  }
  SessionSources Sources(bool with_outbox = true) {
    SessionSources s;
    s.queue = queue.get();
    s.inbox = inbox.get();
    s.outbox = with_outbox ? outbox.get() : nullptr;
    s.connection = [] {
      ConnectionFacts f;
      f.state = "connected";
      f.last_heartbeat_ms = kT;
      return f;
    };
    return s;
  }
  std::unique_ptr<MessageQueue> queue;
  std::unique_ptr<InboundStore> inbox;
  std::unique_ptr<EventOutbox> outbox;
};

NewMessage Text(std::string to, std::string text, std::string key = "") {
  NewMessage m;
  m.to = std::move(to);
  m.type = "text";
  m.text = text;
  m.content_json = "{\"body\":\"" + text + "\"}";
  m.idempotency_key = std::move(key);
  return m;
}

// An old instance's DATA_DIR with one of everything.
void Populate(Stores& old) {
  auto a = old.queue->Enqueue(Text("15550001", "first", "key-1"), kT);
  auto b = old.queue->Enqueue(Text("15550001", "second"), kT + 1);
  auto c = old.queue->Enqueue(Text("15550002", "sent one"), kT + 2);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  // b is in flight when the instance stops; c was sent and awaits a status.
  REQUIRE(old.queue->MarkSending(b->id, kT + 3).ok());
  REQUIRE(old.queue->MarkSending(c->id, kT + 3).ok());
  REQUIRE(old.queue->MarkSent(c->id, "wamid.C", kT + 4, "accepted").ok());
  REQUIRE(old.inbox->MarkSeen("m:wamid.IN1", kT).ok());
  REQUIRE(old.inbox->MarkSeen("m:wamid.OLD", kT - 8 * 24 * kHourMs).ok());
  REQUIRE(old.inbox->RecordInbound("15550001", kT).ok());
  REQUIRE(old.inbox->Append(InboxSource::kWebhook, "{\"raw\":1}", kT).ok());
  ForwardEvent e = BuildConnectionEvent(ConnectionState::kConnected, "", kT);
  REQUIRE(old.outbox->Append(e, kT).ok());
  REQUIRE(old.outbox->MarkRetry(e.id, kT + 5000, "http 503", kT + 1).ok());
}

TEST_CASE(
    "session: collect takes pending, awaiting, inbox, outbox, dedup "
    "and windows",
    "[session]") {
  testing::TempDir dir;
  Stores old(dir);
  Populate(old);
  auto state = CollectSession(old.Sources(), kT + 10);
  REQUIRE(state.ok());
  REQUIRE(state->pending.size() == 2);
  CHECK(state->pending[0].text == "first");
  CHECK(state->pending[1].status == MessageStatus::kSending);
  REQUIRE(state->awaiting_status.size() == 1);
  CHECK(state->awaiting_status[0].provider_id == "wamid.C");
  REQUIRE(state->inbox.size() == 1);
  REQUIRE(state->outbox.size() == 1);
  CHECK(state->outbox[0].attempts == 1);
  CHECK(state->outbox[0].next_attempt_ms == kT + 5000);
  REQUIRE(state->seen.size() == 2);
  CHECK(state->seen[0].key == "m:wamid.OLD");  // oldest first
  REQUIRE(state->windows.size() == 1);
  CHECK(state->windows[0].wa_id == "15550001");
  CHECK(state->connection.state == "connected");
  CHECK(state->saved_ms == kT + 10);
}

TEST_CASE(
    "session: pending messages past pending_max_bytes stop the collect "
    "early and mark it over the cap",
    "[session]") {
  testing::TempDir dir;
  Stores stores(dir);
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(stores.queue
                ->Enqueue(Text("1555" + std::to_string(i),
                               "hello " + std::to_string(i)),
                          kT + i)
                .ok());
  }
  SECTION("a cap they fit under: every one, not over") {
    CollectLimits limits;
    limits.pending_max_bytes = 4 << 20;
    CollectReport report;
    auto state = CollectSession(stores.Sources(), kT, limits, &report);
    REQUIRE(state.ok());
    CHECK_FALSE(report.pending_over_cap);
    CHECK(state->pending.size() == 3000);
  }
  SECTION("a cap they pass: over, and none kept") {
    CollectLimits limits;
    limits.pending_max_bytes = 16 << 10;
    CollectReport report;
    size_t visited = 0;
    auto state = CollectSession(stores.Sources(), kT, limits, &report);
    REQUIRE(state.ok());
    CHECK(report.pending_over_cap);
    CHECK(state->pending.empty());
    REQUIRE(
        stores.queue
            ->ForEachPending([&](OutboundMessage&&) { return ++visited < 10; })
            .ok());
    CHECK(visited == 10);  // ForEachPending stops when asked
  }
  SECTION("no cap: every one") {
    CollectReport report;
    auto state = CollectSession(stores.Sources(), kT, {}, &report);
    REQUIRE(state.ok());
    CHECK_FALSE(report.pending_over_cap);
    CHECK(state->pending.size() == 3000);
  }
}

TEST_CASE("session: a merge into an empty DATA_DIR restores everything once",
          "[session]") {
  testing::TempDir old_dir;
  Stores old(old_dir);
  Populate(old);
  auto state = CollectSession(old.Sources(), kT + 10);
  REQUIRE(state.ok());

  testing::TempDir new_dir;
  Stores fresh(new_dir);
  auto merged = MergeSession(*state, fresh.Sources(), kT + 20);
  REQUIRE(merged.ok());
  CHECK(merged->restored.pending == 2);
  CHECK(merged->restored.awaiting_status == 1);
  CHECK(merged->restored.outbox == 1);
  CHECK(merged->restored.inbox == 1);
  CHECK(merged->restored.seen == 1);  // the 8-day-old key has expired
  CHECK(merged->skipped.seen == 1);
  CHECK(merged->restored.windows == 1);

  // The in-flight message is queued again, ids and order kept.
  auto pending = fresh.queue->Pending();
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 2);
  CHECK((*pending)[0].id == state->pending[0].id);
  CHECK((*pending)[1].id == state->pending[1].id);
  CHECK((*pending)[1].status == MessageStatus::kQueued);
  // A later status of the sent message finds it.
  auto change = fresh.queue->RecordProviderStatus(
      "wamid.C", MessageStatus::kDelivered, std::nullopt, kT + 30);
  REQUIRE(change.ok());
  CHECK(change->changed);
  CHECK(change->message_id == state->awaiting_status[0].id);
  // The idempotency key still answers with the original message.
  auto repeat = fresh.queue->Enqueue(Text("15550001", "first", "key-1"), kT);
  REQUIRE(repeat.ok());
  CHECK_FALSE(repeat->created);
  CHECK(repeat->id == state->pending[0].id);
  // Dedup, window, outbox with its retry state.
  CHECK(fresh.inbox->IsSeen("m:wamid.IN1").value());
  CHECK(fresh.inbox->WindowOpen("15550001", kT + 100));
  auto event = fresh.outbox->Get(state->outbox[0].event.id);
  REQUIRE(event.ok());
  REQUIRE(event->has_value());
  CHECK((*event)->attempts == 1);
  CHECK((*event)->next_attempt_ms == kT + 5000);
  CHECK((*event)->last_error == "http 503");

  SECTION("a second merge of the same state adds nothing") {
    auto again = MergeSession(*state, fresh.Sources(), kT + 40);
    REQUIRE(again.ok());
    CHECK(again->restored.pending == 0);
    CHECK(again->skipped.pending == 2);
    CHECK(again->restored.outbox == 0);
    CHECK(fresh.queue->Pending()->size() == 2);
  }
  SECTION("without WEBHOOK_URL the outbox events are counted as skipped") {
    testing::TempDir other_dir;
    Stores other(other_dir);
    auto m = MergeSession(*state, other.Sources(false), kT + 20);
    REQUIRE(m.ok());
    CHECK(m->skipped.outbox == 1);
    CHECK(m->restored.outbox == 0);
  }
}

TEST_CASE("session: a closed window and old keys are not restored",
          "[session]") {
  testing::TempDir dir;
  Stores fresh(dir);
  SessionState state;
  state.windows.push_back({"15559999", kT});
  state.seen.push_back({"m:x", kT});
  const int64_t two_days_later = kT + 48 * kHourMs;
  auto merged = MergeSession(state, fresh.Sources(), two_days_later);
  REQUIRE(merged.ok());
  CHECK(merged->skipped.windows == 1);
  CHECK(merged->restored.seen == 1);
  CHECK_FALSE(fresh.inbox->WindowOpen("15559999", two_days_later));
}

}  // namespace
}  // namespace dynoguard::worker
