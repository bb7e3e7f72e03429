#include "worker/inbound/inbound_policy.h"

#include <fmt/format.h>

#include <algorithm>

namespace dynoguard::worker {

int64_t SeenPruneCutoffMs(int64_t now_ms) { return now_ms - kSeenRetentionMs; }

int64_t InboxPruneCutoffMs(int64_t now_ms) {
  return now_ms - kProcessedInboxRetentionMs;
}

int64_t WindowClosesAtMs(int64_t last_inbound_ms) {
  return last_inbound_ms + kCustomerServiceWindowMs;
}

bool WindowOpenAt(std::optional<int64_t> last_inbound_ms, int64_t now_ms) {
  return last_inbound_ms.has_value() &&
         now_ms < WindowClosesAtMs(*last_inbound_ms);
}

int64_t WindowStartMs(int64_t message_ms, int64_t received_ms) {
  if (message_ms <= 0) return received_ms;
  return std::min(message_ms, received_ms);
}

std::string SeenMessageKey(std::string_view message_id) {
  return fmt::format("m:{}", message_id);
}

std::string SeenStatusKey(std::string_view wamid, std::string_view status) {
  return fmt::format("s:{}:{}", status, wamid);
}

std::string SeenErrorKey(int64_t inbox_seq, size_t index) {
  return fmt::format("e:{}:{}", inbox_seq, index);
}

}  // namespace dynoguard::worker
