#include "worker/inbound/event_router.h"

namespace dynoguard::worker {
namespace {

// A phone number is personal data: logs show its last four digits only.
std::string MaskPhone(std::string_view phone) {
  if (phone.size() <= 4) return "…";
  return "…" + std::string(phone.substr(phone.size() - 4));
}

// Per-id cost in the index: the string twice (set node + deque), hash node
// overhead.
uint64_t EntryBytes(const std::string& id) {
  return 2 * (sizeof(std::string) + id.capacity()) + 32;
}

}  // namespace

EventRouter::EventRouter(const common::Logger& log, MessageQueue& queue,
                         std::function<int64_t()> now_ms, size_t max_seen_ids)
    : log_(log),
      queue_(queue),
      now_ms_(std::move(now_ms)),
      max_seen_ids_(max_seen_ids) {}

bool EventRouter::Remember(const std::string& id) {
  std::lock_guard lock(mu_);
  if (!seen_.insert(id).second) return false;
  seen_order_.push_back(id);
  while (seen_order_.size() > max_seen_ids_) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void EventRouter::OnInbound(const InboundMessage& message) {
  if (!Remember(message.id)) {
    duplicates_total_.fetch_add(1);
    log_.Debug("inbound-duplicate", {{"id", message.id}});
    return;
  }
  inbound_total_.fetch_add(1);
  log_.Info("inbound", {{"id", message.id},
                        {"from", MaskPhone(message.from)},
                        {"chars", message.text.size()}});
}

void EventRouter::OnStatus(const StatusUpdate& update) {
  auto status = queue_.ApplyProviderStatus(update.provider_id, update.status,
                                           update.error, now_ms_());
  if (!status.ok()) {
    // Statuses for messages sent before this queue existed (or by another app)
    // are normal.
    log_.Debug("status-ignored", {{"provider_id", update.provider_id},
                                  {"error", status.message()}});
    return;
  }
  log_.Debug("status", {{"provider_id", update.provider_id},
                        {"status", ToString(update.status)}});
}

uint64_t EventRouter::bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = seen_.bucket_count() * sizeof(void*);
  for (const auto& id : seen_order_) total += EntryBytes(id);
  return total;
}

uint64_t EventRouter::Trim(CleanupLevel level) {
  std::lock_guard lock(mu_);
  uint64_t freed = 0;
  size_t drop = level == CleanupLevel::kEmergency ? seen_order_.size()
                                                  : seen_order_.size() / 2;
  for (size_t i = 0; i < drop; ++i) {
    freed += EntryBytes(seen_order_.front());
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  if (level == CleanupLevel::kEmergency) {
    std::unordered_set<std::string>().swap(seen_);
    std::deque<std::string>().swap(seen_order_);
  } else {
    seen_.rehash(0);
  }
  return freed;
}

}  // namespace dynoguard::worker
