#include "worker/inbound/history_cache.h"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

namespace dynoguard::worker {
namespace {

InboundMessage Message(const std::string& from, int n,
                       const std::string& text = "") {
  InboundMessage m;
  m.id = "wamid." + from + "." + std::to_string(n);
  m.from = from;
  m.text = text.empty() ? "message number " + std::to_string(n) +
                              " with a text too long for small strings"
                        : text;
  m.timestamp_ms = n;
  return m;
}

std::vector<std::string> Texts(const std::vector<ChatEntry>& messages) {
  std::vector<std::string> texts;
  for (const auto& m : messages) texts.push_back(m.text);
  return texts;
}

TEST_CASE("Recent returns the newest messages oldest first",
          "[history_cache]") {
  HistoryCache cache(10, 10);
  for (int i = 1; i <= 5; ++i)
    cache.Add(Message("15550001", i, "t" + std::to_string(i)));
  cache.Add(Message("15550002", 1, "other"));

  CHECK(Texts(cache.Recent("15550001", 3)) ==
        std::vector<std::string>{"t3", "t4", "t5"});
  CHECK(Texts(cache.Recent("15550001", 100)) ==
        std::vector<std::string>{"t1", "t2", "t3", "t4", "t5"});
  CHECK(cache.Recent("15550001", 0).empty());
  CHECK(cache.Recent("15559999", 5).empty());
  const auto other = cache.Recent("15550002", 5);
  REQUIRE(other.size() == 1);
  CHECK(other[0].id == "wamid.15550002.1");
  CHECK(other[0].wa_id == "15550002");
  CHECK(other[0].timestamp_ms == 1);
}

TEST_CASE("each chat keeps at most per_chat messages", "[history_cache]") {
  HistoryCache cache(3, 10);
  for (int i = 1; i <= 7; ++i)
    cache.Add(Message("15550001", i, "t" + std::to_string(i)));
  CHECK(cache.messages() == 3);
  CHECK(Texts(cache.Recent("15550001", 10)) ==
        std::vector<std::string>{"t5", "t6", "t7"});
}

TEST_CASE("the least recently active chat is dropped beyond max_chats",
          "[history_cache]") {
  HistoryCache cache(5, 3);
  cache.Add(Message("1", 1));
  cache.Add(Message("2", 1));
  cache.Add(Message("3", 1));
  cache.Add(Message("1", 2));  // chat 1 active again: chat 2 is now the oldest
  cache.Add(Message("4", 1));

  CHECK(cache.chats() == 3);
  CHECK(cache.messages() == 4);
  CHECK(cache.Recent("2", 5).empty());
  CHECK(cache.Recent("1", 5).size() == 2);
  CHECK(cache.Recent("3", 5).size() == 1);
  CHECK(cache.Recent("4", 5).size() == 1);
}

TEST_CASE("bytes grows with the content", "[history_cache]") {
  HistoryCache cache(100, 100);
  const uint64_t empty = cache.bytes();
  cache.Add(Message("1", 1, std::string(1000, 'x')));
  const uint64_t one = cache.bytes();
  CHECK(one >= empty + 1000);
  cache.Add(Message("1", 2, std::string(1000, 'y')));
  CHECK(cache.bytes() >= one + 1000);
  cache.Add(Message("2", 1, std::string(5000, 'z')));
  CHECK(cache.bytes() >= one + 6000);
}

TEST_CASE(
    "beyond max_bytes the least recently active chats go, never the one "
    "just written",
    "[history_cache]") {
  HistoryCache cache(50, 1000, 64 * 1024);
  for (int chat = 0; chat < 200; ++chat) {
    cache.Add(Message(std::to_string(chat), chat + 1, std::string(1000, 'x')));
    CHECK(cache.bytes() <= 64 * 1024);
  }
  CHECK(cache.chats() < 200);
  CHECK(cache.chats() > 10);
  // The newest chats are the ones kept.
  CHECK(cache.Recent("199", 10).size() == 1);
  CHECK(cache.Recent("0", 10).empty());
  // One chat larger than the whole budget keeps its newest message.
  cache.Add(Message("big", 1000, std::string(100 * 1024, 'y')));
  CHECK(cache.chats() == 1);
  CHECK(cache.Recent("big", 10).size() == 1);
}

TEST_CASE("standard trim halves every chat and shrinks bytes",
          "[history_cache]") {
  HistoryCache cache(50, 100);
  for (int i = 1; i <= 10; ++i)
    cache.Add(Message("1", i, "a" + std::to_string(i)));
  for (int i = 1; i <= 4; ++i)
    cache.Add(Message("2", i, "b" + std::to_string(i)));
  cache.Add(Message("3", 1));
  const uint64_t before = cache.bytes();

  const uint64_t released = cache.Trim(CleanupLevel::kStandard);

  CHECK(cache.messages() == 5 + 2);
  CHECK(Texts(cache.Recent("1", 50)) ==
        std::vector<std::string>{"a6", "a7", "a8", "a9", "a10"});
  CHECK(Texts(cache.Recent("2", 50)) == std::vector<std::string>{"b3", "b4"});
  // A one-message chat keeps nothing and is dropped.
  CHECK(cache.chats() == 2);
  CHECK(cache.bytes() < before);
  CHECK(released == before - cache.bytes());
}

TEST_CASE("emergency trim clears everything", "[history_cache]") {
  HistoryCache cache(50, 100);
  for (int c = 0; c < 20; ++c) {
    for (int i = 0; i < 10; ++i) cache.Add(Message(std::to_string(c), i));
  }
  const uint64_t before = cache.bytes();
  CHECK(before > 0);

  CHECK(cache.Trim(CleanupLevel::kEmergency) == before);
  CHECK(cache.messages() == 0);
  CHECK(cache.chats() == 0);
  CHECK(cache.bytes() < 64);  // at most an empty bucket array
  CHECK(cache.Recent("1", 10).empty());

  // Still usable afterwards.
  cache.Add(Message("1", 1));
  CHECK(cache.messages() == 1);
}

TEST_CASE("bytes accounting returns to empty after evictions and trims",
          "[history_cache]") {
  HistoryCache cache(2, 1);
  const uint64_t empty = cache.bytes();
  // 200 chats through a one-chat cache: 199 evictions, each with messages
  // pushed out by the per-chat bound first.
  for (int c = 0; c < 200; ++c) {
    for (int i = 0; i < 3; ++i) {
      cache.Add(Message(std::to_string(c), i, std::string(300 + c, 'x')));
    }
  }
  CHECK(cache.chats() == 1);
  CHECK(cache.messages() == 2);
  CHECK(cache.bytes() > empty + 600);
  cache.Trim(CleanupLevel::kStandard);
  CHECK(cache.messages() == 1);
  cache.Trim(CleanupLevel::kStandard);
  CHECK(cache.messages() == 0);
  CHECK(cache.chats() == 0);
  // Only the bucket array is left, which a one-chat map keeps small; any
  // drift in the accounting would have accumulated over the evictions.
  CHECK(cache.bytes() <= empty + 16 * sizeof(void*));
}

TEST_CASE("concurrent adds from several threads are all counted",
          "[history_cache]") {
  HistoryCache cache(1000, 100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 500; ++i) {
        cache.Add(Message("chat" + std::to_string(t), i));
        if (i % 50 == 0) (void)cache.Recent("chat0", 5);
        if (i % 100 == 0) (void)cache.bytes();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(cache.chats() == 4);
  CHECK(cache.messages() == 2000);
  for (int t = 0; t < 4; ++t) {
    const auto recent = cache.Recent("chat" + std::to_string(t), 1);
    REQUIRE(recent.size() == 1);
    CHECK(recent[0].timestamp_ms == 499);
  }
}

TEST_CASE(
    "history cache: outbound entries join the chat and their status "
    "updates in place",
    "[history_cache][chats]") {
  HistoryCache cache(10, 10);
  cache.Add(Message("15550001", 100, "hi bot"));
  cache.AddOutbound("msg_1", "15550001", "text", "hello human", "queued", 200);
  cache.AddOutbound("msg_1", "15550001", "", "", "sent", 250);
  cache.AddOutbound("msg_1", "15550001", "", "", "read", 300);
  cache.Add(Message("15550001", 400, "thanks"));

  const auto chat = cache.Recent("15550001", 10);
  REQUIRE(chat.size() == 3);
  CHECK_FALSE(chat[0].outbound);
  CHECK(chat[1].outbound);
  CHECK(chat[1].id == "msg_1");
  CHECK(chat[1].type == "text");
  CHECK(chat[1].text == "hello human");
  CHECK(chat[1].status == "read");
  CHECK(chat[1].timestamp_ms == 200);  // the first time stays
  CHECK(chat[2].text == "thanks");
  CHECK(cache.messages() == 3);
}

TEST_CASE(
    "history cache: entries stay in time order and a repeated inbound "
    "id is kept once",
    "[history_cache][chats]") {
  HistoryCache cache(3, 10);
  cache.Add(Message("1", 10, "ten"));
  cache.Add(Message("1", 30, "thirty"));
  cache.Add(Message("1", 20, "twenty"));  // a late redelivery
  cache.Add(Message("1", 20, "twenty"));  // and again
  CHECK(Texts(cache.Recent("1", 10)) ==
        std::vector<std::string>{"ten", "twenty", "thirty"});
  // Older than everything in a full chat: it falls off at once.
  cache.AddOutbound("msg_old", "1", "text", "old", "sent", 5);
  CHECK(Texts(cache.Recent("1", 10)) ==
        std::vector<std::string>{"ten", "twenty", "thirty"});
  cache.AddOutbound("msg_new", "1", "image", "", "queued", 40);
  const auto chat = cache.Recent("1", 10);
  REQUIRE(chat.size() == 3);
  CHECK(chat[2].id == "msg_new");
  CHECK(chat[2].text.empty());
  CHECK(cache.messages() == 3);
}

TEST_CASE("history cache reports its name", "[history_cache]") {
  HistoryCache cache;
  CHECK(cache.name() == "history");
}

}  // namespace
}  // namespace dynoguard::worker
