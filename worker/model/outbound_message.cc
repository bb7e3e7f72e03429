#include "worker/model/outbound_message.h"

#include <array>
#include <utility>

namespace dynoguard::worker {

namespace {

constexpr std::array<std::pair<MessageStatus, std::string_view>, 6>
    kStatusNames = {{
        {MessageStatus::kQueued, "queued"},
        {MessageStatus::kSending, "sending"},
        {MessageStatus::kSent, "sent"},
        {MessageStatus::kDelivered, "delivered"},
        {MessageStatus::kRead, "read"},
        {MessageStatus::kFailed, "failed"},
    }};

}  // namespace

std::string_view ToString(MessageStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "unknown";
}

std::optional<MessageStatus> ParseMessageStatus(std::string_view text) {
  for (const auto& [value, name] : kStatusNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

std::string_view EffectiveType(std::string_view type,
                               std::string_view template_json) {
  if (!type.empty()) return type;
  return template_json.empty() ? "text" : "template";
}

}  // namespace dynoguard::worker
