#include "common/log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <type_traits>
#include <variant>

#include "common/json_writer.h"
#include "common/time_format.h"

namespace dynoguard::common {
namespace {

// The keys every JSON line starts with; no field may write them again.
constexpr std::string_view kReservedJsonKeys[] = {"time", "level", "component",
                                                  "event"};

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
                           std::span<const LogField> fields) const {
  if (format_ == LogFormat::kText) {
    std::string line = fmt::format("{} {} {}: {}", timestamp, ToString(level),
                                   component_, event);
    for (const auto& field : fields) {
      line += ' ';
      if (!field.key.empty()) {
        line += field.key;
        line += '=';
      }
      AppendTextValue(line, field.value);
    }
    return Scrub(std::move(line));
  }
  JsonWriter json;
  json.StartObject();
  json.Key("time").String(Scrub(std::string(timestamp)));
  json.Key("level").String(ToString(level));
  json.Key("component").String(Scrub(component_));
  json.Key("event").String(Scrub(std::string(event)));
  std::vector<std::string> used;
  used.reserve(fields.size());
  for (const auto& field : fields) {
    used.push_back(JsonKey(event, field.key, used));
    json.Key(used.back());
    WriteJsonValue(json, field);
  }
  json.EndObject();
  return json.str();
}

// Keys are scrubbed before the collision check, so two keys a secret turns
// into the same text still come out distinct.
std::string Logger::JsonKey(std::string_view event, std::string_view key,
                            const std::vector<std::string>& used) const {
  auto taken = [&used](std::string_view candidate) {
    for (std::string_view reserved : kReservedJsonKeys) {
      if (candidate == reserved) return true;
    }
    return std::find(used.begin(), used.end(), candidate) != used.end();
  };
  std::string name = Scrub(std::string(key.empty() ? "detail" : key));
  if (!taken(name)) return name;
  std::string renamed = Scrub(fmt::format("{}_{}", event, name));
  for (int n = 2; taken(renamed); ++n) {
    renamed = Scrub(fmt::format("{}_{}_{}", event, name, n));
  }
  return renamed;
}

void Logger::WriteJsonValue(JsonWriter& json, const LogField& field) const {
  // A number or boolean whose text holds a secret goes out as the scrubbed
  // string: "[redacted]" is no number, and the line must still parse.
  std::string text = Scrub(field.value);
  if (text != field.value) {
    json.String(text);
    return;
  }
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          json.Bool(v);
        } else if constexpr (std::is_same_v<V, int64_t>) {
          json.Int(v);
        } else if constexpr (std::is_same_v<V, uint64_t>) {
          json.Uint(v);
        } else if constexpr (std::is_same_v<V, double>) {
          // JSON has no NaN or infinity (RapidJSON would write nothing and
          // break the line): those keep fmt's text, as a string.
          if (std::isfinite(v)) {
            json.Double(v);
          } else {
            json.String(text);
          }
        } else {
          json.String(text);
        }
      },
      field.scalar);
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
                 std::span<const LogField> fields) const {
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
