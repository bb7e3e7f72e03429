#include "worker/outbound/message_queue.h"

#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace dynoguard::worker {
namespace {

using common::Status;

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "dynoguard-queue-XXXXXX")
            .string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<MessageQueue> OpenQueue(const std::string& path) {
  auto queue = MessageQueue::Open(path);
  INFO(queue.status().ToString());
  REQUIRE(queue.ok());
  return std::move(*queue);
}

NewMessage Text(std::string to, std::string text, std::string key = "") {
  NewMessage message;
  message.to = std::move(to);
  message.text = std::move(text);
  message.idempotency_key = std::move(key);
  return message;
}

std::string MustEnqueue(MessageQueue& queue, const NewMessage& message,
                        int64_t now_ms) {
  auto result = queue.Enqueue(message, now_ms);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  REQUIRE(result->created);
  return result->id;
}

OutboundMessage MustGet(MessageQueue& queue, const std::string& id) {
  auto result = queue.Get(id);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  REQUIRE(result->has_value());
  return **result;
}

QueueStats MustStats(MessageQueue& queue) {
  auto stats = queue.Stats();
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return *stats;
}

void RequireOk(const Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

const ProviderError kThrottled{"130429", "rate limit hit", true};
const ProviderError kOutsideWindow{"131047", "re-engagement message", false};

TEST_CASE("MessageQueue: enqueue then get returns every field",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  NewMessage message;
  message.to = "15551234567";
  message.template_json =
      R"({"name":"hello_world","language":{"code":"en_US"}})";
  message.reply_to = "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI";
  message.idempotency_key = "order-42";
  std::string id = MustEnqueue(*queue, message, 1000);

  CHECK(id.size() == 28);
  CHECK(id.rfind("msg_", 0) == 0);
  CHECK(id.find_first_not_of("0123456789abcdef", 4) == std::string::npos);

  OutboundMessage stored = MustGet(*queue, id);
  CHECK(stored.id == id);
  CHECK(stored.to == message.to);
  CHECK(stored.text.empty());
  CHECK(stored.template_json == message.template_json);
  CHECK(stored.reply_to == message.reply_to);
  CHECK(stored.idempotency_key == "order-42");
  CHECK(stored.status == MessageStatus::kQueued);
  CHECK(stored.attempts == 0);
  CHECK(stored.provider_id.empty());
  CHECK_FALSE(stored.error.has_value());
  CHECK(stored.next_attempt_ms == 1000);
  CHECK(stored.created_ms == 1000);
  CHECK(stored.updated_ms == 1000);

  auto missing = queue->Get("msg_000000000000000000000000");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
}

// The VM steps of `sql` run once on a read-only connection to `path`, with
// ?1 = `key`; REQUIREs a row.
int LookupSteps(const std::string& path, const std::string& sql,
                const std::string& key) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  CHECK(sqlite3_step(stmt) == SQLITE_ROW);
  const int steps = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return steps;
}

TEST_CASE(
    "MessageQueue: a delivery receipt and an idempotency key are looked up "
    "through their indexes, not by reading the table",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  // The oldest message was sent and has keys; 3,000 newer ones wait.
  NewMessage first = Text("15550000001", "first");
  first.idempotency_key = "order-1";
  const std::string id = MustEnqueue(*queue, first, 1000);
  RequireOk(queue->MarkSending(id, 1001));
  RequireOk(queue->MarkSent(id, "wamid.OLDEST", 1002));
  for (int i = 0; i < 3000; ++i) {
    NewMessage m = Text("1555" + std::to_string(i), "m");
    m.idempotency_key = "k-" + std::to_string(i);
    MustEnqueue(*queue, m, 2000 + i);
  }
  // Before, `provider_id = ?1` could not use the partial index (?1 might be
  // ''): the receipt read every row newer than its message (> 3,000 rows).
  CHECK(LookupSteps(dir.File("queue.db"),
                    MessageQueue::ByProviderIdSql("seq, status, id"),
                    "wamid.OLDEST") < 100);
  // A scan meets the newest key last.
  CHECK(LookupSteps(dir.File("queue.db"), MessageQueue::ByIdempotencyKeySql(),
                    "k-2999") < 100);
  // And they still find what they should: the receipt moves the message on,
  // the key answers the first id.
  RequireOk(queue->ApplyProviderStatus("wamid.OLDEST",
                                       MessageStatus::kDelivered, {}, 1003));
  CHECK(MustGet(*queue, id).status == MessageStatus::kDelivered);
  auto repeat = queue->Enqueue(first, 5000);
  REQUIRE(repeat.ok());
  CHECK(repeat->id == id);
  CHECK_FALSE(repeat->created);
}

TEST_CASE(
    "MessageQueue: NextDue reads the queued oldest first and stops at the "
    "first due head (no sort of the whole backlog)",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  for (int i = 0; i < 2000; ++i) {
    MustEnqueue(*queue, Text("1555" + std::to_string(i), "m"), 1000 + i);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(dir.File("queue.db").c_str(), &db,
                          SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, MessageQueue::NextDueSql().c_str(), -1, &stmt,
                             nullptr) == SQLITE_OK);
  sqlite3_bind_int64(stmt, 1, 1'000'000);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  // Through messages_due, SQLite sorted every queued row by seq (55 ms per
  // call with 150,000 waiting); now it reads one.
  CHECK(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 0) == 0);
  CHECK(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0) < 200);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  // The snapshot's pending read (ForEachPending) stops as early.
  int visited = 0;
  RequireOk(queue->ForEachPending([&](OutboundMessage&& m) {
    CHECK(m.to == "1555" + std::to_string(visited));  // oldest first
    return ++visited < 3;
  }));
  CHECK(visited == 3);
  // And it is the oldest.
  auto due = queue->NextDue(1'000'000);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->to == "15550");
}

TEST_CASE("MessageQueue: ReleaseMemory hands back the page caches",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::vector<std::string> ids;
  for (int i = 0; i < 500; ++i) {
    ids.push_back(
        MustEnqueue(*queue, Text("1555" + std::to_string(i), "m"), 1000 + i));
  }
  MustStats(*queue);  // the read connection's cache too
  CHECK(queue->ReleaseMemory() > 0);
  // Released, the caches hold (almost) nothing; the queue works on.
  CHECK(queue->ReleaseMemory() < 16 * 1024);
  CHECK(MustGet(*queue, ids[250]).to == "1555250");
  MustEnqueue(*queue, Text("15559999", "after"), 5000);
  CHECK(MustStats(*queue).depth == 501);
}

TEST_CASE("MessageQueue: ids carry the enqueue time, so they sort by it",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  const std::string early = MustEnqueue(*queue, Text("1555", "a"), 0x10000);
  const std::string late = MustEnqueue(*queue, Text("1555", "b"), 0x10001);
  CHECK(early.rfind("msg_000000010000", 0) == 0);
  CHECK(late.rfind("msg_000000010001", 0) == 0);
  CHECK(early < late);
}

TEST_CASE("MessageQueue: ids are distinct", "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i)
    ids.insert(MustEnqueue(*queue, Text("1555", "hi"), i));
  CHECK(ids.size() == 50);
}

TEST_CASE(
    "MessageQueue: the same idempotency key gives the same id and one row",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string first = MustEnqueue(*queue, Text("1555", "hi", "key-1"), 1);

  auto again = queue->Enqueue(Text("1555", "hi", "key-1"), 2);
  REQUIRE(again.ok());
  CHECK(again->id == first);
  CHECK_FALSE(again->created);
  CHECK_FALSE(again->conflict);
  CHECK(MustGet(*queue, first).text == "hi");

  // No key, or another key: new messages.
  MustEnqueue(*queue, Text("1555", "hi"), 3);
  MustEnqueue(*queue, Text("1555", "hi"), 4);
  MustEnqueue(*queue, Text("1555", "hi", "key-2"), 5);
  CHECK(MustStats(*queue).depth == 4);
}

TEST_CASE("MessageQueue: concurrent enqueues with one key create one message",
          "[message_queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto shared = OpenQueue(path);
  auto other_connection = OpenQueue(path);

  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "race-" + std::to_string(round);
    std::vector<MessageQueue::EnqueueResult> results(3);
    std::vector<Status> errors(3);
    auto run = [&](MessageQueue* queue, int slot) {
      auto result = queue->Enqueue(Text("1555", "hi", key), round);
      if (result.ok()) {
        results[slot] = *result;
      } else {
        errors[slot] = result.status();
      }
    };
    // Two threads on one object, one on a second connection to the same file.
    std::thread a(run, shared.get(), 0);
    std::thread b(run, shared.get(), 1);
    std::thread c(run, other_connection.get(), 2);
    a.join();
    b.join();
    c.join();
    for (const Status& error : errors) {
      INFO(error.ToString());
      REQUIRE(error.ok());
    }
    CHECK(results[0].id == results[1].id);
    CHECK(results[0].id == results[2].id);
    CHECK(results[0].created + results[1].created + results[2].created == 1);
  }
  CHECK(MustStats(*shared).depth == kRounds);
}

TEST_CASE("MessageQueue: NextDue returns the oldest due message",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  auto empty = queue->NextDue(1000);
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());

  std::string first = MustEnqueue(*queue, Text("1", "first"), 100);
  std::string second = MustEnqueue(*queue, Text("2", "second"),
                                   50);  // older clock, later insert
  std::string third = MustEnqueue(*queue, Text("3", "third"), 300);

  auto due = queue->NextDue(200);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == first);  // insertion order, not timestamps

  // Postponing the first makes the second the oldest due one.
  RequireOk(queue->MarkRetry(first, kThrottled, 5000, 200));
  due = queue->NextDue(200);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == second);

  // A sending message is not due; a message never tried is due at once,
  // even when the clock went back since it was enqueued (third, at 300).
  RequireOk(queue->MarkSending(second, 200));
  due = queue->NextDue(200);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == third);

  // Once its time comes, the retried first message is the oldest again.
  due = queue->NextDue(5000);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == first);
}

TEST_CASE("MessageQueue: sending then sent", "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);

  RequireOk(queue->MarkSending(id, 20));
  OutboundMessage sending = MustGet(*queue, id);
  CHECK(sending.status == MessageStatus::kSending);
  CHECK(sending.attempts == 1);
  CHECK(sending.updated_ms == 20);

  RequireOk(queue->MarkSent(id, "wamid.ABC", 30));
  OutboundMessage sent = MustGet(*queue, id);
  CHECK(sent.status == MessageStatus::kSent);
  CHECK(sent.provider_id == "wamid.ABC");
  CHECK(sent.attempts == 1);
  CHECK_FALSE(sent.error.has_value());
  CHECK(sent.updated_ms == 30);
  CHECK(sent.created_ms == 10);
}

TEST_CASE("MessageQueue: retry keeps the error and counts attempts",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);

  RequireOk(queue->MarkSending(id, 20));
  RequireOk(queue->MarkRetry(id, kThrottled, 2020, 21));
  OutboundMessage retried = MustGet(*queue, id);
  CHECK(retried.status == MessageStatus::kQueued);
  CHECK(retried.attempts == 1);
  CHECK(retried.next_attempt_ms == 2020);
  REQUIRE(retried.error.has_value());
  CHECK(*retried.error == kThrottled);

  RequireOk(queue->MarkSending(id, 2020));
  RequireOk(queue->MarkSent(id, "wamid.X", 2030));
  OutboundMessage sent = MustGet(*queue, id);
  CHECK(sent.attempts == 2);
  CHECK_FALSE(sent.error.has_value());  // the last attempt succeeded
}

TEST_CASE("MessageQueue: failed is a dead letter with its error",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);
  RequireOk(queue->MarkSending(id, 20));
  RequireOk(queue->MarkFailed(id, kOutsideWindow, 30));

  OutboundMessage failed = MustGet(*queue, id);
  CHECK(failed.status == MessageStatus::kFailed);
  REQUIRE(failed.error.has_value());
  CHECK(*failed.error == kOutsideWindow);
  auto due = queue->NextDue(1000000);
  REQUIRE(due.ok());
  CHECK_FALSE(due->has_value());
}

TEST_CASE(
    "MessageQueue: transitions from the wrong state or for unknown ids are "
    "refused",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);

  CHECK(queue->MarkSent(id, "wamid.A", 11).code() ==
        Status::Code::kInvalidArgument);
  RequireOk(queue->MarkSending(id, 12));
  CHECK(queue->MarkSending(id, 13).code() ==
        Status::Code::kInvalidArgument);  // no double send
  RequireOk(queue->MarkSent(id, "wamid.A", 14));
  CHECK(queue->MarkRetry(id, kThrottled, 100, 15).code() ==
        Status::Code::kInvalidArgument);
  Status refused = queue->MarkFailed(id, kOutsideWindow, 16);
  CHECK(refused.code() == Status::Code::kInvalidArgument);
  CHECK(refused.message().find("is sent") != std::string::npos);
  CHECK(MustGet(*queue, id).status == MessageStatus::kSent);

  const std::string unknown = "msg_ffffffffffffffffffffffff";
  CHECK(queue->MarkSending(unknown, 1).code() == Status::Code::kNotFound);
  CHECK(queue->MarkSent(unknown, "w", 1).code() == Status::Code::kNotFound);
  CHECK(queue->MarkRetry(unknown, kThrottled, 1, 1).code() ==
        Status::Code::kNotFound);
  CHECK(queue->MarkFailed(unknown, kOutsideWindow, 1).code() ==
        Status::Code::kNotFound);
}

TEST_CASE("MessageQueue: provider statuses only move forward",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);
  RequireOk(queue->MarkSending(id, 11));
  RequireOk(queue->MarkSent(id, "wamid.P", 12));

  RequireOk(queue->ApplyProviderStatus("wamid.P", MessageStatus::kSent,
                                       std::nullopt, 13));
  CHECK(MustGet(*queue, id).status == MessageStatus::kSent);
  RequireOk(queue->ApplyProviderStatus("wamid.P", MessageStatus::kRead,
                                       std::nullopt, 14));
  CHECK(MustGet(*queue, id).status == MessageStatus::kRead);
  CHECK(MustGet(*queue, id).updated_ms == 14);
  // Meta delivers unordered: a late "delivered" after "read" changes nothing.
  RequireOk(queue->ApplyProviderStatus("wamid.P", MessageStatus::kDelivered,
                                       std::nullopt, 15));
  CHECK(MustGet(*queue, id).status == MessageStatus::kRead);
  CHECK(MustGet(*queue, id).updated_ms == 14);
  // A read message was delivered: a failure report for it is stale.
  RequireOk(queue->ApplyProviderStatus("wamid.P", MessageStatus::kFailed,
                                       kOutsideWindow, 16));
  CHECK(MustGet(*queue, id).status == MessageStatus::kRead);
}

TEST_CASE("MessageQueue: sent to delivered to read in order",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);
  RequireOk(queue->MarkSending(id, 11));
  RequireOk(queue->MarkSent(id, "wamid.Q", 12));
  RequireOk(queue->ApplyProviderStatus("wamid.Q", MessageStatus::kDelivered,
                                       std::nullopt, 13));
  CHECK(MustGet(*queue, id).status == MessageStatus::kDelivered);
  RequireOk(queue->ApplyProviderStatus("wamid.Q", MessageStatus::kRead,
                                       std::nullopt, 14));
  CHECK(MustGet(*queue, id).status == MessageStatus::kRead);
}

TEST_CASE("MessageQueue: provider failure is kept with its error and is final",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string with_error = MustEnqueue(*queue, Text("1", "a"), 10);
  std::string without_error = MustEnqueue(*queue, Text("2", "b"), 10);
  for (const auto& [id, wamid] :
       {std::pair{with_error, "wamid.F1"}, {without_error, "wamid.F2"}}) {
    RequireOk(queue->MarkSending(id, 11));
    RequireOk(queue->MarkSent(id, wamid, 12));
  }
  RequireOk(queue->ApplyProviderStatus("wamid.F1", MessageStatus::kDelivered,
                                       std::nullopt, 13));
  ProviderError undeliverable{"131026", "message undeliverable", false};
  RequireOk(queue->ApplyProviderStatus("wamid.F1", MessageStatus::kFailed,
                                       undeliverable, 14));
  RequireOk(queue->ApplyProviderStatus("wamid.F2", MessageStatus::kFailed,
                                       std::nullopt, 14));

  OutboundMessage failed = MustGet(*queue, with_error);
  CHECK(failed.status == MessageStatus::kFailed);
  REQUIRE(failed.error.has_value());
  CHECK(*failed.error == undeliverable);
  CHECK(failed.provider_id == "wamid.F1");

  OutboundMessage generic = MustGet(*queue, without_error);
  CHECK(generic.status == MessageStatus::kFailed);
  REQUIRE(generic.error.has_value());
  CHECK_FALSE(generic.error->retryable);
  CHECK_FALSE(generic.error->code.empty());

  RequireOk(queue->ApplyProviderStatus("wamid.F1", MessageStatus::kRead,
                                       std::nullopt, 15));
  CHECK(MustGet(*queue, with_error).status == MessageStatus::kFailed);
  CHECK(MustStats(*queue).dead_letters == 2);
}

TEST_CASE(
    "MessageQueue: provider status for an unknown id or a non-provider status "
    "is refused",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  CHECK(queue
            ->ApplyProviderStatus("wamid.nope", MessageStatus::kDelivered,
                                  std::nullopt, 1)
            .code() == Status::Code::kNotFound);
  CHECK(queue
            ->ApplyProviderStatus("wamid.nope", MessageStatus::kQueued,
                                  std::nullopt, 1)
            .code() == Status::Code::kInvalidArgument);
  CHECK(queue
            ->ApplyProviderStatus("wamid.nope", MessageStatus::kSending,
                                  std::nullopt, 1)
            .code() == Status::Code::kInvalidArgument);
}

TEST_CASE(
    "MessageQueue: Stats counts depth, in flight, dead letters and next "
    "time",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  QueueStats empty = MustStats(*queue);
  CHECK(empty.depth == 0);
  CHECK(empty.in_flight == 0);
  CHECK(empty.dead_letters == 0);
  CHECK_FALSE(empty.next_attempt_ms.has_value());

  std::vector<std::string> ids;
  // One recipient each: a message in flight holds later ones to its own
  // recipient (see the order test), which is not what this test is about.
  for (int i = 0; i < 6; ++i) {
    ids.push_back(
        MustEnqueue(*queue, Text("1555" + std::to_string(i), "m"), 100 + i));
  }
  RequireOk(queue->MarkSending(ids[0], 200));  // in flight
  RequireOk(queue->MarkSending(ids[1], 200));
  RequireOk(queue->MarkSent(ids[1], "wamid.1", 201));  // sent
  RequireOk(queue->MarkSending(ids[2], 200));
  RequireOk(queue->MarkSent(ids[2], "wamid.2", 201));
  RequireOk(queue->ApplyProviderStatus("wamid.2", MessageStatus::kRead,
                                       std::nullopt, 202));
  RequireOk(queue->MarkSending(ids[3], 200));
  RequireOk(queue->MarkFailed(ids[3], kOutsideWindow, 201));  // dead letter
  RequireOk(queue->MarkRetry(ids[4], kThrottled, 90, 200));  // queued, earliest
  // ids[5] queued at 105.

  QueueStats stats = MustStats(*queue);
  CHECK(stats.depth == 3);
  CHECK(stats.in_flight == 1);
  CHECK(stats.dead_letters == 1);
  REQUIRE(stats.next_attempt_ms.has_value());
  CHECK(*stats.next_attempt_ms == 90);
}

TEST_CASE("MessageQueue: Pending lists queued and sending oldest first",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string a = MustEnqueue(*queue, Text("1", "a"), 1);
  std::string b = MustEnqueue(*queue, Text("2", "b"), 2);
  std::string c = MustEnqueue(*queue, Text("3", "c"), 3);
  std::string d = MustEnqueue(*queue, Text("4", "d"), 4);
  RequireOk(queue->MarkSending(b, 5));
  RequireOk(queue->MarkSending(c, 5));
  RequireOk(queue->MarkSent(c, "wamid.c", 6));

  auto pending = queue->Pending();
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 3);
  CHECK((*pending)[0].id == a);
  CHECK((*pending)[1].id == b);
  CHECK((*pending)[1].status == MessageStatus::kSending);
  CHECK((*pending)[2].id == d);
}

TEST_CASE(
    "MessageQueue: DeadLetters lists failed messages, newest first, limited",
    "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::vector<std::string> failed;
  for (int i = 0; i < 4; ++i) {
    std::string id =
        MustEnqueue(*queue, Text("1555", "m" + std::to_string(i)), i);
    RequireOk(queue->MarkFailed(id, kOutsideWindow, 10 + i));
    failed.push_back(id);
  }
  MustEnqueue(*queue, Text("1555", "still queued"), 9);

  auto all = queue->DeadLetters(10);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  CHECK((*all)[0].id == failed[3]);
  CHECK((*all)[3].id == failed[0]);
  REQUIRE((*all)[0].error.has_value());
  CHECK((*all)[0].error->code == "131047");

  auto two = queue->DeadLetters(2);
  REQUIRE(two.ok());
  REQUIRE(two->size() == 2);
  CHECK((*two)[1].id == failed[2]);
}

TEST_CASE("MessageQueue: reopening after Close keeps everything",
          "[message_queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  std::string queued, sent, dead;
  {
    auto queue = OpenQueue(path);
    queued = MustEnqueue(*queue, Text("1", "queued", "k-queued"), 1);
    sent = MustEnqueue(*queue, Text("2", "sent"), 2);
    dead = MustEnqueue(*queue, Text("3", "dead"), 3);
    RequireOk(queue->MarkRetry(queued, kThrottled, 77, 4));
    RequireOk(queue->MarkSending(sent, 5));
    RequireOk(queue->MarkSent(sent, "wamid.S", 6));
    RequireOk(queue->MarkFailed(dead, kOutsideWindow, 7));
    RequireOk(queue->Close());
    RequireOk(queue->Close());  // twice is fine
    CHECK_FALSE(queue->Get(queued).ok());
    CHECK_FALSE(queue->Enqueue(Text("1", "late"), 8).ok());
  }
  auto queue = OpenQueue(path);
  OutboundMessage q = MustGet(*queue, queued);
  CHECK(q.status == MessageStatus::kQueued);
  CHECK(q.next_attempt_ms == 77);
  REQUIRE(q.error.has_value());
  CHECK(*q.error == kThrottled);
  CHECK(MustGet(*queue, sent).provider_id == "wamid.S");
  CHECK(MustGet(*queue, dead).status == MessageStatus::kFailed);
  // The idempotency key survives too.
  auto again = queue->Enqueue(Text("1", "queued", "k-queued"), 9);
  REQUIRE(again.ok());
  CHECK(again->id == queued);
  CHECK_FALSE(again->created);
  // Provider callbacks still find the sent message.
  RequireOk(queue->ApplyProviderStatus("wamid.S", MessageStatus::kDelivered,
                                       std::nullopt, 10));
}

TEST_CASE(
    "MessageQueue: a message left sending is queued again after reopening",
    "[message_queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  std::string id;
  {
    auto queue = OpenQueue(path);
    id = MustEnqueue(*queue, Text("1555", "in flight"), 1);
    RequireOk(queue->MarkSending(id, 2));
    // Destroyed without MarkSent: the worker died mid-send.
  }
  auto queue = OpenQueue(path);
  OutboundMessage message = MustGet(*queue, id);
  CHECK(message.status == MessageStatus::kQueued);
  CHECK(message.attempts == 1);
  auto due = queue->NextDue(2);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == id);
}

TEST_CASE("MessageQueue: every acknowledged enqueue survives SIGKILL",
          "[message_queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  constexpr int kMessages = 200;
  int fds[2];
  REQUIRE(pipe(fds) == 0);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: no Catch2 here, only enqueue, report each acknowledged id,
    // then die hard.
    close(fds[0]);
    auto queue = MessageQueue::Open(path);
    if (!queue.ok()) _exit(3);
    for (int i = 0; i < kMessages; ++i) {
      auto result =
          (*queue)->Enqueue(Text("1555", "crash " + std::to_string(i)), i);
      if (!result.ok()) _exit(4);
      std::string line = result->id + "\n";
      if (write(fds[1], line.data(), line.size()) !=
          static_cast<ssize_t>(line.size()))
        _exit(5);
    }
    kill(getpid(), SIGKILL);  // no Close, no destructors, no checkpoint
    _exit(6);
  }

  close(fds[1]);
  std::string acknowledged;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0)
    acknowledged.append(buffer, n);
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFSIGNALED(wstatus));
  CHECK(WTERMSIG(wstatus) == SIGKILL);

  std::vector<std::string> ids;
  for (size_t start = 0, end;
       (end = acknowledged.find('\n', start)) != std::string::npos;
       start = end + 1) {
    ids.push_back(acknowledged.substr(start, end - start));
  }
  REQUIRE(ids.size() == kMessages);

  auto queue = OpenQueue(path);
  for (int i = 0; i < kMessages; ++i) {
    OutboundMessage message = MustGet(*queue, ids[i]);
    CHECK(message.text == "crash " + std::to_string(i));
    CHECK(message.status == MessageStatus::kQueued);
  }
  CHECK(MustStats(*queue).depth == kMessages);
}

TEST_CASE("MessageQueue: Restore re-inserts snapshot messages once",
          "[message_queue]") {
  TempDir dir;
  auto source = OpenQueue(dir.File("old.db"));
  std::string id = MustEnqueue(*source, Text("1555", "carried", "snap-1"), 5);
  RequireOk(source->MarkSending(id, 6));
  auto pending = source->Pending();
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);

  auto queue = OpenQueue(dir.File("new.db"));
  auto restored = queue->Restore(pending->front());
  REQUIRE(restored.ok());
  CHECK(*restored);
  OutboundMessage message = MustGet(*queue, id);
  CHECK(message.status == MessageStatus::kQueued);  // was sending: send again
  CHECK(message.attempts == 1);
  CHECK(message.text == "carried");
  CHECK(message.created_ms == 5);

  auto twice = queue->Restore(pending->front());
  REQUIRE(twice.ok());
  CHECK_FALSE(*twice);
  auto by_key = queue->Enqueue(Text("1555", "carried", "snap-1"), 7);
  REQUIRE(by_key.ok());
  CHECK(by_key->id == id);
  CHECK(MustStats(*queue).depth == 1);

  CHECK(queue->Restore(OutboundMessage{}).status().code() ==
        Status::Code::kInvalidArgument);
}

TEST_CASE("MessageQueue: Prune deletes old finished messages only",
          "[message_queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string old_sent = MustEnqueue(*queue, Text("1", "a"), 1);
  std::string old_queued = MustEnqueue(*queue, Text("2", "b"), 1);
  std::string new_sent = MustEnqueue(*queue, Text("3", "c"), 1);
  RequireOk(queue->MarkSending(old_sent, 2));
  RequireOk(queue->MarkSent(old_sent, "wamid.old", 3));
  RequireOk(queue->MarkSending(new_sent, 2));
  RequireOk(queue->MarkSent(new_sent, "wamid.new", 500));

  auto pruned = queue->Prune(100, 10);
  REQUIRE(pruned.ok());
  CHECK(*pruned == 1);
  auto gone = queue->Get(old_sent);
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  CHECK(MustGet(*queue, old_queued).status == MessageStatus::kQueued);
  CHECK(MustGet(*queue, new_sent).status == MessageStatus::kSent);
}

TEST_CASE("MessageQueue: opening a bad path fails naming the path",
          "[message_queue]") {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/queue.db");
  auto queue = MessageQueue::Open(path);
  REQUIRE_FALSE(queue.ok());
  CHECK(queue.status().message().find(path) != std::string::npos);

  // A file that is not a database.
  const std::string garbage = dir.File("garbage.db");
  {
    FILE* file = fopen(garbage.c_str(), "w");
    REQUIRE(file != nullptr);
    fputs(
        "this is not an SQLite database, just some text long enough to "
        "matter\n",
        file);
    fclose(file);
  }
  auto not_db = MessageQueue::Open(garbage);
  REQUIRE_FALSE(not_db.ok());
  CHECK(not_db.status().message().find(garbage) != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

TEST_CASE("MessageQueue: a key reused with another body is a conflict",
          "[message_queue][idempotency]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string first = MustEnqueue(*queue, Text("1555", "hi", "key-1"), 1);

  for (const NewMessage& other : {Text("1555", "a different body", "key-1"),
                                  Text("1666", "hi", "key-1")}) {
    auto again = queue->Enqueue(other, 2);
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK(again->conflict);
    CHECK(again->id == first);
  }
  NewMessage with_reply = Text("1555", "hi", "key-1");
  with_reply.reply_to = "wamid.x";
  auto replied = queue->Enqueue(with_reply, 3);
  REQUIRE(replied.ok());
  CHECK(replied->conflict);

  // The same body still answers the original, and nothing was inserted.
  auto same = queue->Enqueue(Text("1555", "hi", "key-1"), 4);
  REQUIRE(same.ok());
  CHECK_FALSE(same->conflict);
  CHECK(same->id == first);
  CHECK(MustStats(*queue).depth == 1);
}

TEST_CASE("RequestHash: length-prefixed, so shifted fields differ",
          "[message_queue][idempotency]") {
  NewMessage a = Text("12", "3");
  NewMessage b = Text("1", "23");
  CHECK(RequestHash(a) != RequestHash(b));
  CHECK(RequestHash(a) == RequestHash(Text("12", "3", "any key")));
  CHECK(RequestHash(a).rfind("sha256:", 0) == 0);
  CHECK(RequestHash(a).size() == 7 + 64);
}

TEST_CASE("MessageQueue: a schema 1 file is migrated and keeps its keys",
          "[message_queue][idempotency]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  {
    // The schema as version 1 wrote it, with one queued message.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* v1 = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL,
  text TEXT NOT NULL DEFAULT '', template_json TEXT NOT NULL DEFAULT '',
  reply_to TEXT NOT NULL DEFAULT '', idempotency_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN
    ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT NOT NULL DEFAULT '',
  error_code TEXT, error_message TEXT, error_retryable INTEGER,
  next_attempt_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE UNIQUE INDEX messages_idempotency
  ON messages (idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX messages_due ON messages (status, next_attempt_ms);
CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id <> '';
INSERT INTO messages (id, recipient, text, idempotency_key, status,
  next_attempt_ms, created_ms, updated_ms)
  VALUES ('msg_00000000000000000000abcd', '1555', 'old', 'old-key', 'queued',
          1, 1, 1);
PRAGMA user_version = 1;
)sql";
    REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto queue = OpenQueue(path);
  CHECK(MustGet(*queue, "msg_00000000000000000000abcd").text == "old");
  // The old row has no hash: its key answers the original id, never 422.
  auto old_key = queue->Enqueue(Text("1555", "another body", "old-key"), 2);
  REQUIRE(old_key.ok());
  CHECK(old_key->id == "msg_00000000000000000000abcd");
  CHECK_FALSE(old_key->conflict);
  // New rows get hashes.
  MustEnqueue(*queue, Text("1555", "new", "new-key"), 3);
  auto conflict = queue->Enqueue(Text("1555", "changed", "new-key"), 4);
  REQUIRE(conflict.ok());
  CHECK(conflict->conflict);
  REQUIRE(queue->Close().ok());
  // Reopening a migrated file is a no-op.
  auto reopened = OpenQueue(path);
  CHECK(MustStats(*reopened).depth == 2);
}

TEST_CASE("MessageQueue: a retried message holds later ones to its recipient",
          "[message_queue][order]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string a1 = MustEnqueue(*queue, Text("1555", "a1"), 100);
  std::string a2 = MustEnqueue(*queue, Text("1555", "a2"), 100);
  std::string b1 = MustEnqueue(*queue, Text("1666", "b1"), 100);

  auto due = queue->NextDue(100);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == a1);
  RequireOk(queue->MarkSending(a1, 100));
  // a1 in flight: a2 waits, the other recipient does not.
  due = queue->NextDue(100);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == b1);

  // a1 fails and waits for a retry at 5000: a2 (due now) must not overtake.
  RequireOk(queue->MarkRetry(a1, kThrottled, 5000, 100));
  RequireOk(queue->MarkSending(b1, 100));
  RequireOk(queue->MarkSent(b1, "wamid.b1", 100));
  due = queue->NextDue(200);
  REQUIRE(due.ok());
  CHECK_FALSE(due->has_value());
  // The next wake-up is a1's retry, not a2's (held) due time.
  REQUIRE(MustStats(*queue).next_attempt_ms.has_value());
  CHECK(*MustStats(*queue).next_attempt_ms == 5000);

  due = queue->NextDue(5000);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == a1);
  RequireOk(queue->MarkSending(a1, 5000));
  RequireOk(queue->MarkSent(a1, "wamid.a1", 5000));
  due = queue->NextDue(5000);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == a2);

  // A dead letter does not hold anyone.
  std::string a3 = MustEnqueue(*queue, Text("1555", "a3"), 6000);
  RequireOk(queue->MarkFailed(a2, kOutsideWindow, 6000));
  due = queue->NextDue(6000);
  REQUIRE(due.ok());
  REQUIRE(due->has_value());
  CHECK((*due)->id == a3);
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

NewMessage Image(std::string to, std::string key = "") {
  NewMessage message;
  message.to = std::move(to);
  message.type = "image";
  message.content_json =
      R"({"link":"https://example.com/cat.jpg","caption":"a cat"})";
  message.text = "a cat";
  message.idempotency_key = std::move(key);
  return message;
}

TEST_CASE("MessageQueue: type, content_json and provider_status are stored",
          "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Image("15551234567"), 10);
  OutboundMessage queued = MustGet(*queue, id);
  CHECK(queued.type == "image");
  CHECK(queued.content_json ==
        R"({"link":"https://example.com/cat.jpg","caption":"a cat"})");
  CHECK(queued.text == "a cat");
  CHECK(queued.provider_status.empty());

  RequireOk(queue->MarkSending(id, 11));
  RequireOk(
      queue->MarkSent(id, "wamid.IMG", 12, "held_for_quality_assessment"));
  OutboundMessage sent = MustGet(*queue, id);
  CHECK(sent.provider_id == "wamid.IMG");
  CHECK(sent.provider_status == "held_for_quality_assessment");
  // Without a message_status (the default argument): empty.
  std::string plain = MustEnqueue(*queue, Text("1555", "hi"), 13);
  RequireOk(queue->MarkSending(plain, 14));
  RequireOk(queue->MarkSent(plain, "wamid.TXT", 15));
  CHECK(MustGet(*queue, plain).provider_status.empty());
  CHECK(MustGet(*queue, plain).type == "text");

  // Restore carries every field to another queue.
  auto other = OpenQueue(dir.File("other.db"));
  auto restored = other->Restore(sent);
  REQUIRE(restored.ok());
  CHECK(*restored);
  OutboundMessage copy = MustGet(*other, id);
  CHECK(copy.type == "image");
  CHECK(copy.content_json == sent.content_json);
  CHECK(copy.provider_status == "held_for_quality_assessment");
  CHECK(copy.status == MessageStatus::kSent);
}

TEST_CASE("MessageQueue: GetByProviderId finds our message by its wamid",
          "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);
  auto none = queue->GetByProviderId("wamid.G");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  RequireOk(queue->MarkSending(id, 11));
  RequireOk(queue->MarkSent(id, "wamid.G", 12, "accepted"));

  auto found = queue->GetByProviderId("wamid.G");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == id);
  CHECK((*found)->provider_status == "accepted");
  // An empty id is nobody's (unsent messages have provider_id '').
  auto empty = queue->GetByProviderId("");
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());
}

TEST_CASE("MessageQueue: RecordProviderStatus tells whether anything changed",
          "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string id = MustEnqueue(*queue, Text("1555", "hi"), 10);
  RequireOk(queue->MarkSending(id, 11));
  RequireOk(queue->MarkSent(id, "wamid.R", 12));

  auto delivered = queue->RecordProviderStatus(
      "wamid.R", MessageStatus::kDelivered, std::nullopt, 13);
  REQUIRE(delivered.ok());
  CHECK(delivered->message_id == id);
  CHECK(delivered->changed);
  CHECK(delivered->status == MessageStatus::kDelivered);

  auto again = queue->RecordProviderStatus("wamid.R", MessageStatus::kDelivered,
                                           std::nullopt, 14);
  REQUIRE(again.ok());
  CHECK(again->message_id == id);
  CHECK_FALSE(again->changed);
  CHECK(again->status == MessageStatus::kDelivered);

  auto stale = queue->RecordProviderStatus("wamid.R", MessageStatus::kSent,
                                           std::nullopt, 15);
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->changed);
  CHECK(MustGet(*queue, id).updated_ms == 13);

  auto failed = queue->RecordProviderStatus("wamid.R", MessageStatus::kFailed,
                                            kOutsideWindow, 16);
  REQUIRE(failed.ok());
  CHECK(failed->changed);
  CHECK(failed->status == MessageStatus::kFailed);

  auto unknown = queue->RecordProviderStatus("wamid.nope", MessageStatus::kRead,
                                             std::nullopt, 17);
  CHECK(unknown.status().code() == Status::Code::kNotFound);
}

TEST_CASE("RequestHash: covers type and content_json",
          "[message_queue][idempotency][queue]") {
  NewMessage image = Image("1555");
  NewMessage other_kind = image;
  other_kind.type = "sticker";
  NewMessage other_content = image;
  other_content.content_json = R"({"link":"https://example.com/dog.jpg"})";
  CHECK(RequestHash(image) != RequestHash(other_kind));
  CHECK(RequestHash(image) != RequestHash(other_content));
  CHECK(RequestHash(image) == RequestHash(Image("1555", "a key")));

  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::string first = MustEnqueue(*queue, Image("1555", "k"), 1);
  NewMessage changed = Image("1555", "k");
  changed.content_json = other_content.content_json;
  auto conflict = queue->Enqueue(changed, 2);
  REQUIRE(conflict.ok());
  CHECK(conflict->conflict);
  CHECK(conflict->id == first);
  auto same = queue->Enqueue(Image("1555", "k"), 3);
  REQUIRE(same.ok());
  CHECK_FALSE(same->conflict);
  CHECK_FALSE(same->created);
}

// The request hash as schema 2 computed it (recipient, text, template,
// replyTo), independently of the queue's code.
std::string SchemaTwoHash(const std::string& to, const std::string& text,
                          const std::string& template_json,
                          const std::string& reply_to) {
  std::string canonical;
  for (const std::string* field : {&to, &text, &template_json, &reply_to}) {
    canonical += std::to_string(field->size()) + ":" + *field + ";";
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(canonical.data(), canonical.size(), digest, &length,
                     EVP_sha256(), nullptr) == 1);
  std::string hex = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

TEST_CASE("MessageQueue: a schema 2 file is migrated in place",
          "[message_queue][idempotency][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  const std::string tmpl =
      R"({"name":"hello_world","language":{"code":"en_US"}})";
  {
    // The schema exactly as version 2 created it, with what it stored for a
    // text (with a key and its hash), a template and a sent message.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const std::string v2 = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS messages (
  seq             INTEGER PRIMARY KEY,
  id              TEXT    NOT NULL UNIQUE,
  recipient       TEXT    NOT NULL,
  text            TEXT    NOT NULL DEFAULT '',
  template_json   TEXT    NOT NULL DEFAULT '',
  reply_to        TEXT    NOT NULL DEFAULT '',
  idempotency_key TEXT    NOT NULL DEFAULT '',
  request_hash    TEXT    NOT NULL DEFAULT '',
  status          TEXT    NOT NULL CHECK (status IN
                    ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  provider_id     TEXT    NOT NULL DEFAULT '',
  error_code      TEXT,
  error_message   TEXT,
  error_retryable INTEGER,
  next_attempt_ms INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency
  ON messages (idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX IF NOT EXISTS messages_due ON messages (status, next_attempt_ms);
CREATE INDEX IF NOT EXISTS messages_provider
  ON messages (provider_id) WHERE provider_id <> '';
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER);
CREATE INDEX IF NOT EXISTS messages_recipient_pending
  ON messages (recipient, seq) WHERE status IN ('queued', 'sending');
INSERT INTO messages (id, recipient, text, idempotency_key, request_hash,
  status, next_attempt_ms, created_ms, updated_ms)
  VALUES ('msg_0000000000000000000000a1', '1555', 'old text', 'old-key', ')sql" +
                           SchemaTwoHash("1555", "old text", "", "") + R"sql(',
          'queued', 1, 1, 1);
INSERT INTO messages (id, recipient, template_json, status, next_attempt_ms,
  created_ms, updated_ms)
  VALUES ('msg_0000000000000000000000a2', '1666', ')sql" +
                           tmpl + R"sql(', 'queued', 2, 2, 2);
INSERT INTO messages (id, recipient, text, status, provider_id,
  next_attempt_ms, created_ms, updated_ms)
  VALUES ('msg_0000000000000000000000a3', '1777', 'was sent', 'sent',
          'wamid.OLD', 3, 3, 3);
PRAGMA user_version = 2;
)sql";
    char* error = nullptr;
    int rc = sqlite3_exec(db, v2.c_str(), nullptr, nullptr, &error);
    INFO((error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
    sqlite3_close(db);
  }

  auto queue = OpenQueue(path);
  OutboundMessage text = MustGet(*queue, "msg_0000000000000000000000a1");
  CHECK(text.type == "text");
  CHECK(text.text == "old text");
  CHECK(text.content_json.empty());
  CHECK(text.provider_status.empty());
  OutboundMessage templ = MustGet(*queue, "msg_0000000000000000000000a2");
  CHECK(templ.type == "template");
  CHECK(templ.template_json == tmpl);
  auto sent = queue->GetByProviderId("wamid.OLD");
  REQUIRE(sent.ok());
  REQUIRE(sent->has_value());
  CHECK((*sent)->id == "msg_0000000000000000000000a3");

  // A client retrying its schema 2 request (as the new parser reads it: type
  // and content_json set) with its key gets the original, not a 422 ...
  NewMessage retry = Text("1555", "old text", "old-key");
  retry.content_json = R"({"body":"old text"})";
  auto same = queue->Enqueue(retry, 10);
  REQUIRE(same.ok());
  CHECK(same->id == "msg_0000000000000000000000a1");
  CHECK_FALSE(same->created);
  CHECK_FALSE(same->conflict);
  // ... also when only looked up (a closed 24-hour window) ...
  auto found = queue->FindRepeat(retry);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == "msg_0000000000000000000000a1");
  CHECK_FALSE((*found)->conflict);
  // ... and another body with that key is still a conflict.
  auto changed = queue->Enqueue(Text("1555", "new text", "old-key"), 11);
  REQUIRE(changed.ok());
  CHECK(changed->conflict);

  // New rows have the new columns.
  std::string image = MustEnqueue(*queue, Image("1888", "new-key"), 12);
  CHECK(MustGet(*queue, image).type == "image");
  RequireOk(queue->Close());

  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) ==
            SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == 3);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  // Reopening a migrated file is a no-op (no second "v2:" prefix).
  auto reopened = OpenQueue(path);
  CHECK(MustStats(*reopened).depth == 3);
  auto still_same = reopened->Enqueue(retry, 13);
  REQUIRE(still_same.ok());
  CHECK_FALSE(still_same->conflict);
  CHECK(still_same->id == "msg_0000000000000000000000a1");
}

}  // namespace
}  // namespace dynoguard::worker
