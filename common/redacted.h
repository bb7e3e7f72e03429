// Redacted: a secret string (token, key, URI with password) that never prints
// itself.
#ifndef DYNOGUARD_COMMON_REDACTED_H_
#define DYNOGUARD_COMMON_REDACTED_H_

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace dynoguard::common {

class Redacted {
 public:
  Redacted() = default;
  explicit Redacted(std::string secret) : secret_(std::move(secret)) {}

  bool empty() const { return secret_.empty(); }
  // The secret itself, for the one place that must use it (an HTTP header, a
  // driver call).
  const std::string& Reveal() const { return secret_; }

 private:
  std::string secret_;
};

}  // namespace dynoguard::common

// Formatting a Redacted prints "[redacted]" or "[unset]", never the value.
template <>
struct fmt::formatter<dynoguard::common::Redacted>
    : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const dynoguard::common::Redacted& value,
              FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(
        value.empty() ? "[unset]" : "[redacted]", ctx);
  }
};

#endif  // DYNOGUARD_COMMON_REDACTED_H_
