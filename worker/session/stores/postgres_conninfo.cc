#include "worker/session/stores/postgres_conninfo.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace dynoguard::worker {
namespace {

constexpr std::string_view kRedacted = "[redacted]";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; a malformed escape is kept as written.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// The scheme of "scheme://...", lower-cased; empty when `url` has none.
std::string SchemeOf(std::string_view url) {
  size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return "";
  std::string scheme(url.substr(0, colon));
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' &&
        c != '.') {
      return "";  // a key=value string that holds "://" in a value
    }
  }
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme;
}

void AddSecret(std::vector<std::string>& secrets, std::string secret) {
  if (secret.empty()) return;
  if (std::find(secrets.begin(), secrets.end(), secret) != secrets.end()) {
    return;
  }
  secrets.push_back(std::move(secret));
}

void SortLongestFirst(std::vector<std::string>& secrets) {
  std::stable_sort(secrets.begin(), secrets.end(),
                   [](const std::string& a, const std::string& b) {
                     return a.size() > b.size();
                   });
}

// The value after "password=" in a key=value string (quoted or bare).
std::string KeywordPassword(std::string_view text) {
  size_t at = 0;
  while ((at = text.find("password", at)) != std::string_view::npos) {
    bool word_start =
        at == 0 || std::isspace(static_cast<unsigned char>(text[at - 1]));
    size_t i = at + 8;
    at = i;
    if (!word_start) continue;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    std::string value;
    if (i < text.size() && text[i] == '\'') {
      for (++i; i < text.size() && text[i] != '\''; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value.push_back(text[i]);
      }
    } else {
      for (; i < text.size() &&
             !std::isspace(static_cast<unsigned char>(text[i]));
           ++i) {
        value.push_back(text[i]);
      }
    }
    return value;
  }
  return "";
}

struct ConninfoFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
struct PqFree {
  void operator()(char* text) const { PQfreemem(text); }
};

// "5432" or "5432,5433" (one per host); an empty entry is the default.
bool ValidPorts(std::string_view ports) {
  size_t start = 0;
  while (start <= ports.size()) {
    size_t end = ports.find(',', start);
    if (end == std::string_view::npos) end = ports.size();
    std::string_view port = ports.substr(start, end - start);
    start = end + 1;
    if (port.empty()) continue;
    if (port.size() > 5) return false;
    int value = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return false;
  }
  return true;
}

bool ValidSslmode(std::string_view mode) {
  for (std::string_view m :
       {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    if (mode == m) return true;
  }
  return false;
}

int64_t CeilSeconds(std::chrono::milliseconds timeout) {
  return (timeout.count() + 999) / 1000;
}

}  // namespace

std::vector<std::string> PostgresUrlSecrets(std::string_view url) {
  std::vector<std::string> secrets;
  AddSecret(secrets, std::string(url));
  if (!SchemeOf(url).empty()) {
    // scheme://[user[:password]@]host... — the user-info ends at the last
    // '@' before the path, so an unencoded '@' in the password is kept.
    std::string_view rest = url.substr(url.find("://") + 3);
    size_t end = rest.find_first_of("/?#");
    std::string_view authority =
        end == std::string_view::npos ? rest : rest.substr(0, end);
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) {
        std::string_view password = userinfo.substr(colon + 1);
        AddSecret(secrets, std::string(password));
        AddSecret(secrets, PercentDecode(password));
      }
    }
    // A password can also come as a query parameter (?password=...).
    size_t query = url.find('?');
    while (query != std::string_view::npos) {
      std::string_view tail = url.substr(query + 1);
      if (tail.substr(0, 9) == "password=") {
        std::string_view value = tail.substr(9);
        value = value.substr(0, value.find_first_of("&#"));
        AddSecret(secrets, std::string(value));
        AddSecret(secrets, PercentDecode(value));
      }
      query = url.find('&', query + 1);
    }
  } else {
    AddSecret(secrets, KeywordPassword(url));
  }
  SortLongestFirst(secrets);
  return secrets;
}

std::string ScrubSecrets(std::string text,
                         const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    size_t at = 0;
    while ((at = text.find(secret, at)) != std::string::npos) {
      text.replace(at, secret.size(), kRedacted);
      at += kRedacted.size();
    }
  }
  return text;
}

common::Result<PostgresConnInfo> MakePostgresConnInfo(
    std::string_view url, std::chrono::milliseconds timeout) {
  if (url.empty()) {
    return common::Status::InvalidArgument(
        "postgres: DATABASE_URL is empty (expected "
        "postgres://user:password@host:port/database)");
  }
  PostgresConnInfo info;
  info.secrets = PostgresUrlSecrets(url);
  std::string scheme = SchemeOf(url);
  if (!scheme.empty() && scheme != "postgres" && scheme != "postgresql") {
    return common::Status::InvalidArgument(
        "postgres: DATABASE_URL must start with postgres:// or "
        "postgresql://, not " +
        ScrubSecrets(scheme, info.secrets) + "://");
  }
  std::string url_text(url);
  char* raw_error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> parsed(
      PQconninfoParse(url_text.c_str(), &raw_error));
  std::unique_ptr<char, PqFree> error(raw_error);
  if (!parsed) {
    std::string detail = error ? std::string(error.get()) : "out of memory";
    while (!detail.empty() &&
           std::isspace(static_cast<unsigned char>(detail.back()))) {
      detail.pop_back();
    }
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    return common::Status::InvalidArgument(
        "postgres: DATABASE_URL is not a valid PostgreSQL URL: " +
        ScrubSecrets(std::move(detail), info.secrets));
  }
  for (PQconninfoOption* option = parsed.get(); option->keyword != nullptr;
       ++option) {
    if (option->val != nullptr &&
        std::string_view(option->keyword) == "password") {
      AddSecret(info.secrets, option->val);
    }
  }
  SortLongestFirst(info.secrets);
  // libpq checks these only when it connects, and its complaint would then
  // look like an unreachable server.
  for (PQconninfoOption* option = parsed.get(); option->keyword != nullptr;
       ++option) {
    if (option->val == nullptr) continue;
    std::string_view keyword = option->keyword;
    std::string value = ScrubSecrets(option->val, info.secrets);
    if (keyword == "port" && !ValidPorts(option->val)) {
      return common::Status::InvalidArgument(
          "postgres: DATABASE_URL is not a valid PostgreSQL URL: port \"" +
          value + "\" is not a number from 1 to 65535");
    }
    if (keyword == "sslmode" && !ValidSslmode(option->val)) {
      return common::Status::InvalidArgument(
          "postgres: DATABASE_URL is not a valid PostgreSQL URL: sslmode \"" +
          value +
          "\" is not one of disable, allow, prefer, require, verify-ca, "
          "verify-full");
    }
  }

  const int64_t seconds = std::max<int64_t>(1, CeilSeconds(timeout));
  info.statement_timeout_ms = std::max<int64_t>(100, timeout.count() * 3 / 4);
  info.params = {
      {"dbname", url_text},
      // Our poll loop enforces the deadline; libpq's own connect_timeout
      // (per host, whole seconds, at least 2) is set for what it covers
      // when libpq connects by itself.
      {"connect_timeout", std::to_string(std::max<int64_t>(2, seconds))},
      {"keepalives", "1"},
      {"keepalives_idle", std::to_string(seconds)},
      {"keepalives_interval",
       std::to_string(std::max<int64_t>(1, seconds / 3))},
      {"keepalives_count", "3"},
      // Unacknowledged data for longer than the budget ends the connection
      // (a server that vanished without a reset).
      {"tcp_user_timeout", std::to_string(timeout.count())},
      {"application_name", "dynoguard"},
      {"client_encoding", "UTF8"},
  };
  return info;
}

}  // namespace dynoguard::worker
