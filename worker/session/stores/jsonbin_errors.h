// JSONBin answers as Statuses: what the JSONBin v3 API's documented errors
// (401 key, 403 quota or permission, 404 bin, 400 invalid request, 429 rate
// limit, 5xx) mean for a session store, each as one clear line that names
// the variable to fix and never a key. Pure.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_ERRORS_H_
#define DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_ERRORS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/net/http_error.h"

namespace dynoguard::worker {

// Which JSONBin call got the answer.
enum class JsonBinCall {
  kRead,    // GET /b/{id}/latest
  kCreate,  // POST /b
  kUpdate,  // PUT /b/{id}
};

// What the caller must know to word the message.
struct JsonBinErrorContext {
  JsonBinCall call = JsonBinCall::kRead;
  // The variable holding the key that was sent: "JSONBIN_MASTER_KEY" or
  // "JSONBIN_API_KEY" ("" when none was set).
  std::string_view key_variable;
  std::string_view bin_id;  // "" for kCreate
  // Strings that must never appear in a message (the keys): replaced by
  // "[redacted]" in JSONBin's own text before it is quoted. Values under 4
  // characters are ignored.
  std::vector<std::string_view> secrets;
};

// JSONBin's own message from an error body {"message":"…"}: one line (control
// characters become spaces), at most 200 bytes (cut at a UTF-8 boundary,
// "…" appended), secrets redacted. A body that is not that shape gives its
// first 200 bytes the same way; an empty body gives "".
std::string JsonBinMessage(std::string_view body,
                           const std::vector<std::string_view>& secrets);

// The Status for a complete answer of HTTP `status` (REQUIRES: not 2xx):
//   401 → PermissionDenied: the key was refused; names key_variable.
//   403 → PermissionDenied: quota used up, size over the plan, or the key
//         lacks this permission; JSONBin's message included.
//   404 → kRead: NotFound (the caller treats it as "no session yet");
//         kUpdate: InvalidArgument naming JSONBIN_BIN_ID;
//         kCreate: InvalidArgument naming JSONBIN_BASE_URL.
//   400, 413 and other 4xx but 408 → InvalidArgument with JSONBin's message
//         (naming JSONBIN_BIN_ID when it is about the bin id).
//   429 → Unavailable: rate limited; `retry_after` (the header, as sent)
//         kept in the message.
//   408, 5xx and anything else → Unavailable.
// Every message starts "jsonbin store: ".
common::Status JsonBinAnswerStatus(const JsonBinErrorContext& context,
                                   int status, std::string_view body,
                                   std::optional<std::string_view> retry_after);

// The Status for an exchange that produced no answer (connection refused,
// DNS, TLS, timeout, cancelled): Unavailable with the HttpClient's message
// (which never carries headers). REQUIRES: !error.ok().
common::Status JsonBinTransportStatus(const HttpError& error);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_JSONBIN_ERRORS_H_
