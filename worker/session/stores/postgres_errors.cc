#include "worker/session/stores/postgres_errors.h"

#include <cctype>
#include <vector>

namespace dynoguard::worker {
namespace {

constexpr size_t kMaxText = 500;

std::string_view Trim(std::string_view text) {
  while (!text.empty() &&
         std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

bool IsSqlstate(std::string_view text) {
  if (text.size() != 5) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) &&
        !std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool IsSeverity(std::string_view word) {
  for (std::string_view s : {"ERROR", "FATAL", "PANIC", "WARNING", "NOTICE"}) {
    if (word == s) return true;
  }
  return false;
}

// "... failed: FATAL:  28P01: text" → sqlstate 28P01, line "... failed:
// FATAL: text" (libpq puts its own context before the server's severity);
// a line without a SQLSTATE is only tidied (one space after the severity).
std::string TidyLine(std::string_view line, std::string* sqlstate) {
  for (size_t colon = line.find(':'); colon != std::string_view::npos;
       colon = line.find(':', colon + 1)) {
    size_t word = colon;
    while (word > 0 && std::isupper(static_cast<unsigned char>(line[word - 1])))
      --word;
    if (word > 0 && line[word - 1] != ' ') continue;
    if (!IsSeverity(line.substr(word, colon - word))) continue;
    std::string_view rest = Trim(line.substr(colon + 1));
    if (rest.size() > 6 && rest[5] == ':' && IsSqlstate(rest.substr(0, 5))) {
      if (sqlstate->empty()) *sqlstate = std::string(rest.substr(0, 5));
      rest = Trim(rest.substr(6));
    }
    return std::string(line.substr(0, colon + 1)) + " " + std::string(rest);
  }
  return std::string(line);
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string WithState(std::string_view message, std::string_view sqlstate) {
  std::string out(message);
  if (!sqlstate.empty()) out += " (SQLSTATE " + std::string(sqlstate) + ")";
  return out;
}

}  // namespace

LibpqMessage ParseLibpqMessage(std::string_view message) {
  LibpqMessage parsed;
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = Trim(message.substr(start, end - start));
    start = end + 1;
    if (line.empty() || StartsWith(line, "LOCATION:")) continue;
    std::string tidy = TidyLine(line, &parsed.sqlstate);
    for (char& c : tidy) {
      if (c == '\t' || c == '\r') c = ' ';
    }
    lines.push_back(std::move(tidy));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) parsed.text += "; ";
    parsed.text += lines[i];
  }
  if (parsed.text.empty()) parsed.text = "no message from libpq";
  if (parsed.text.size() > kMaxText) {
    // Not inside a UTF-8 sequence: back up to a lead byte.
    size_t cut = kMaxText;
    while (cut > 0 &&
           (static_cast<unsigned char>(parsed.text[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    parsed.text.resize(cut);
    parsed.text += "...";
  }
  return parsed;
}

common::Status PostgresFailure(std::string_view what, std::string_view sqlstate,
                               std::string_view text) {
  const std::string head =
      "postgres: " + std::string(what) + ": " + std::string(text);
  const std::string_view cls = sqlstate.substr(0, 2);
  if (sqlstate == "28P01" || sqlstate == "28000" || sqlstate == "42501") {
    return common::Status::PermissionDenied(
        WithState(head, sqlstate) +
        "; check the user and password in DATABASE_URL");
  }
  if (sqlstate == "3D000") {
    return common::Status::InvalidArgument(
        WithState(head, sqlstate) + "; check the database in DATABASE_URL");
  }
  if (cls == "08" || cls == "53" || sqlstate == "57014" ||
      sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      sqlstate == "55P03" || sqlstate == "40001" || sqlstate == "40P01" ||
      sqlstate == "25006" || sqlstate.empty()) {
    return common::Status::Unavailable(WithState(head, sqlstate));
  }
  if (cls == "22" || cls == "23" || cls == "54") {
    return common::Status::InvalidArgument(WithState(head, sqlstate));
  }
  return common::Status::Internal(WithState(head, sqlstate));
}

}  // namespace dynoguard::worker
