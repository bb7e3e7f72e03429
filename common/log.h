// Logger: one line per event, as readable text (`<time> <level> <component>:
// <event> k=v ...`) or as one JSON object per line (LOG_FORMAT=json). A guard
// replaces every configured secret value that would appear in a line with
// "[redacted]".
#ifndef DYNOGUARD_COMMON_LOG_H_
#define DYNOGUARD_COMMON_LOG_H_

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace dynoguard::common {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
std::string_view ToString(LogLevel level);

// One key=value of a log line. An empty key prints the value bare in text form
// (e.g. "(95.5%)") and under "detail" in JSON form.
struct LogField {
  template <typename T>
  LogField(std::string_view k, const T& v)
      : key(k), value(fmt::format("{}", v)) {}
  LogField(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}

  std::string_view key;
  std::string value;
};

// Thread-safe: each line is formatted into one buffer and written with one
// write(2). Constant after construction (SetSecrets is called before threads
// start).
class Logger {
 public:
  // Writes to `fd` (default stderr); lines below `min_level` are dropped.
  Logger(std::string component, LogFormat format,
         LogLevel min_level = LogLevel::kInfo, int fd = 2);

  // Values that must never be printed (API keys, tokens). REQUIRES: called
  // before other threads log.
  void SetSecrets(std::vector<std::string> secrets);

  void Log(LogLevel level, std::string_view event,
           std::initializer_list<LogField> fields = {}) const;
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
                     std::initializer_list<LogField> fields) const;

 private:
  std::string Scrub(std::string line) const;

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
