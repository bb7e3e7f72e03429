// The chat history (SPEC §5), protected: GET /api/chats/{waId}/messages
// (`?limit=` 1–200, default 50) → 200 {"waId","windowOpenUntil","messages":
// [{"id","direction":"in"|"out","type","text"?,"status"?,"timestamp"}]},
// newest last. windowOpenUntil is when the 24-hour customer-service window
// closes (ms since the epoch) while it is open, else null. The messages are
// read from disk (ChatHistory: inbound.db and the queue), so they survive
// restarts and cleanups; an unknown chat answers 200 with no messages, a
// store that cannot be read 503. A waId that is not 8–15 digits or a bad
// limit: 400 invalid_field naming it.
#ifndef DYNOGUARD_WORKER_HTTP_CHAT_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_CHAT_ROUTES_H_

#include <httplib.h>

#include <cstdint>
#include <functional>

#include "worker/http/route.h"
#include "worker/inbound/chat_history.h"
#include "worker/inbound/inbound_store.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct ChatRouteDeps {
  const ChatHistory* history = nullptr;  // null: 503 unavailable
  InboundStore* inbox = nullptr;    // the window; null: windowOpenUntil null
  std::function<int64_t()> now_ms;  // ms since the epoch; empty: wall clock
};

inline constexpr size_t kDefaultChatMessages = 50;
inline constexpr size_t kMaxChatMessages = 200;

void InstallChatRoutes(httplib::Server& server, const RouteContext& context,
                       ChatRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_CHAT_ROUTES_H_
