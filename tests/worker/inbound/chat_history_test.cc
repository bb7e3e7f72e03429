// ChatHistory over a real inbound store and queue in a temp dir; MergeChat
// alone.
#include "worker/inbound/chat_history.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace dynoguard::worker {
namespace {

namespace t = dynoguard::testing;

constexpr char kContact[] = "15551234567";

ChatEntry Entry(std::string id, int64_t at, bool outbound) {
  ChatEntry e;
  e.id = std::move(id);
  e.wa_id = kContact;
  e.outbound = outbound;
  e.type = "text";
  e.timestamp_ms = at;
  return e;
}

std::vector<std::string> Ids(const std::vector<ChatEntry>& entries) {
  std::vector<std::string> ids;
  for (const ChatEntry& e : entries) ids.push_back(e.id);
  return ids;
}

TEST_CASE("chat history: MergeChat interleaves by time, newest limit kept",
          "[chat_history]") {
  std::vector<ChatEntry> in = {Entry("in1", 10, false), Entry("in2", 30, false),
                               Entry("in3", 50, false)};
  std::vector<ChatEntry> out = {Entry("out1", 20, true),
                                Entry("out2", 30, true),
                                Entry("out3", 60, true)};
  CHECK(Ids(MergeChat(in, out, 10)) ==
        std::vector<std::string>{"in1", "out1", "in2", "out2", "in3", "out3"});
  // Equal times: the inbound message first (in2 before out2).
  CHECK(Ids(MergeChat(in, out, 3)) ==
        std::vector<std::string>{"out2", "in3", "out3"});
  CHECK(MergeChat(in, out, 0).empty());
  CHECK(Ids(MergeChat({}, out, 2)) == std::vector<std::string>{"out2", "out3"});
  CHECK(Ids(MergeChat(in, {}, 1)) == std::vector<std::string>{"in3"});
}

class Fixture {
 public:
  Fixture() { Open(); }

  void Open() {
    auto inbox = InboundStore::Open(dir_.File("inbound.db"));
    REQUIRE(inbox.ok());
    inbox_ = std::move(inbox).value();
    auto queue = MessageQueue::Open(dir_.File("queue.db"));
    REQUIRE(queue.ok());
    queue_ = std::move(queue).value();
    history_ = std::make_unique<ChatHistory>(*inbox_, *queue_);
  }
  void Reopen() {
    history_.reset();
    queue_.reset();
    inbox_.reset();
    Open();
  }

  void In(const std::string& id, int64_t at,
          const std::string& from = kContact) {
    ChatEntry e = Entry(id, at, false);
    e.wa_id = from;
    e.text = "text of " + id;
    REQUIRE(inbox_->RecordInbounds({{from, at}}, {e}).ok());
  }
  std::string Out(int64_t at, const std::string& to = kContact) {
    NewMessage m;
    m.to = to;
    m.content_json = R"({"body":"x"})";
    m.text = "reply";
    auto queued = queue_->Enqueue(m, at);
    REQUIRE(queued.ok());
    return queued->id;
  }
  std::vector<ChatEntry> Recent(size_t limit,
                                const std::string& wa_id = kContact) {
    auto recent = history_->Recent(wa_id, limit);
    REQUIRE(recent.ok());
    return std::move(recent).value();
  }

  t::TempDir dir_;
  std::unique_ptr<InboundStore> inbox_;
  std::unique_ptr<MessageQueue> queue_;
  std::unique_ptr<ChatHistory> history_;
};

TEST_CASE("chat history: both halves of a chat, from disk, across a restart",
          "[chat_history]") {
  Fixture f;
  f.In("wamid.1", 1000);
  const std::string reply = f.Out(2000);
  f.In("wamid.2", 3000);
  f.In("wamid.other", 3500, "4915112345678");  // another chat
  f.Out(3600, "4915112345678");
  f.In("wamid.1", 1000);  // redelivered: not a second entry

  f.Reopen();  // a restart: nothing was in memory to lose
  std::vector<ChatEntry> chat = f.Recent(10);
  REQUIRE(Ids(chat) == std::vector<std::string>{"wamid.1", reply, "wamid.2"});
  CHECK_FALSE(chat[0].outbound);
  CHECK(chat[0].text == "text of wamid.1");
  CHECK(chat[1].outbound);
  CHECK(chat[1].text == "reply");
  CHECK(chat[1].status == "queued");
  CHECK(chat[1].timestamp_ms == 2000);
  CHECK(Ids(f.Recent(2)) == std::vector<std::string>{reply, "wamid.2"});
  CHECK(f.Recent(10, "4915112345678").size() == 2);
  CHECK(f.Recent(10, "15550000000").empty());

  // An outbound message's status is the queue's, as it moves.
  REQUIRE(f.queue_->MarkSending(reply, 2100).ok());
  REQUIRE(f.queue_->MarkSent(reply, "wamid.out.1", 2200).ok());
  CHECK(f.Recent(10)[1].status == "sent");
}

TEST_CASE("chat history: inbound entries go after 7 days, with the prune",
          "[chat_history]") {
  Fixture f;
  constexpr int64_t kDay = 24 * 60 * 60 * 1000LL;
  const int64_t t0 = 1'700'000'000'000;
  f.In("wamid.old", t0);
  f.In("wamid.new", t0 + 6 * kDay);
  auto pruned = f.inbox_->Prune(t0 + 7 * kDay + 1);
  REQUIRE(pruned.ok());
  CHECK(pruned->chat == 1);
  CHECK(Ids(f.Recent(10)) == std::vector<std::string>{"wamid.new"});
  auto counts = f.inbox_->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->chat == 1);
}

}  // namespace
}  // namespace dynoguard::worker
