#include "worker/net/curl_global.h"

#include <curl/curl.h>

#include <atomic>
#include <mutex>
#include <string>

namespace dynoguard::worker {
namespace {

// The one process-wide piece of state here, as libcurl itself keeps one: the
// outcome of curl_global_init, written once under the call_once.
std::once_flag init_once;
std::atomic<bool> initialized{false};
CURLcode init_result = CURLE_OK;

}  // namespace

common::Status EnsureCurlInitialized() {
  std::call_once(init_once, [] {
    init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    initialized.store(true, std::memory_order_release);
  });
  if (init_result != CURLE_OK) {
    return common::Status::Internal(std::string("curl_global_init: ") +
                                    curl_easy_strerror(init_result));
  }
  return common::Status::Ok();
}

bool CurlInitialized() { return initialized.load(std::memory_order_acquire); }

}  // namespace dynoguard::worker
