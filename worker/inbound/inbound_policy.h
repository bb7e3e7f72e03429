// Inbound policy: the pure rules of the receiving side — how long a seen id is
// remembered (Meta redelivers for up to 7 days), how long a processed inbox
// row is kept, the 24-hour customer-service window per contact, and the keys
// under which messages, statuses and errors are deduplicated. Values in,
// values out; `now` is always passed in.
#ifndef DYNOGUARD_WORKER_INBOUND_INBOUND_POLICY_H_
#define DYNOGUARD_WORKER_INBOUND_INBOUND_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker {

inline constexpr int64_t kHourMs = 60 * 60 * 1000;
// Seen ids (messages, wamid+status) are remembered this long.
inline constexpr int64_t kSeenRetentionMs = 7 * 24 * kHourMs;
// Processed inbox rows (raw bodies, unparsable ones included) are kept this
// long for inspection, then deleted.
inline constexpr int64_t kProcessedInboxRetentionMs = 24 * kHourMs;
// WhatsApp's customer-service window: free-form messages may be sent to a
// contact for 24 hours after their last inbound message.
inline constexpr int64_t kCustomerServiceWindowMs = 24 * kHourMs;

// Seen entries recorded before this time may be deleted at `now_ms`.
int64_t SeenPruneCutoffMs(int64_t now_ms);
// Processed inbox rows received before this time may be deleted at `now_ms`.
int64_t InboxPruneCutoffMs(int64_t now_ms);

// The time a contact's window closes (exclusive) given their last inbound
// message at `last_inbound_ms`.
int64_t WindowClosesAtMs(int64_t last_inbound_ms);
// True when a contact whose last inbound message was at `last_inbound_ms`
// (nullopt: never wrote) may get a free-form message at `now_ms`: open from
// the message until 24 h later, exclusive (open at +24 h − 1 ms, closed at
// +24 h).
bool WindowOpenAt(std::optional<int64_t> last_inbound_ms, int64_t now_ms);

// The time that opens a contact's window for a message stamped
// `message_ms` (the provider's timestamp; 0 when absent) and received at
// `received_ms`: the message's own time, but never later than its receipt
// (a sender's clock ahead of ours must not stretch the window).
int64_t WindowStartMs(int64_t message_ms, int64_t received_ms);

// Deduplication keys (the `seen` table). Distinct prefixes keep the spaces
// apart: an inbound message id, a status of one of our messages (each
// status of a wamid is its own event: "delivered" after "read" is still
// reported once), an account error (no id: its inbox row and position).
std::string SeenMessageKey(std::string_view message_id);
std::string SeenStatusKey(std::string_view wamid, std::string_view status);
std::string SeenErrorKey(int64_t inbox_seq, size_t index);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_INBOUND_POLICY_H_
