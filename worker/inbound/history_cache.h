// HistoryCache: the recent conversation of each chat — inbound messages and
// our outbound ones — bounded, in memory, for GET /api/chats/{waId}/messages
// and the bot's context. A Cleanable: standard cleanup halves every chat's
// history, emergency clears it (the durable record is the inbox and the
// queue; this is only a view).
#ifndef DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_
#define DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_

#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "worker/memory/memory_manager.h"
#include "worker/model/inbound_event.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// One message of a chat.
struct ChatEntry {
  // The provider's wamid for an inbound message, our id ("msg_…") for an
  // outbound one. Unique within a chat: adding an id again updates it.
  std::string id;
  std::string wa_id;  // the contact: sender (in) or recipient (out)
  bool outbound = false;
  std::string type;    // "text", "image", "template", … (SPEC §5 kinds)
  std::string text;    // the text or summary; empty when the kind has none
  std::string status;  // outbound: queued, sending, sent, …; empty for in
  int64_t timestamp_ms = 0;
};

// Thread-safe (one mutex).
class HistoryCache : public Cleanable {
 public:
  // At most `per_chat` messages per chat, `max_chats` chats and `max_bytes`
  // (bytes(), the estimate of its heap): beyond either of the last two the
  // least recently active chats are dropped (never the one just written to).
  // Zero is taken as 1. 512 KiB holds about 2,000 messages: without it a
  // busy worker's view of its chats alone could reach 50,000 entries
  // (~12 MB), and 10,000 sends left 2.5 MB of it behind.
  HistoryCache(size_t per_chat = 50, size_t max_chats = 1000,
               uint64_t max_bytes = uint64_t{512} << 10);

  // An inbound message (its sender's chat). Called by the inbound processor;
  // a repeat of the same id updates the entry in place.
  void AddInbound(const WebhookMessage& message);
  // An inbound text message (AddInbound with type "text").
  void Add(const InboundMessage& message);
  // One of our messages to `to`: when it is accepted, and again whenever its
  // status changes (same `message_id`: the entry's status, and its type and
  // text when given, are updated in place; its time stays the first one).
  void AddOutbound(std::string_view message_id, std::string_view to,
                   std::string_view type, std::string_view text,
                   std::string_view status, int64_t timestamp_ms);

  // The newest `limit` messages of chat `wa_id`, oldest first (newest last).
  // Entries are kept in timestamp order (equal times: in the order added).
  std::vector<ChatEntry> Recent(const std::string& wa_id, size_t limit) const;
  size_t chats() const;
  size_t messages() const;

  std::string_view name() const override { return "history"; }
  uint64_t bytes() const override;
  // Standard: every chat keeps its newest half (rounded down, so a chat with
  // one message goes). Emergency: everything goes, container memory included.
  uint64_t Trim(CleanupLevel level) override;

 private:
  struct Chat {
    std::deque<ChatEntry> messages;  // oldest first
    std::list<std::string>::iterator lru_position;
  };

  // Inserts or updates `entry` in its chat. REQUIRES: mu_ not held.
  void Upsert(ChatEntry entry, bool keep_time_and_blank_fields);
  // Estimated heap bytes of one stored entry / one chat's fixed overhead.
  static uint64_t EntryBytes(const ChatEntry& entry);
  static uint64_t ChatOverheadBytes(const std::string& wa_id);
  // Drops the least recently active chat. REQUIRES: mu_ held, chats_ non-empty.
  void EvictOldestChatLocked();
  // Drops least recently active chats while bytes_ > max_bytes_, keeping at
  // least the most recent one. REQUIRES: mu_ held.
  void FitBytesLocked();
  void EraseChatLocked(std::unordered_map<std::string, Chat>::iterator it);

  // Constant after construction.
  const size_t per_chat_;
  const size_t max_chats_;
  const uint64_t max_bytes_;

  mutable std::mutex mu_;
  // Guarded by mu_.
  std::unordered_map<std::string, Chat> chats_;
  std::list<std::string> lru_;  // chat ids, most recently active first
  size_t messages_ = 0;
  uint64_t bytes_ = 0;  // EntryBytes + ChatOverheadBytes of what is held
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_HISTORY_CACHE_H_
