// ChatHistory: the recent conversation with one contact, in and out, for
// GET /api/chats/{waId}/messages. Nothing of it lives in memory: the inbound
// half is inbound.db's chat table (written with each message's window, kept
// 7 days), the outbound half the queue's own rows (with their current
// status, kept until the queue prunes them). So a restart, a crash or a
// memory cleanup loses none of it, and the worker holds no copy that could
// grow with the number of chats.
#ifndef DYNOGUARD_WORKER_INBOUND_CHAT_HISTORY_H_
#define DYNOGUARD_WORKER_INBOUND_CHAT_HISTORY_H_

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/inbound/inbound_store.h"
#include "worker/model/chat_entry.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {

// The newest `limit` entries of `inbound` and `outbound` together (each
// oldest first), oldest first. Equal times: inbound first (a reply is
// accepted after what it answers), then each list's own order.
std::vector<ChatEntry> MergeChat(std::vector<ChatEntry> inbound,
                                 std::vector<ChatEntry> outbound, size_t limit);

// Thread-safe (both stores are); reads only.
class ChatHistory {
 public:
  // Both must outlive the history.
  ChatHistory(InboundStore& inbox, MessageQueue& queue)
      : inbox_(inbox), queue_(queue) {}

  // The newest `limit` messages of the chat with `wa_id`, oldest first. An
  // unknown chat has none. Errors: a store's read error.
  common::Result<std::vector<ChatEntry>> Recent(const std::string& wa_id,
                                                size_t limit) const;

 private:
  InboundStore& inbox_;
  MessageQueue& queue_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_CHAT_HISTORY_H_
