#include "common/byte_size.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace dynoguard::common {
namespace {

constexpr uint64_t kKiB = 1024;

// The multiplier of a unit (already lowercased), or 0 when unknown.
uint64_t UnitMultiplier(std::string_view unit) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 13> kUnits{
      {{"", 1},
       {"b", 1},
       {"k", kKiB},
       {"kb", kKiB},
       {"kib", kKiB},
       {"m", kKiB * kKiB},
       {"mb", kKiB * kKiB},
       {"mib", kKiB * kKiB},
       {"g", kKiB * kKiB * kKiB},
       {"gb", kKiB * kKiB * kKiB},
       {"gib", kKiB * kKiB * kKiB},
       {"t", kKiB * kKiB * kKiB * kKiB},
       {"tb", kKiB * kKiB * kKiB * kKiB}}};
  for (const auto& [name, multiplier] : kUnits) {
    if (name == unit) return multiplier;
  }
  return 0;
}

}  // namespace

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  size_t number_end = 0;
  while (number_end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[number_end])) ||
          text[number_end] == '.')) {
    ++number_end;
  }
  std::string_view number = text.substr(0, number_end);
  std::string unit(text.substr(number_end));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  const uint64_t multiplier = UnitMultiplier(unit);
  if (number.empty() || multiplier == 0) return std::nullopt;

  if (number.find('.') == std::string_view::npos) {
    uint64_t value = 0;
    auto [ptr, ec] =
        std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size()) {
      return std::nullopt;
    }
    if (value > UINT64_MAX / multiplier) return std::nullopt;
    return value * multiplier;
  }
  // A decimal needs a unit: "1.5" bytes means nothing.
  if (multiplier == 1) return std::nullopt;
  double value = 0;
  auto [ptr, ec] =
      std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || ptr != number.data() + number.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  const double bytes = value * static_cast<double>(multiplier);
  if (bytes >= 18446744073709551616.0) return std::nullopt;  // 2^64
  return static_cast<uint64_t>(bytes);
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr std::array<std::string_view, 4> kNames{"GiB", "MiB", "KiB",
                                                          "B"};
  uint64_t unit = kKiB * kKiB * kKiB;
  for (std::string_view name : kNames) {
    if (bytes % unit == 0 && bytes >= unit) {
      return fmt::format("{} {}", bytes / unit, name);
    }
    unit /= kKiB;
  }
  return fmt::format("{} B", bytes);  // 0
}

}  // namespace dynoguard::common
