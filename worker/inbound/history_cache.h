// HistoryCache: recent inbound messages per chat, bounded, for the bot's
// context. A Cleanable: standard cleanup halves every chat's history, emergency
// clears it.
#ifndef DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_
#define DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_

#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "worker/memory/memory_manager.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// Thread-safe (one mutex).
class HistoryCache : public Cleanable {
 public:
  // At most `per_chat` messages per chat and `max_chats` chats (least recently
  // active dropped). Zero is taken as 1.
  HistoryCache(size_t per_chat = 50, size_t max_chats = 1000);

  void Add(const InboundMessage& message);
  // The newest `limit` messages of chat `from`, oldest first.
  std::vector<InboundMessage> Recent(const std::string& from,
                                     size_t limit) const;
  size_t chats() const;
  size_t messages() const;

  std::string_view name() const override { return "history"; }
  uint64_t bytes() const override;
  // Standard: every chat keeps its newest half (rounded down, so a chat with
  // one message goes). Emergency: everything goes, container memory included.
  uint64_t Trim(CleanupLevel level) override;

 private:
  struct Chat {
    std::deque<InboundMessage> messages;  // oldest first
    std::list<std::string>::iterator lru_position;
  };

  // Estimated heap bytes of one stored message / one chat's fixed overhead.
  static uint64_t MessageBytes(const InboundMessage& message);
  static uint64_t ChatOverheadBytes(const std::string& from);
  // Drops the least recently active chat. REQUIRES: mu_ held, chats_ non-empty.
  void EvictOldestChatLocked();
  void EraseChatLocked(std::unordered_map<std::string, Chat>::iterator it);

  // Constant after construction.
  const size_t per_chat_;
  const size_t max_chats_;

  mutable std::mutex mu_;
  // Guarded by mu_.
  std::unordered_map<std::string, Chat> chats_;
  std::list<std::string> lru_;  // chat ids, most recently active first
  size_t messages_ = 0;
  uint64_t bytes_ = 0;  // MessageBytes + ChatOverheadBytes of what is held
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_
