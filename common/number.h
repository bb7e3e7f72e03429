// Whole-string number parsing, one way for every decimal the programs read:
// environment variables, query parameters, /proc fields, notify datagrams.
// Pure.
#ifndef DYNOGUARD_COMMON_NUMBER_H_
#define DYNOGUARD_COMMON_NUMBER_H_

#include <charconv>
#include <optional>
#include <string_view>
#include <type_traits>

namespace dynoguard::common {

// `text` as a T when it is nothing but decimal digits (no sign, no spaces, no
// trailing junk) and the value fits T; nullopt otherwise.
template <typename T>
std::optional<T> ParseDecimal(std::string_view text) {
  static_assert(std::is_integral_v<T>);
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Like ParseDecimal, and a leading '-' is allowed for a signed T.
template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  static_assert(std::is_integral_v<T>);
  if (std::is_signed_v<T> && !text.empty() && text.front() == '-') {
    if (text.size() < 2 || text[1] < '0' || text[1] > '9') return std::nullopt;
    T value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
  }
  return ParseDecimal<T>(text);
}

// ParseDecimal, and the value within [min, max].
template <typename T>
std::optional<T> ParseDecimalInRange(std::string_view text, T min, T max) {
  std::optional<T> value = ParseDecimal<T>(text);
  if (!value || *value < min || *value > max) return std::nullopt;
  return value;
}

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_NUMBER_H_
