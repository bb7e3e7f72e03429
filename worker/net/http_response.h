// HttpResponse: what came back from one HttpRequest — a complete response
// (any status) or an HttpError saying why there is none.
#ifndef DYNOGUARD_WORKER_NET_HTTP_RESPONSE_H_
#define DYNOGUARD_WORKER_NET_HTTP_RESPONSE_H_

#include <chrono>
#include <string>

#include "worker/net/http_error.h"
#include "worker/net/http_headers.h"

namespace dynoguard::worker {

struct HttpResponse {
  // kNone when a complete response arrived; then `status` is its HTTP status.
  HttpError error;
  // The final response's status; 0 when none was received. Kept on errors
  // after the head arrived (a body too large, a connection lost mid-body).
  int status = 0;
  // The final response's header fields (no 1xx or redirect headers).
  HttpHeaders headers;
  // The collected body; empty when the request streamed it to a sink.
  std::string body;
  // "1.1" or "2" once a response was received; empty otherwise.
  std::string http_version;
  // From start of the transfer to its end (libcurl's CURLINFO_TOTAL_TIME).
  std::chrono::microseconds total_time{0};

  // True when a complete response arrived (whatever its status).
  bool ok() const { return error.ok(); }
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_HTTP_RESPONSE_H_
