// Which HTTP requests get a `request` log line, and at which level
// (LOG_REQUESTS; docs/operations.md). Writing a line per request costs more
// than answering /health, so by default only what an operator acts on is
// logged. Pure.
#ifndef DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_LOG_POLICY_H_
#define DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_LOG_POLICY_H_

#include <chrono>
#include <optional>

#include "common/config.h"
#include "common/log.h"

namespace dynoguard::worker::http_server {

// The level for a request answered with `status` after `elapsed`, or nullopt
// for no line: answers >= 500 and requests slower than `slow` at warn; with
// LogRequests::kAll every other request at info; otherwise 4xx at debug and
// the rest not at all.
std::optional<common::LogLevel> RequestLogLevel(
    common::LogRequests policy, int status, std::chrono::milliseconds elapsed,
    std::chrono::milliseconds slow);

}  // namespace dynoguard::worker::http_server

#endif  // DYNOGUARD_WORKER_HTTP_SERVER_REQUEST_LOG_POLICY_H_
