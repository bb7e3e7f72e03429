// PostgresConnInfo: DATABASE_URL checked and turned into libpq's connection
// keywords (the URL first, then the store's timeouts and keepalives), with
// the secrets it holds, so that no message ever echoes them. Pure: no I/O.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_CONNINFO_H_
#define DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_CONNINFO_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace dynoguard::worker {

struct PostgresConnInfo {
  // libpq keyword/value pairs for PQconnectStartParams with expand_dbname=1:
  // "dbname" = the URL comes first, so the keywords after it take precedence
  // over the same keywords in the URL: connect_timeout, keepalives,
  // keepalives_idle, keepalives_interval, keepalives_count, tcp_user_timeout,
  // application_name ("dynoguard") and client_encoding ("UTF8"). TLS is what
  // the URL (sslmode, sslrootcert, ...) or libpq's environment (PGSSLMODE)
  // ask for; nothing here changes it.
  std::vector<std::pair<std::string, std::string>> params;
  // statement_timeout in ms, set with set_config() after each connect (a
  // startup "options" parameter is refused by poolers such as PgBouncer).
  // 3/4 of the store's timeout, so that the server cancels a slow statement
  // (SQLSTATE 57014) before the store's own deadline drops the connection.
  int64_t statement_timeout_ms = 0;
  // What must never appear in a message: the password (as written in the
  // URL and percent-decoded) and the whole URL. Longest first.
  std::vector<std::string> secrets;
};

// Checks `url` (DATABASE_URL: postgres:// or postgresql:// URI, as Heroku
// gives it, or a libpq "key=value" string) with libpq's own parser and
// builds the connection keywords for `timeout` (the whole budget of one
// store call; connect_timeout is its seconds, at least 2 as libpq requires).
// Errors: InvalidArgument, one line naming DATABASE_URL — empty, another
// scheme (mysql://...), or what libpq's parser says — with every secret
// replaced by "[redacted]".
common::Result<PostgresConnInfo> MakePostgresConnInfo(
    std::string_view url, std::chrono::milliseconds timeout);

// The secrets of `url` even when it does not parse: the password of a URI's
// user-info (raw and percent-decoded), of a "password=" keyword, and the
// whole URL. Empty strings are left out; longest first.
std::vector<std::string> PostgresUrlSecrets(std::string_view url);

// `text` with every occurrence of each secret replaced by "[redacted]".
// REQUIRES: `secrets` longest first (so a longer one is not cut by a
// shorter one inside it), as the functions above return them.
std::string ScrubSecrets(std::string text,
                         const std::vector<std::string>& secrets);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_CONNINFO_H_
