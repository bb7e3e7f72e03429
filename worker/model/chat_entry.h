// ChatEntry: one message of a conversation as GET /api/chats/{waId}/messages
// shows it. Inbound entries come from inbound.db's chat table, outbound ones
// are the queue's own rows (worker/inbound/chat_history.h joins the two).
#ifndef DYNOGUARD_WORKER_MODEL_CHAT_ENTRY_H_
#define DYNOGUARD_WORKER_MODEL_CHAT_ENTRY_H_

#include <cstdint>
#include <string>

namespace dynoguard::worker {

struct ChatEntry {
  // The provider's wamid for an inbound message, our id ("msg_…") for an
  // outbound one.
  std::string id;
  std::string wa_id;  // the contact: sender (in) or recipient (out)
  bool outbound = false;
  std::string type;    // "text", "image", "template", … (SPEC §5 kinds)
  std::string text;    // the text or summary; empty when the kind has none
  std::string status;  // outbound: queued, sending, sent, …; empty for in
  // Inbound: when the contact sent it (Meta's timestamp); outbound: when we
  // accepted it. Milliseconds since the epoch.
  int64_t timestamp_ms = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MODEL_CHAT_ENTRY_H_
