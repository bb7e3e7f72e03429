// The raw JSON of a SessionState: what the snapshot document's payload holds
// before compression (snapshot_codec.h). One compact object, every field of
// the state, strings byte for byte (any UTF-8; bytes that are not UTF-8 and
// NULs survive too), optionals left out when empty:
//   {"name","sequence","savedAt","transport",
//    "pending":[M…],"awaitingStatus":[M…],
//    "inbox":[{"seq","source","body","receivedAt"}…],
//    "outbox":[{"event":{"id","type","chat","timestamp","json"},"attempts",
//               "nextAttemptAt","firstFailureAt"?,"lastError","createdAt",
//               "updatedAt"}…],
//    "seen":[{"key","at"}…],"windows":[{"waId","lastInbound"}…],
//    "connection":{"state","reason","lastHeartbeat"?,"lastInbound"?,
//                  "lastOutbound"?},
//    "counters":{"name":n…}}
//   M = {"id","to","type","content","text","template","replyTo",
//        "idempotencyKey","status","attempts","providerId","providerStatus",
//        "error"?:{"code","message","retryable"},"nextAttemptAt","createdAt",
//        "updatedAt"}
// Times are integers, milliseconds since the epoch.
#ifndef DYNOGUARD_WORKER_SESSION_SNAPSHOT_JSON_H_
#define DYNOGUARD_WORKER_SESSION_SNAPSHOT_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

// The raw JSON of `state`. Pure, thread-safe.
std::string SessionStateToJson(const SessionState& state);

// SessionStateToJson without "sequence" and "savedAt": what StateDigest
// (snapshot_codec.h) hashes. Pure, thread-safe.
std::string SessionContentToJson(const SessionState& state);

// One message's object (M above), as SessionStateToJson writes it in
// "pending": what the pending-size probe (pending_probe.h) measures. Pure,
// thread-safe.
std::string MessageToJson(const OutboundMessage& message);

// The inverse of SessionStateToJson. InvalidArgument with one line naming the
// first bad field ("session snapshot: field pending[3].attempts must be an
// integer"; never its value): not an object, a field missing or of the wrong
// type, an unknown status or inbox source. Nesting of any depth is refused
// without recursion. Pure, thread-safe.
common::Result<SessionState> SessionStateFromJson(std::string_view json);

// The size in bytes of each droppable entry's JSON within
// SessionStateToJson(state) (comma included), in the state's order: what the
// size cap (snapshot_budget.h) weighs before it drops. Pure, thread-safe.
struct EntrySizes {
  std::vector<size_t> awaiting_status;
  std::vector<size_t> inbox;
  std::vector<size_t> outbox;
  std::vector<size_t> seen;
  std::vector<size_t> windows;
};
EntrySizes JsonEntrySizes(const SessionState& state);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SNAPSHOT_JSON_H_
