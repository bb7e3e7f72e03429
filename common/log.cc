#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "common/json_writer.h"
#include "common/time_format.h"

namespace dynoguard::common {
namespace {

// Text values with spaces, quotes or '=' are quoted so a line stays
// machine-splittable.
void AppendTextValue(std::string& out, std::string_view value) {
  bool needs_quotes = value.empty() ||
                      value.find_first_of(" \"=\t\n") != std::string_view::npos;
  if (!needs_quotes) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

}  // namespace

std::string_view ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

Logger::Logger(std::string component, LogFormat format, LogLevel min_level,
               int fd)
    : component_(std::move(component)),
      format_(format),
      min_level_(min_level),
      fd_(fd) {}

void Logger::SetSecrets(std::vector<std::string> secrets) {
  secrets_.clear();
  // Very short values would redact ordinary words; secrets this short are not
  // worth hiding.
  for (auto& secret : secrets) {
    if (secret.size() >= 4) secrets_.push_back(std::move(secret));
  }
}

std::string Logger::Format(LogLevel level, std::string_view timestamp,
                           std::string_view event,
                           std::initializer_list<LogField> fields) const {
  std::string line;
  if (format_ == LogFormat::kText) {
    line = fmt::format("{} {} {}: {}", timestamp, ToString(level), component_,
                       event);
    for (const auto& field : fields) {
      line += ' ';
      if (!field.key.empty()) {
        line += field.key;
        line += '=';
      }
      AppendTextValue(line, field.value);
    }
  } else {
    JsonWriter json;
    json.StartObject();
    json.Key("time").String(timestamp);
    json.Key("level").String(ToString(level));
    json.Key("component").String(component_);
    json.Key("event").String(event);
    for (const auto& field : fields) {
      json.Key(field.key.empty() ? "detail" : field.key).String(field.value);
    }
    json.EndObject();
    line = json.str();
  }
  return Scrub(std::move(line));
}

std::string Logger::Scrub(std::string line) const {
  for (const auto& secret : secrets_) {
    for (size_t at = line.find(secret); at != std::string::npos;
         at = line.find(secret, at)) {
      line.replace(at, secret.size(), "[redacted]");
    }
  }
  return line;
}

void Logger::Log(LogLevel level, std::string_view event,
                 std::initializer_list<LogField> fields) const {
  if (static_cast<int>(level) > static_cast<int>(min_level_)) return;
  std::string line = Format(level, FormatIsoUtc(WallClockMs()), event, fields);
  line += '\n';
  // One write keeps concurrent lines whole; retry only on EINTR, a log line is
  // never worth more.
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<size_t>(n);
  }
}

std::string FormatMegabytes(uint64_t bytes) {
  double mb = static_cast<double>(bytes) / (1024.0 * 1024.0);
  if (mb < 10) return fmt::format("{:.1f}MB", mb);
  return fmt::format("{:.0f}MB", mb);
}

}  // namespace dynoguard::common
