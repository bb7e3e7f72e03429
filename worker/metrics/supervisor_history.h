// SupervisorHistory: the worker's side of the supervisor's `history` control
// command — one request over the control socket (DATA_DIR/supervisor.sock),
// the memory samples and events the supervisor keeps across worker restarts
// back, for GET /dashboard.
#ifndef DYNOGUARD_WORKER_METRICS_SUPERVISOR_HISTORY_H_
#define DYNOGUARD_WORKER_METRICS_SUPERVISOR_HISTORY_H_

#include <chrono>
#include <string>
#include <string_view>

#include "common/memory_history.h"
#include "common/status.h"

namespace dynoguard::worker {

// Parses the `history` answer (common::MemoryHistoryJson's shape). Points
// that are not four non-negative integers and events of an unknown kind are
// skipped; at most the sizes a MemoryHistory can hold are kept. Errors:
// InvalidArgument when `json` is not such an object (or says "ok":false:
// its "error" is in the message). Pure.
common::Result<common::MemoryHistorySnapshot> ParseSupervisorHistory(
    std::string_view json);

// Sends `history` to the supervisor listening on `socket_path` and parses
// the answer. Blocks the calling thread for at most `timeout` in all.
// Errors: Unavailable when nobody listens there (the worker runs alone),
// IOError on a timeout or a broken answer, InvalidArgument from the parser
// (an older supervisor answers "unknown request"). Thread-safe.
common::Result<common::MemoryHistorySnapshot> FetchSupervisorHistory(
    const std::string& socket_path, std::chrono::milliseconds timeout);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_METRICS_SUPERVISOR_HISTORY_H_
