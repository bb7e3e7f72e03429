// Logger: one line per event, as readable text (`<time> <level> <component>:
// <event> k=v ...`) or as one JSON object per line (LOG_FORMAT=json). A guard
// replaces every configured secret value that would appear in a line with
// "[redacted]".
//
// A JSON line is {"time":…,"level":…,"component":…,"event":…, fields…}: one
// key each, `level` always the severity. Fields keep their text-form key
// unless it is taken — a reserved key (time, level, component, event) or one
// an earlier field of the line already wrote (an unnamed value is "detail").
// A taken key becomes "<event>_<key>" (`cleanup level=standard` gives
// "cleanup_level":"standard"), then "<event>_<key>_2", "_3", ... until free.
#ifndef DYNOGUARD_COMMON_LOG_H_
#define DYNOGUARD_COMMON_LOG_H_

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/config.h"

namespace dynoguard::common {

class JsonWriter;

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
std::string_view ToString(LogLevel level);

// One key=value of a log line. An empty key prints the value bare in text form
// (e.g. "(95.5%)") and under "detail" in JSON form.
//
// `value` is what the text form prints: fmt's "{}" of what the call site
// passed. `scalar` keeps integers, floating-point numbers and booleans typed
// for the JSON form; it is empty (std::monostate) for strings and anything
// else fmt formats (enums with a formatter, Redacted, ...), which JSON writes
// as strings. So {"attempts", 3} is `attempts=3` and "attempts":3, and
// {"freed", "12MB"} stays "freed":"12MB".
struct LogField {
  using Scalar = std::variant<std::monostate, bool, int64_t, uint64_t, double>;

  template <typename T>
  LogField(std::string_view k, const T& v)
      : key(k), value(fmt::format("{}", v)), scalar(ToScalar(v)) {}
  LogField(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}

  std::string_view key;
  std::string value;
  Scalar scalar;

 private:
  template <typename T>
  static Scalar ToScalar(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v;
    } else if constexpr (std::is_same_v<T, char> ||
                         std::is_same_v<T, wchar_t> ||
                         std::is_same_v<T, char8_t> ||
                         std::is_same_v<T, char16_t> ||
                         std::is_same_v<T, char32_t>) {
      return std::monostate{};  // fmt prints a character, not a number
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      return static_cast<int64_t>(v);
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<uint64_t>(v);
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<double>(v);
    } else {
      return std::monostate{};
    }
  }
};

// Thread-safe: each line is formatted into one buffer and written with one
// write(2). Constant after construction (SetSecrets is called before threads
// start).
class Logger {
 public:
  // Writes to `fd` (default stderr); lines below `min_level` are dropped.
  Logger(std::string component, LogFormat format,
         LogLevel min_level = LogLevel::kInfo, int fd = 2);

  // Values that must never be printed (API keys, tokens); values under 4
  // characters are ignored. Text lines are scrubbed whole; in JSON each key
  // and value is scrubbed before it is escaped, and a number or boolean whose
  // text holds a secret is written as the scrubbed string. REQUIRES: called
  // before other threads log.
  void SetSecrets(std::vector<std::string> secrets);

  void Log(LogLevel level, std::string_view event,
           std::span<const LogField> fields) const;
  void Log(LogLevel level, std::string_view event,
           std::initializer_list<LogField> fields = {}) const {
    Log(level, event, std::span<const LogField>(fields.begin(), fields.size()));
  }
  void Error(std::string_view event,
             std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kError, event, fields);
  }
  void Warn(std::string_view event,
            std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kWarn, event, fields);
  }
  void Info(std::string_view event,
            std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kInfo, event, fields);
  }
  void Debug(std::string_view event,
             std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kDebug, event, fields);
  }

  // The line Log() would write (without the trailing newline), with `timestamp`
  // in place of the current time; pure, for tests.
  std::string Format(LogLevel level, std::string_view timestamp,
                     std::string_view event,
                     std::span<const LogField> fields) const;
  std::string Format(LogLevel level, std::string_view timestamp,
                     std::string_view event,
                     std::initializer_list<LogField> fields) const {
    return Format(level, timestamp, event,
                  std::span<const LogField>(fields.begin(), fields.size()));
  }

 private:
  std::string Scrub(std::string line) const;
  // The JSON key of a field: its own, or the renamed one (see the top of this
  // file) when `used` or the reserved keys already hold it.
  std::string JsonKey(std::string_view event, std::string_view key,
                      const std::vector<std::string>& used) const;
  void WriteJsonValue(JsonWriter& json, const LogField& field) const;

  std::string component_;
  LogFormat format_;
  LogLevel min_level_;
  int fd_;
  std::vector<std::string> secrets_;
};

// "42MB" style sizes for log lines (MiB, one decimal under 10).
std::string FormatMegabytes(uint64_t bytes);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_LOG_H_
