// EnsureCurlInitialized: libcurl's process-wide initialisation (which also
// initialises OpenSSL), done once, on first need. Nothing calls it at worker
// start: a sandbox worker that never speaks HTTP outward never maps or touches
// libcurl's and OpenSSL's state, and keeps its small idle RSS.
#ifndef DYNOGUARD_WORKER_NET_CURL_GLOBAL_H_
#define DYNOGUARD_WORKER_NET_CURL_GLOBAL_H_

#include "common/status.h"

namespace dynoguard::worker {

// Runs curl_global_init(CURL_GLOBAL_DEFAULT) the first time it is called (a
// std::call_once) and returns its outcome then and on every later call.
// Fails with Internal naming libcurl's error when the initialisation failed
// (it is not retried). curl_global_cleanup is never called: the state lives
// until the process exits. Thread-safe.
common::Status EnsureCurlInitialized();

// True once EnsureCurlInitialized has run (successfully or not). For tests and
// for the start log. Thread-safe.
bool CurlInitialized();

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_CURL_GLOBAL_H_
