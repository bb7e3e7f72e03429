// ASCII text helpers for protocol fields (HTTP headers, tokens, schemes):
// case-insensitive comparison, lower-casing and trimming of spaces and tabs.
// Bytes outside A–Z are left as they are. Pure.
#ifndef DYNOGUARD_COMMON_ASCII_H_
#define DYNOGUARD_COMMON_ASCII_H_

#include <string>
#include <string_view>

namespace dynoguard::common {

inline char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// True when `a` and `b` are equal ignoring the case of A–Z.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

// `text` without leading and trailing spaces and tabs (HTTP's OWS).
inline std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_ASCII_H_
