#include "worker/inbound/history_cache.h"

#include <algorithm>
#include <utility>

namespace dynoguard::worker {

namespace {

// Heap bytes a std::string owns beyond its own object (0 while the text fits
// the small-string buffer).
uint64_t StringHeapBytes(const std::string& s) {
  const std::string empty;
  return s.capacity() > empty.capacity() ? s.capacity() + 1 : 0;
}

// malloc's per-allocation header on 64-bit glibc.
constexpr uint64_t kMallocOverhead = 16;
// libstdc++'s deque: one 512-byte block allocated even when empty, plus the
// block map (8 pointers at least).
constexpr uint64_t kDequeFixedBytes = 512 + 8 * sizeof(void*) + 2 * 16;

}  // namespace

HistoryCache::HistoryCache(size_t per_chat, size_t max_chats,
                           uint64_t max_bytes)
    : per_chat_(std::max<size_t>(per_chat, 1)),
      max_chats_(std::max<size_t>(max_chats, 1)),
      max_bytes_(std::max<uint64_t>(max_bytes, 1)) {}

uint64_t HistoryCache::EntryBytes(const ChatEntry& entry) {
  // Deque slots are allocated in blocks, so sizeof is close to the real
  // per-element cost.
  return sizeof(ChatEntry) + StringHeapBytes(entry.id) +
         StringHeapBytes(entry.wa_id) + StringHeapBytes(entry.type) +
         StringHeapBytes(entry.text) + StringHeapBytes(entry.status);
}

uint64_t HistoryCache::ChatOverheadBytes(const std::string& wa_id) {
  // Hash node (next pointer, cached hash, key and value) and list node, each
  // with a malloc header; the key is stored twice (map and LRU list).
  const uint64_t map_node =
      2 * sizeof(void*) + sizeof(std::pair<const std::string, Chat>);
  const uint64_t list_node = 2 * sizeof(void*) + sizeof(std::string);
  return map_node + list_node + 2 * kMallocOverhead + kDequeFixedBytes +
         2 * StringHeapBytes(wa_id);
}

void HistoryCache::AddInbound(const WebhookMessage& message) {
  ChatEntry entry;
  entry.id = message.message.id;
  entry.wa_id = message.message.from;
  entry.type = message.type.empty() ? "text" : message.type;
  entry.text = message.message.text;
  entry.timestamp_ms = message.message.timestamp_ms;
  Upsert(std::move(entry), /*keep_time_and_blank_fields=*/false);
}

void HistoryCache::Add(const InboundMessage& message) {
  WebhookMessage wrapped;
  wrapped.message = message;
  wrapped.type = "text";
  AddInbound(wrapped);
}

void HistoryCache::AddOutbound(std::string_view message_id, std::string_view to,
                               std::string_view type, std::string_view text,
                               std::string_view status, int64_t timestamp_ms) {
  ChatEntry entry;
  entry.id = std::string(message_id);
  entry.wa_id = std::string(to);
  entry.outbound = true;
  entry.type = std::string(type);
  entry.text = std::string(text);
  entry.status = std::string(status);
  entry.timestamp_ms = timestamp_ms;
  Upsert(std::move(entry), /*keep_time_and_blank_fields=*/true);
}

void HistoryCache::Upsert(ChatEntry entry, bool keep_time_and_blank_fields) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = chats_.find(entry.wa_id);
  if (it == chats_.end()) {
    if (chats_.size() >= max_chats_) EvictOldestChatLocked();
    lru_.push_front(entry.wa_id);
    it = chats_.emplace(entry.wa_id, Chat{{}, lru_.begin()}).first;
    bytes_ += ChatOverheadBytes(entry.wa_id);
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
  }
  std::deque<ChatEntry>& messages = it->second.messages;
  // A chat holds at most per_chat_ entries (50 by default): a scan is cheap.
  for (ChatEntry& existing : messages) {
    if (existing.id != entry.id || existing.outbound != entry.outbound) {
      continue;
    }
    bytes_ -= EntryBytes(existing);
    if (keep_time_and_blank_fields) {
      if (entry.type.empty()) entry.type = std::move(existing.type);
      if (entry.text.empty()) entry.text = std::move(existing.text);
      if (entry.status.empty()) entry.status = std::move(existing.status);
      entry.timestamp_ms = existing.timestamp_ms;
    }
    existing = std::move(entry);
    bytes_ += EntryBytes(existing);
    FitBytesLocked();
    return;
  }
  // Keep timestamp order: a late redelivery or a status for an older message
  // lands where it belongs, not at the end.
  auto position = std::upper_bound(
      messages.begin(), messages.end(), entry.timestamp_ms,
      [](int64_t t, const ChatEntry& e) { return t < e.timestamp_ms; });
  position = messages.insert(position, std::move(entry));
  bytes_ += EntryBytes(*position);
  ++messages_;
  while (messages.size() > per_chat_) {
    bytes_ -= EntryBytes(messages.front());
    messages.pop_front();
    --messages_;
  }
  FitBytesLocked();
}

void HistoryCache::FitBytesLocked() {
  // The chat just written to is at the front of lru_: it stays.
  while (bytes_ > max_bytes_ && chats_.size() > 1) EvictOldestChatLocked();
}

std::vector<ChatEntry> HistoryCache::Recent(const std::string& wa_id,
                                            size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = chats_.find(wa_id);
  if (it == chats_.end()) return {};
  const std::deque<ChatEntry>& messages = it->second.messages;
  const size_t count = std::min(limit, messages.size());
  return std::vector<ChatEntry>(messages.end() - count, messages.end());
}

size_t HistoryCache::chats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return chats_.size();
}

size_t HistoryCache::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

uint64_t HistoryCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_ + chats_.bucket_count() * sizeof(void*);
}

uint64_t HistoryCache::Trim(CleanupLevel level) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t before = bytes_ + chats_.bucket_count() * sizeof(void*);
  if (level == CleanupLevel::kEmergency) {
    // Swapping with empty containers frees the bucket array too, which
    // clear() keeps.
    std::unordered_map<std::string, Chat>().swap(chats_);
    std::list<std::string>().swap(lru_);
    messages_ = 0;
    bytes_ = 0;
    return before;
  }
  // Standard: every chat keeps its newest half (rounded down); chats left
  // empty go, so one-message chats do not pin their overhead forever.
  for (auto it = chats_.begin(); it != chats_.end();) {
    std::deque<ChatEntry>& messages = it->second.messages;
    const size_t drop = messages.size() - messages.size() / 2;
    for (size_t i = 0; i < drop; ++i) {
      bytes_ -= EntryBytes(messages.front());
      messages.pop_front();
      --messages_;
    }
    if (messages.empty()) {
      auto next = std::next(it);
      EraseChatLocked(it);
      it = next;
    } else {
      messages.shrink_to_fit();
      ++it;
    }
  }
  const uint64_t after = bytes_ + chats_.bucket_count() * sizeof(void*);
  return before > after ? before - after : 0;
}

void HistoryCache::EvictOldestChatLocked() {
  auto it = chats_.find(lru_.back());
  EraseChatLocked(it);
}

void HistoryCache::EraseChatLocked(
    std::unordered_map<std::string, Chat>::iterator it) {
  for (const ChatEntry& entry : it->second.messages) {
    bytes_ -= EntryBytes(entry);
  }
  messages_ -= it->second.messages.size();
  bytes_ -= ChatOverheadBytes(it->first);
  lru_.erase(it->second.lru_position);
  chats_.erase(it);
}

}  // namespace dynoguard::worker
