// PostgreSQL failures as Status: libpq's error text made one line (with its
// SQLSTATE picked out) and the code chosen from the SQLSTATE — what the
// session manager does next depends on it (retry later, or tell the user to
// fix DATABASE_URL). Pure: no I/O.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_ERRORS_H_
#define DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_ERRORS_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

struct LibpqMessage {
  std::string sqlstate;  // e.g. "28P01"; empty when the text has none
  std::string text;      // one line: "FATAL: password authentication ..."
};

// Parses a libpq error message — PQerrorMessage() of a connection whose
// verbosity is PQERRORS_VERBOSE ("FATAL:  28P01: password authentication
// failed ...\nLOCATION:  ...") or at the default verbosity, or a result's.
// The first "SEVERITY:  XXXXX: " (also after libpq's own "connection to
// server at ... failed: ") gives the SQLSTATE and is cut out of the text;
// LOCATION and blank lines are dropped, tabs become spaces, the remaining
// lines are joined with "; ". Never fails: unknown text is kept (one line,
// trimmed); an empty message becomes "no message from libpq"; a text past
// 500 bytes is cut there (at a character boundary) and ends in "...".
LibpqMessage ParseLibpqMessage(std::string_view message);

// What went wrong in a call to the store, as the SessionStore contract
// wants it. `what` names the step ("connect", "load 'name'", ...);
// `sqlstate` may be empty (a client-side failure: refused, DNS, TLS, lost
// connection); `text` is already one line and free of secrets. Rules, first
// match wins:
//  1. 28P01, 28000 (authentication), 42501 (insufficient privilege) →
//     PermissionDenied, naming DATABASE_URL's user and password.
//  2. 3D000 (no such database) → InvalidArgument, naming DATABASE_URL.
//  3. class 08 (connection), 53 (insufficient resources: too many
//     connections, disk full), 57014 (statement timeout), 57P01–57P03
//     (shutdown, starting up), 55P03 (lock not available), 40001/40P01
//     (serialization, deadlock), 25006 (read-only: a fail-over) →
//     Unavailable.
//  4. no SQLSTATE → Unavailable (the server could not be reached or the
//     connection broke).
//  5. class 22 (data), 23 (integrity), 54 (program limit) →
//     InvalidArgument: the server refused this request.
//  6. anything else → Internal.
// Each message: "postgres: <what>: <text> (SQLSTATE XXXXX)" with a hint
// where one helps.
common::Status PostgresFailure(std::string_view what, std::string_view sqlstate,
                               std::string_view text);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_POSTGRES_ERRORS_H_
