#include "worker/session/snapshot_budget.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/fuzz/snapshot_samples.h"
#include "worker/session/snapshot_codec.h"

namespace dynoguard::worker {
namespace {

using testing::SameMessage;
using testing::SameState;
using testing::SizedState;

size_t DocSize(const SessionState& state) {
  common::Result<std::string> doc = EncodeSnapshot(state, nullptr);
  REQUIRE(doc.ok());
  return doc->size();
}

// `kept` is what is left of `all` after dropping from the front.
template <typename T, typename Same>
bool IsSuffix(const std::vector<T>& all, const std::vector<T>& kept,
              Same same) {
  if (kept.size() > all.size()) return false;
  const size_t offset = all.size() - kept.size();
  for (size_t i = 0; i < kept.size(); ++i) {
    if (!same(all[offset + i], kept[i])) return false;
  }
  return true;
}

template <typename T>
bool Equal(const T& a, const T& b) {
  return a == b;
}

// What every fit must keep: pending untouched, each list a suffix of the
// original, lists emptied in order, the counts reported, the document the
// state's.
void RequireFit(const SessionState& original, const SessionState& fitted,
                const std::string& doc, const FitReport& report,
                size_t max_bytes) {
  REQUIRE(testing::SameList(original.pending, fitted.pending, SameMessage));
  CHECK(IsSuffix(original.seen, fitted.seen, Equal<SeenKey>));
  CHECK(IsSuffix(original.windows, fitted.windows, Equal<ContactWindow>));
  CHECK(
      IsSuffix(original.awaiting_status, fitted.awaiting_status, SameMessage));
  CHECK(IsSuffix(original.inbox, fitted.inbox, testing::SameInbox));
  CHECK(IsSuffix(original.outbox, fitted.outbox, testing::SameEvent));
  CHECK(report.dropped.pending == 0);
  CHECK(report.dropped.seen == original.seen.size() - fitted.seen.size());
  CHECK(report.dropped.windows ==
        original.windows.size() - fitted.windows.size());
  CHECK(report.dropped.awaiting_status ==
        original.awaiting_status.size() - fitted.awaiting_status.size());
  CHECK(report.dropped.inbox == original.inbox.size() - fitted.inbox.size());
  CHECK(report.dropped.outbox == original.outbox.size() - fitted.outbox.size());
  // A list is touched only once those before it are empty.
  const std::vector<size_t> dropped = {
      report.dropped.seen, report.dropped.windows,
      report.dropped.awaiting_status, report.dropped.inbox,
      report.dropped.outbox};
  const std::vector<size_t> left = {fitted.seen.size(), fitted.windows.size(),
                                    fitted.awaiting_status.size(),
                                    fitted.inbox.size(), fitted.outbox.size()};
  for (size_t i = 1; i < dropped.size(); ++i) {
    if (dropped[i] > 0) {
      for (size_t j = 0; j < i; ++j) CHECK(left[j] == 0);
    }
  }
  CHECK(report.bytes == doc.size());
  if (!report.pending_over_cap) CHECK(doc.size() <= max_bytes);
  common::Result<SessionState> back = DecodeSnapshot(doc, nullptr);
  REQUIRE(back.ok());
  CHECK(SameState(fitted, *back));
}

SessionState WithInbox(SessionState s) {
  for (int i = 0; i < 200; ++i) {
    s.inbox.push_back(InboxRow{i, InboxSource::kWebhook,
                               testing::SampleWebhookBody(i), 1000 + i});
  }
  return s;
}

TEST_CASE("a snapshot under the cap is left whole", "[snapshot]") {
  SessionState state = WithInbox(SizedState(100'000));
  const SessionState original = state;
  FitReport report;
  common::Result<std::string> doc =
      EncodeWithinBudget(&state, nullptr, 1 << 20, &report);
  REQUIRE(doc.ok());
  CHECK(SameState(original, state));
  CHECK(report.bytes == doc->size());
  CHECK(report.encodes == 1);
  CHECK_FALSE(report.pending_over_cap);
  CHECK(report.dropped.seen + report.dropped.outbox == 0);
}

TEST_CASE("the cap drops the oldest entries, list by list, never pending",
          "[snapshot]") {
  const SessionState original = WithInbox(SizedState(200'000));
  // The sizes at which each list is gone: caps between them show the order.
  SessionState s = original;
  const size_t full = DocSize(s);
  s.seen.clear();
  const size_t no_seen = DocSize(s);
  s.windows.clear();
  const size_t no_windows = DocSize(s);
  s.awaiting_status.clear();
  const size_t no_awaiting = DocSize(s);
  s.inbox.clear();
  const size_t no_inbox = DocSize(s);
  s.outbox.clear();
  const size_t bare = DocSize(s);
  REQUIRE(full > no_seen);
  REQUIRE(no_seen > no_windows);
  REQUIRE(no_windows > no_awaiting);
  REQUIRE(no_awaiting > no_inbox);
  REQUIRE(no_inbox > bare);

  struct Case {
    size_t cap;
    int list;  // the list still being dropped from: 0 seen … 4 outbox
  };
  const std::vector<Case> cases = {{(full + no_seen) / 2, 0},
                                   {(no_seen + no_windows) / 2, 1},
                                   {(no_windows + no_awaiting) / 2, 2},
                                   {(no_awaiting + no_inbox) / 2, 3},
                                   {(no_inbox + bare) / 2, 4}};
  for (const Case& c : cases) {
    INFO("cap " << c.cap << " sizes " << full << " " << no_seen << " "
                << no_windows << " " << no_awaiting << " " << no_inbox << " "
                << bare);
    SessionState state = original;
    FitReport report;
    common::Result<std::string> doc =
        EncodeWithinBudget(&state, nullptr, c.cap, &report);
    REQUIRE(doc.ok());
    RequireFit(original, state, *doc, report, c.cap);
    CHECK_FALSE(report.pending_over_cap);
    const std::vector<size_t> dropped = {
        report.dropped.seen, report.dropped.windows,
        report.dropped.awaiting_status, report.dropped.inbox,
        report.dropped.outbox};
    INFO("dropped " << dropped[0] << " " << dropped[1] << " " << dropped[2]
                    << " " << dropped[3] << " " << dropped[4] << " encodes "
                    << report.encodes << " bytes " << report.bytes);
    CHECK(dropped[static_cast<size_t>(c.list)] > 0);
    CHECK(report.encodes <= 6);
    for (size_t i = static_cast<size_t>(c.list) + 1; i < dropped.size(); ++i) {
      CHECK(dropped[i] == 0);
    }
    // Not much more than needed: the list being dropped keeps some.
    const std::vector<size_t> left = {state.seen.size(), state.windows.size(),
                                      state.awaiting_status.size(),
                                      state.inbox.size(), state.outbox.size()};
    CHECK(left[static_cast<size_t>(c.list)] > 0);
  }
}

TEST_CASE("a large state fits in a few encodes", "[snapshot]") {
  const SnapshotKey key{};
  SessionState state = SizedState(2'000'000);
  const SessionState original = state;
  FitReport report;
  common::Result<std::string> doc =
      EncodeWithinBudget(&state, &key, 100'000, &report);
  REQUIRE(doc.ok());
  CHECK(doc->size() <= 100'000);
  CHECK(report.encodes <= 6);
  CHECK(report.dropped.seen == original.seen.size());
  CHECK(report.dropped.windows == original.windows.size());
  common::Result<SessionState> back = DecodeSnapshot(*doc, &key);
  REQUIRE(back.ok());
  CHECK(SameState(state, *back));
}

TEST_CASE("pending alone over the cap: all kept, the rest dropped, said",
          "[snapshot]") {
  SessionState state = WithInbox(SizedState(200'000));
  const SessionState original = state;
  FitReport report;
  common::Result<std::string> doc =
      EncodeWithinBudget(&state, nullptr, 2'000, &report);
  REQUIRE(doc.ok());
  CHECK(report.pending_over_cap);
  CHECK(doc->size() > 2'000);
  RequireFit(original, state, *doc, report, 2'000);
  CHECK(state.seen.empty());
  CHECK(state.windows.empty());
  CHECK(state.awaiting_status.empty());
  CHECK(state.inbox.empty());
  CHECK(state.outbox.empty());
  CHECK(state.pending.size() == original.pending.size());
  CHECK(state.counters == original.counters);
  CHECK(state.connection == original.connection);
  CHECK(report.encodes <= 8);
}

TEST_CASE("an empty state over a tiny cap is returned and flagged",
          "[snapshot]") {
  SessionState state;
  FitReport report;
  common::Result<std::string> doc =
      EncodeWithinBudget(&state, nullptr, 10, &report);
  REQUIRE(doc.ok());
  CHECK(report.pending_over_cap);
  CHECK(report.encodes == 1);
  // The report is optional.
  SessionState again = SizedState(50'000);
  CHECK(EncodeWithinBudget(&again, nullptr, 5'000, nullptr).ok());
}

}  // namespace
}  // namespace dynoguard::worker
