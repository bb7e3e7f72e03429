#include "worker/inbound/inbound_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/support/temp_dir.h"
#include "worker/inbound/inbound_policy.h"

namespace dynoguard::worker {
namespace {

constexpr int64_t kT = 1'700'000'000'000;
constexpr int64_t kDayMs = 24 * kHourMs;

std::unique_ptr<InboundStore> OpenStore(const testing::TempDir& dir) {
  auto store = InboundStore::Open(dir.File("inbound.db"));
  REQUIRE(store.ok());
  return std::move(store).value();
}

TEST_CASE("inbound store: the inbox returns unprocessed rows oldest first",
          "[inbound]") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  auto a = store->Append(InboxSource::kWebhook, "body-a", kT);
  auto b = store->Append(InboxSource::kSandbox, "body-b", kT + 1);
  auto c = store->Append(InboxSource::kWebhook, "body-c", kT + 2);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a < *b);
  CHECK(*b < *c);
  REQUIRE(store->MarkProcessed(*b, true, kT + 3).ok());

  auto rows = store->Unprocessed(10);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].seq == *a);
  CHECK((*rows)[0].body == "body-a");
  CHECK((*rows)[0].received_ms == kT);
  CHECK((*rows)[0].source == InboxSource::kWebhook);
  CHECK((*rows)[1].body == "body-c");
  auto one = store->Unprocessed(1);
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  CHECK(store->MarkProcessed(9999, true, kT).code() ==
        common::Status::Code::kNotFound);
}

TEST_CASE("inbound store: the file is private and survives a reopen",
          "[inbound]") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir);
    REQUIRE(store->Append(InboxSource::kWebhook, "kept", kT).ok());
    REQUIRE(store->MarkSeen("m:wamid.1", kT).ok());
    REQUIRE(store->RecordInbound("15551234567", kT).ok());
  }
  struct stat st {};
  REQUIRE(::stat(dir.File("inbound.db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto store = OpenStore(dir);
  auto rows = store->Unprocessed(10);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].body == "kept");
  auto seen = store->IsSeen("m:wamid.1");
  REQUIRE(seen.ok());
  CHECK(*seen);
  CHECK(store->WindowOpen("15551234567", kT + 1));
}

TEST_CASE("inbound store: seen keys are pruned after 7 days, not before",
          "[inbound]") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  REQUIRE(store->MarkSeen("m:old", kT).ok());
  REQUIRE(store->MarkSeen("m:new", kT + kDayMs).ok());
  REQUIRE(store->MarkSeen("m:old", kT + 5 * kDayMs).ok());  // keeps the first

  auto pruned = store->Prune(kT + 7 * kDayMs);  // cut-off == kT: kept
  REQUIRE(pruned.ok());
  CHECK(pruned->seen == 0);
  CHECK(*store->IsSeen("m:old"));

  pruned = store->Prune(kT + 7 * kDayMs + 1);
  REQUIRE(pruned.ok());
  CHECK(pruned->seen == 1);
  CHECK_FALSE(*store->IsSeen("m:old"));
  CHECK(*store->IsSeen("m:new"));
}

TEST_CASE("inbound store: pruning keeps unprocessed rows whatever their age",
          "[inbound]") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  auto done = store->Append(InboxSource::kWebhook, "done", kT);
  auto bad = store->Append(InboxSource::kWebhook, "bad", kT);
  auto waiting = store->Append(InboxSource::kWebhook, "waiting", kT);
  REQUIRE((done.ok() && bad.ok() && waiting.ok()));
  REQUIRE(store->MarkProcessed(*done, true, kT).ok());
  REQUIRE(store->MarkProcessed(*bad, false, kT).ok());
  auto counts = store->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->pending == 1);
  CHECK(counts->processed == 2);
  CHECK(counts->unparsable == 1);

  auto pruned = store->Prune(kT + 30 * kDayMs);
  REQUIRE(pruned.ok());
  CHECK(pruned->inbox == 2);
  auto rows = store->Unprocessed(10);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].body == "waiting");
  // A seq is never reused after a prune.
  auto next = store->Append(InboxSource::kWebhook, "next", kT);
  REQUIRE(next.ok());
  CHECK(*next > *waiting);
}

TEST_CASE(
    "inbound store: the window is open 24 h after the last inbound, "
    "to the millisecond",
    "[inbound]") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  CHECK_FALSE(store->WindowOpen("15551234567", kT));
  REQUIRE(store->RecordInbound("15551234567", kT).ok());
  CHECK(store->WindowOpen("15551234567", kT + kDayMs - 1));
  CHECK_FALSE(store->WindowOpen("15551234567", kT + kDayMs));
  CHECK_FALSE(store->WindowOpen("15551234567", kT + kDayMs + 1));
  CHECK_FALSE(store->WindowOpen("15550000000", kT));

  // An older message (a redelivery) never shortens the window.
  REQUIRE(store->RecordInbound("15551234567", kT - kDayMs).ok());
  auto last = store->LastInbound("15551234567");
  REQUIRE(last.ok());
  CHECK(*last == kT);
  REQUIRE(store->RecordInbound("15551234567", kT + 10).ok());
  CHECK(**store->LastInbound("15551234567") == kT + 10);

  // Contacts whose window closed are pruned.
  auto pruned = store->Prune(kT + 10 + kDayMs);
  REQUIRE(pruned.ok());
  CHECK(pruned->contacts == 1);
  CHECK_FALSE(store->LastInbound("15551234567")->has_value());
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

TEST_CASE("inbound store: seen keys and the processed mark commit together",
          "[inbound]") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  auto seq = store->Append(InboxSource::kWebhook, "row", kT);
  REQUIRE(seq.ok());
  // An unknown row: nothing is recorded (one transaction).
  CHECK(store->MarkSeenAll({"m:a", "m:b"}, kT, *seq + 100).code() ==
        common::Status::Code::kNotFound);
  CHECK_FALSE(*store->IsSeen("m:a"));
  REQUIRE(store->MarkSeenAll({"m:a", "m:b"}, kT, *seq).ok());
  CHECK(*store->IsSeen("m:a"));
  CHECK(*store->IsSeen("m:b"));
  CHECK(store->Unprocessed(10)->empty());
  REQUIRE(store->MarkSeenAll({"m:c"}, kT, std::nullopt).ok());
  CHECK(*store->IsSeen("m:c"));

  REQUIRE(
      store
          ->RecordInbounds(
              {{"15550001", kT}, {"15550002", kT + 5}, {"15550001", kT - 5}})
          .ok());
  CHECK(**store->LastInbound("15550001") == kT);
  CHECK(**store->LastInbound("15550002") == kT + 5);
}

}  // namespace
}  // namespace dynoguard::worker
