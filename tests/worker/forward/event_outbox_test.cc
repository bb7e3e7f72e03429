#include "worker/forward/event_outbox.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace dynoguard::worker {
namespace {

using testing::TempDir;

constexpr int64_t kNow = 1'700'000'000'000;

ForwardEvent Event(const std::string& id, const std::string& chat) {
  return ForwardEvent{id, "message", chat, kNow,
                      R"({"id":")" + id + R"(","type":"message"})"};
}

std::unique_ptr<EventOutbox> Open(const TempDir& dir) {
  auto outbox = EventOutbox::Open(dir.File("events.db"));
  INFO(outbox.status().ToString());
  REQUIRE(outbox.ok());
  return std::move(outbox).value();
}

std::vector<std::string> Ids(const std::vector<StoredEvent>& events) {
  std::vector<std::string> ids;
  for (const StoredEvent& e : events) ids.push_back(e.event.id);
  return ids;
}

std::vector<std::string> DueIds(EventOutbox& outbox, int64_t now,
                                size_t max = 10,
                                const std::set<std::string>& busy = {}) {
  auto pick = outbox.NextDue(now, max, busy);
  REQUIRE(pick.ok());
  return Ids(pick->due);
}

// The details of EXPLAIN QUERY PLAN for `sql` on the database at `path`, one
// line each.
std::string QueryPlan(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + sql;
  INFO(sql);
  REQUIRE(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr) ==
          SQLITE_OK);
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    plan += '\n';
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return plan;
}

TEST_CASE(
    "outbox: the counts, the dead letters and the prune read through the "
    "indexes, not every event kept",
    "[forward]") {
  TempDir dir;
  Open(dir);  // creates the schema
  for (const std::string& sql :
       {EventOutbox::StatsSql(), EventOutbox::DeadLettersSql(),
        EventOutbox::PruneSql()}) {
    const std::string plan = QueryPlan(dir.File("events.db"), sql);
    INFO(sql << "\n" << plan);
    // Before, `state = 'dead'` could not use events_done (a partial index on
    // state <> 'pending'): a scan of the whole table, and a sort of it. (A
    // count of the pending events walks their own index: "SCAN events USING
    // INDEX events_pending".)
    CHECK(plan.find("SCAN events\n") == std::string::npos);
    CHECK(plan.find("SCAN e\n") == std::string::npos);
    CHECK(plan.find("TEMP B-TREE") == std::string::npos);
  }
}

TEST_CASE("outbox: appended events are durable and private", "[forward]") {
  TempDir dir;
  {
    auto outbox = Open(dir);
    std::vector<ForwardEvent> events = {Event("evt_1", "a"),
                                        Event("evt_2", "b")};
    auto added = outbox->Append(events, kNow);
    REQUIRE(added.ok());
    CHECK(*added == 2);
  }
  struct stat st {};
  REQUIRE(::stat(dir.File("events.db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto reopened = Open(dir);
  auto got = reopened->Get("evt_2");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->event.chat == "b");
  CHECK((*got)->event.json == Event("evt_2", "b").json);
  CHECK((*got)->attempts == 0);
  CHECK((*got)->created_ms == kNow);
  auto stats = reopened->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->pending == 2);
  CHECK(stats->oldest_pending_ms == kNow);
}

TEST_CASE("outbox: the same id appended twice is stored once", "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  CHECK(*outbox->Append(Event("evt_1", "a"), kNow) == 1);
  CHECK(*outbox->Append(Event("evt_1", "a"), kNow + 1) == 0);
  std::vector<ForwardEvent> batch = {Event("evt_1", "a"), Event("evt_2", "a"),
                                     Event("evt_2", "a")};
  CHECK(*outbox->Append(batch, kNow + 2) == 1);
  // Also once delivered: a repeat is not delivered again.
  REQUIRE(outbox->MarkDelivered("evt_1", kNow + 3).ok());
  CHECK(*outbox->Append(Event("evt_1", "a"), kNow + 4) == 0);
  CHECK(outbox->Stats()->pending == 1);
}

TEST_CASE("outbox: bad events are refused and nothing is stored", "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("evt_1", "a"), Event("", "a")};
  auto added = outbox->Append(batch, kNow);
  REQUIRE_FALSE(added.ok());
  CHECK(added.status().code() == common::Status::Code::kInvalidArgument);
  ForwardEvent no_json = Event("evt_3", "a");
  no_json.json.clear();
  CHECK_FALSE(outbox->Append(no_json, kNow).ok());
  CHECK(outbox->Stats()->pending == 0);
}

TEST_CASE("outbox: one head per chat, in insertion order", "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("a1", "A"), Event("b1", "B"),
                                     Event("a2", "A"), Event("c1", "C"),
                                     Event("b2", "B")};
  REQUIRE(outbox->Append(batch, kNow).ok());
  CHECK(DueIds(*outbox, kNow) == std::vector<std::string>{"a1", "b1", "c1"});
  CHECK(DueIds(*outbox, kNow, 2) == std::vector<std::string>{"a1", "b1"});
  CHECK(DueIds(*outbox, kNow, 10, {"A"}) ==
        std::vector<std::string>{"b1", "c1"});
  CHECK(DueIds(*outbox, kNow, 0).empty());

  REQUIRE(outbox->MarkDelivered("a1", kNow).ok());
  CHECK(DueIds(*outbox, kNow) == std::vector<std::string>{"b1", "a2", "c1"});
  REQUIRE(outbox->MarkDead("b1", "http_400", kNow).ok());
  CHECK(DueIds(*outbox, kNow) == std::vector<std::string>{"a2", "c1", "b2"});
}

TEST_CASE("outbox: a retry holds its chat until due, others go on",
          "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("a1", "A"), Event("a2", "A"),
                                     Event("b1", "B")};
  REQUIRE(outbox->Append(batch, kNow).ok());
  REQUIRE(outbox->MarkRetry("a1", kNow + 5000, "http_503", kNow).ok());

  auto pick = outbox->NextDue(kNow + 1, 10, {});
  REQUIRE(pick.ok());
  CHECK(Ids(pick->due) == std::vector<std::string>{"b1"});
  CHECK(pick->next_due_ms == kNow + 5000);
  // A busy chat's waiting head does not count for the next wake-up.
  pick = outbox->NextDue(kNow + 1, 10, {"A"});
  REQUIRE(pick.ok());
  CHECK_FALSE(pick->next_due_ms.has_value());

  CHECK(DueIds(*outbox, kNow + 5000) == std::vector<std::string>{"a1", "b1"});
  auto a1 = outbox->Get("a1");
  REQUIRE(a1.ok());
  CHECK((*a1)->attempts == 1);
  CHECK((*a1)->last_error == "http_503");
  CHECK((*a1)->first_failure_ms == kNow);
  REQUIRE(outbox->MarkRetry("a1", kNow + 9000, "timeout", kNow + 6000).ok());
  a1 = outbox->Get("a1");
  CHECK((*a1)->attempts == 2);
  CHECK((*a1)->first_failure_ms == kNow);  // the first failure is kept
  CHECK((*a1)->last_error == "timeout");
}

TEST_CASE("outbox: Record applies several outcomes at once", "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("a1", "A"), Event("b1", "B"),
                                     Event("c1", "C")};
  REQUIRE(outbox->Append(batch, kNow).ok());
  std::vector<EventOutcome> outcomes = {
      {"a1", EventOutcome::Kind::kDelivered, 0, ""},
      {"b1", EventOutcome::Kind::kRetry, kNow + 100, "connect"},
      {"c1", EventOutcome::Kind::kDead, 0, "http_404"},
      {"unknown", EventOutcome::Kind::kDelivered, 0, ""},
  };
  REQUIRE(outbox->Record(outcomes, kNow + 10).ok());
  CHECK(*outbox->State("a1") == "delivered");
  CHECK(*outbox->State("b1") == "pending");
  CHECK(*outbox->State("c1") == "dead");
  CHECK_FALSE(outbox->State("unknown")->has_value());
  // A second outcome for a finished event changes nothing.
  REQUIRE(outbox->MarkDelivered("c1", kNow + 20).ok());
  REQUIRE(outbox->MarkDelivered("a1", kNow + 20).ok());
  auto stats = outbox->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->pending == 1);
  CHECK(stats->dead == 1);
  CHECK(stats->delivered_total == 1);
}

TEST_CASE("outbox: dead letters newest first, with their error", "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("d1", "A"), Event("d2", "B"),
                                     Event("d3", "C")};
  REQUIRE(outbox->Append(batch, kNow).ok());
  REQUIRE(outbox->MarkDead("d1", "http_400", kNow + 1).ok());
  REQUIRE(outbox->MarkDead("d2", "http_410", kNow + 2).ok());
  REQUIRE(outbox->MarkDead("d3", "connect", kNow + 3).ok());
  auto dead = outbox->DeadLetters(2);
  REQUIRE(dead.ok());
  CHECK(Ids(*dead) == std::vector<std::string>{"d3", "d2"});
  CHECK((*dead)[0].last_error == "connect");
  CHECK((*dead)[0].attempts == 1);
}

TEST_CASE("outbox: prune drops old delivered or dead events, keeps the count",
          "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<ForwardEvent> batch = {Event("e1", "A"), Event("e2", "A"),
                                     Event("e3", "A"), Event("e4", "B")};
  REQUIRE(outbox->Append(batch, kNow).ok());
  REQUIRE(outbox->MarkDelivered("e1", kNow + 1).ok());
  REQUIRE(outbox->MarkDelivered("e2", kNow + 2).ok());
  REQUIRE(outbox->MarkDelivered("e3", kNow + 100).ok());
  REQUIRE(outbox->MarkDead("e4", "http_400", kNow + 1).ok());
  auto pruned = outbox->Prune("delivered", kNow + 50, 1);
  REQUIRE(pruned.ok());
  CHECK(*pruned == 1);
  CHECK_FALSE(outbox->Get("e1")->has_value());
  CHECK(*outbox->Prune("delivered", kNow + 50, 100) == 1);
  CHECK_FALSE(outbox->Get("e2")->has_value());
  CHECK(outbox->Get("e3")->has_value());          // too recent
  CHECK(outbox->Get("e4")->has_value());          // dead letters have their own
  CHECK(*outbox->Prune("dead", kNow, 100) == 0);  // not before its update
  CHECK(*outbox->Prune("dead", kNow + 50, 100) == 1);
  CHECK_FALSE(outbox->Get("e4")->has_value());
  CHECK(outbox->Prune("pending", kNow + 50, 100).status().code() ==
        common::Status::Code::kInvalidArgument);
  auto stats = outbox->Stats();
  CHECK(stats->delivered_total == 3);  // delivered ever, pruned or not
  CHECK(stats->dead == 0);             // the dead letters kept
}

TEST_CASE("outbox: concurrent appends lose nothing, each in order",
          "[forward]") {
  TempDir dir;
  auto outbox = Open(dir);
  std::vector<std::thread> threads;
  std::atomic<int> shared_inserted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&outbox, &shared_inserted, t] {
      for (int i = 0; i < 25; ++i) {
        auto added = outbox->Append(
            Event("evt_" + std::to_string(t) + "_" + std::to_string(i),
                  "chat" + std::to_string(t)),
            kNow);
        if (!added.ok() || *added != 1) std::abort();
        // The same event from every thread (batched together or not):
        // stored, and counted as new, once.
        auto shared = outbox->Append(Event("evt_shared", "shared"), kNow);
        if (!shared.ok()) std::abort();
        shared_inserted += *shared;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(shared_inserted == 1);
  REQUIRE(outbox->MarkDelivered("evt_shared", kNow).ok());
  CHECK(outbox->Stats()->pending == 100);
  // Each chat's events come out in the order its thread appended them.
  for (int i = 0; i < 25; ++i) {
    auto pick = outbox->NextDue(kNow, 10, {});
    REQUIRE(pick.ok());
    REQUIRE(pick->due.size() == 4);
    std::vector<EventOutcome> outcomes;
    for (const StoredEvent& e : pick->due) {
      CHECK(e.event.id.substr(e.event.id.rfind('_') + 1) == std::to_string(i));
      outcomes.push_back({e.event.id, EventOutcome::Kind::kDelivered, 0, ""});
    }
    REQUIRE(outbox->Record(outcomes, kNow).ok());
  }
  CHECK(outbox->Stats()->delivered_total == 101);
}

}  // namespace
}  // namespace dynoguard::worker
