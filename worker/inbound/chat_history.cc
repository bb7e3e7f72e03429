#include "worker/inbound/chat_history.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace dynoguard::worker {

std::vector<ChatEntry> MergeChat(std::vector<ChatEntry> inbound,
                                 std::vector<ChatEntry> outbound,
                                 size_t limit) {
  std::vector<ChatEntry> all;
  all.reserve(inbound.size() + outbound.size());
  std::merge(std::make_move_iterator(inbound.begin()),
             std::make_move_iterator(inbound.end()),
             std::make_move_iterator(outbound.begin()),
             std::make_move_iterator(outbound.end()), std::back_inserter(all),
             [](const ChatEntry& out, const ChatEntry& in) {
               // std::merge takes from the first range on ties: inbound.
               return out.timestamp_ms < in.timestamp_ms;
             });
  if (all.size() > limit) {
    all.erase(all.begin(),
              all.begin() + static_cast<std::ptrdiff_t>(all.size() - limit));
  }
  return all;
}

common::Result<std::vector<ChatEntry>> ChatHistory::Recent(
    const std::string& wa_id, size_t limit) const {
  if (limit == 0) return std::vector<ChatEntry>();
  common::Result<std::vector<ChatEntry>> in =
      inbox_.RecentMessages(wa_id, limit);
  if (!in.ok()) return in.status();
  common::Result<std::vector<ChatEntry>> out = queue_.RecentTo(wa_id, limit);
  if (!out.ok()) return out.status();
  return MergeChat(std::move(*in), std::move(*out), limit);
}

}  // namespace dynoguard::worker
