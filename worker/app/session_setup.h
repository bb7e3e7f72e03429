// MakeSessionManager: the session manager the configuration asks for — the
// local file (always) and the SESSION_STORAGE_TYPE store (JSONBin over the
// worker's HttpClient, PostgreSQL, MongoDB), the key, the cap, the autosave
// period, the debounce — over the Gateway's local stores.
#ifndef DYNOGUARD_WORKER_APP_SESSION_SETUP_H_
#define DYNOGUARD_WORKER_APP_SESSION_SETUP_H_

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/config.h"
#include "common/log.h"
#include "common/status.h"
#include "worker/app/gateway.h"
#include "worker/net/http_client.h"
#include "worker/session/session_manager.h"

namespace dynoguard::worker {

// True when the configuration needs the HTTP client for its session store
// (JSONBin with backups on).
bool SessionNeedsHttp(const common::Config& config);

// Errors: InvalidArgument for a SESSION_ENCRYPTION_KEY that is not 32 bytes
// (the worker exits 2), or a store that cannot be made from its variables.
// `http` is required when SessionNeedsHttp(config). REQUIRES: on the loop
// thread; `gateway`, `http`, `loop` and `log` outlive the manager.
common::Result<std::unique_ptr<SessionManager>> MakeSessionManager(
    const common::Config& config, const common::Logger& log, uv_loop_t* loop,
    HttpClient* http, Gateway& gateway, PostToLoop post,
    std::function<int64_t()> now_ms);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_APP_SESSION_SETUP_H_
