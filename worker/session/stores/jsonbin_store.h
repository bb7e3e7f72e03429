// JsonBinSessionStore: the session snapshot as the record of one private
// JSONBin bin (JSONBin v3 API, https://jsonbin.io/api-reference), over the
// worker's asynchronous HttpClient — SESSION_STORAGE_TYPE=jsonbin.
//
//   Load: GET  {base}/b/{id}/latest  (X-Bin-Meta: false: the record alone)
//   Save: PUT  {base}/b/{id}         (Content-Type: application/json)
//         POST {base}/b              when no bin id is configured: the first
//              Save creates a private bin (X-Bin-Private: true, X-Bin-Name:
//              dynoguard-<session>) holding the document, logs its id once
//              ("jsonbin-bin-created id=… set JSONBIN_BIN_ID=… to keep using
//              it") and PUTs to it from then on.
// Auth: X-Master-Key when a master key is set, else X-Access-Key.
//
// One request at a time, in the order of the calls (a later Save never
// overtakes an earlier one: JSONBin cannot compare sequences). JSONBin asks
// for at most 5–10 requests a minute: debouncing is the session manager's
// job, not the store's.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_STORE_H_
#define DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/status.h"
#include "worker/net/http_client.h"
#include "worker/session/session_store.h"
#include "worker/session/stores/jsonbin_errors.h"

namespace dynoguard::worker {

struct JsonBinOptions {
  // JSONBIN_BASE_URL, http(s); a trailing '/' is ignored.
  // Default: JSONBin's v3 API.
  std::string base_url = "https://api.jsonbin.io/v3";
  // JSONBIN_MASTER_KEY: sent as X-Master-Key when set. Default: unset.
  std::string master_key;
  // JSONBIN_API_KEY (an Access Key with bins read/update/create permission):
  // sent as X-Access-Key when no master key is set. Default: unset.
  std::string access_key;
  // JSONBIN_BIN_ID; empty: Load finds nothing and the first Save creates a
  // bin. Default: empty.
  std::string bin_id;
  // SESSION_NAME: names a created bin "dynoguard-<name>". Default: empty.
  std::string session_name;
  // Each request's whole time (connecting included); also capped by the
  // HttpClient's max_timeout. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  // The largest document Save sends; a larger one is refused before any
  // request. Default: JSONBin's 1 MB record cap (1 MiB).
  size_t max_record_bytes = 1024 * 1024;
  // For the bin-created and bin-not-found lines; null: no log. Default: null.
  const common::Logger* log = nullptr;
  // Hands an answer known at once (a refused document, no bin id, after
  // Stop) to the loop, so that it never runs within the call: the worker's
  // PostToLoop. Empty: HttpClient::Post — whose wake-up does not keep an
  // otherwise idle loop running, so a loop with nothing else to do may exit
  // before such an answer runs. Answers of requests come from the
  // HttpClient's completion directly. Default: empty.
  PostToLoop post;
};

// Thread-safety: loop thread only (as the HttpClient it uses).
class JsonBinSessionStore : public SessionStore {
 public:
  // REQUIRES: `http` outlives the store and is not closed before Stop's
  // `done` ran (a closed client answers nothing; posted answers are dropped
  // when options.post drops them).
  JsonBinSessionStore(HttpClient& http, JsonBinOptions options);
  // Cancels a request in flight; answers not yet posted are dropped.
  ~JsonBinSessionStore() override;
  JsonBinSessionStore(const JsonBinSessionStore&) = delete;
  JsonBinSessionStore& operator=(const JsonBinSessionStore&) = delete;

  std::string_view kind() const override { return "jsonbin"; }
  // The bin in use: the configured one or the one a Save created; "" before.
  const std::string& bin_id() const { return bin_id_; }

  // The bin's latest record re-written as compact JSON text; nullopt when no
  // bin is configured (nor created yet) and when JSONBin answers 404 (logged
  // as a warning naming JSONBIN_BIN_ID). Errors (messages name the variable
  // to fix, never a key): PermissionDenied (401 key, 403 quota/permission),
  // InvalidArgument (400, a bad JSONBIN_BIN_ID), Unavailable (429 with its
  // Retry-After, 5xx, network, timeout, Stop).
  void Load(LoadDone done) override;
  // Stores `document` (one JSON object) as the bin's record; `sequence` is
  // not compared (JSONBin cannot). A document over max_record_bytes is
  // refused with InvalidArgument before any request. Errors as Load, and
  // 404 → InvalidArgument naming JSONBIN_BIN_ID.
  void Save(std::string document, uint64_t sequence, SaveDone done) override;
  // Calls not started are answered Unavailable; the request in flight is
  // cancelled (its call answered Unavailable); then `done` runs on the loop.
  void Stop(std::function<void()> done) override;

 private:
  struct Call {
    LoadDone load_done;  // set for a Load
    SaveDone save_done;  // set for a Save
    std::string document;
  };

  void Enqueue(std::unique_ptr<Call> call);
  // Starts queued calls until one is in flight or the queue is empty.
  void Pump();
  // Starts `call`'s request; false when it was answered without one.
  bool StartCall(std::unique_ptr<Call>& call);
  void OnAnswer(HttpResponse response);
  // Answers `call` now (`now`: from a completion, outside any call of ours)
  // or through Answer.
  void AnswerLoad(Call& call, common::Result<std::optional<std::string>> r,
                  bool now = false);
  void AnswerSave(Call& call, common::Status status, bool now = false);
  void Answer(std::function<void()> task);
  HttpRequest NewRequest(HttpMethod method, std::string path) const;
  JsonBinErrorContext ErrorContext(JsonBinCall call) const;

  HttpClient& http_;
  const JsonBinOptions options_;
  const std::string base_;  // base_url without a trailing '/'

  // Loop thread only.
  std::string bin_id_;
  std::deque<std::unique_ptr<Call>> queue_;
  std::unique_ptr<Call> current_;  // the call whose request is in flight
  JsonBinCall current_kind_ = JsonBinCall::kRead;
  std::optional<HttpRequestId> in_flight_;
  bool stopped_ = false;
  bool destroying_ = false;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_STORE_H_
