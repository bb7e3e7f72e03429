// POST /api/read (SPEC §5), protected: {"messageId":"wamid…","typing":true?}
// marks an inbound message read (and shows the typing indicator when
// `typing`) through Transport::MarkRead on the loop → 200
// {"messageId","read":true}. 400 invalid_json / invalid_field (messageId
// missing, empty, not a string or longer than 256 characters; typing not a
// boolean); 415 without a JSON Content-Type; transport errors as
// transport_error.h says (the provider's refusal → 502 with its code and
// message); no answer within `timeout` → 504 unavailable.
#ifndef DYNOGUARD_WORKER_HTTP_READ_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_READ_ROUTES_H_

#include <httplib.h>

#include <chrono>
#include <string>
#include <string_view>

#include "worker/http/loop_call.h"
#include "worker/http/route.h"
#include "worker/outbound/message_request.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// Borrowed parts (must outlive the server).
struct ReadRouteDeps {
  // Both required for the routes to work (without them they answer 503
  // unavailable). The transport is called on the loop thread only, through
  // run_on_loop, which runs a task on the worker's loop thread
  // (thread-safe).
  Transport* transport = nullptr;
  RunOnLoop run_on_loop;
  // How long a request waits for the transport's answer (→ 504): above the
  // HttpClient's total timeout, below WORKER_STOP_TIMEOUT_S (20 s), so a
  // graceful stop never waits on a request that waits on a stopped loop.
  std::chrono::milliseconds timeout{15000};
};

// A validated POST /api/read body.
struct ReadRequest {
  std::string message_id;
  bool typing = false;
};

// Validates a POST /api/read body as the header comment says (JSON null
// counts as absent for typing; unknown members are ignored). Pure.
Parsed<ReadRequest> ParseReadRequest(std::string_view body);

void InstallReadRoutes(httplib::Server& server, const RouteContext& context,
                       ReadRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_READ_ROUTES_H_
