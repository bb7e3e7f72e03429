// The Cloud API webhook (SPEC §5), public (Meta calls it; no API_KEY):
//  - GET /webhook: Meta's verification. hub.mode=subscribe and hub.verify_token
//    equal to WHATSAPP_VERIFY_TOKEN (constant-time) → 200 with hub.challenge
//    as text/plain; anything else → 403 forbidden (without a verify token
//    configured, the message says to set WHATSAPP_VERIFY_TOKEN).
//  - POST /webhook: X-Hub-Signature-256 checked on the raw body before any
//    parsing: missing → 401 unauthorized, malformed or wrong → 403 forbidden,
//    nothing stored; no WHATSAPP_APP_SECRET configured → 503 unavailable
//    naming it. A good body is appended to the inbox as it came (committed)
//    and answered 200 {"received":true} at once; the processor is woken to
//    handle it on its own thread (inbound_processor.h), so a slow bot never
//    makes Meta retry. Bodies up to 3 MiB, Meta's documented maximum
//    (body_limit.h kWebhookBodyBytes).
// Refusals (verification or signature) are logged at most once a minute
// (`suppressed` counts the ones in between): the route is public, so anyone
// could otherwise fill the log.
#ifndef DYNOGUARD_WORKER_HTTP_WEBHOOK_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_WEBHOOK_ROUTES_H_

#include <httplib.h>

#include <cstdint>
#include <functional>

#include "worker/http/route.h"
#include "worker/inbound/inbound_store.h"

namespace dynoguard::worker {

// Borrowed parts (thread-safe, must outlive the server).
struct WebhookRouteDeps {
  InboundStore* inbox = nullptr;  // null: POST answers 503 unavailable
  // Called after a body was committed (InboundProcessor::Wake).
  std::function<void()> wake_processor;
  std::function<int64_t()> now_ms;  // ms since the epoch; empty: wall clock
};

void InstallWebhookRoutes(httplib::Server& server, const RouteContext& context,
                          WebhookRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_WEBHOOK_ROUTES_H_
