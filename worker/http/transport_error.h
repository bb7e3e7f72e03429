// How the routes that call the transport (media_routes, read_routes) answer
// its errors, in one place:
//   NotFound         → 404 not_found (an unknown or expired id)
//   Unavailable      → 503 unavailable with Retry-After (not connected,
//                      stopping, not offered by this transport)
//   anything else    → 502 unavailable: the provider refused or failed; the
//                      message is the transport's, which carries the
//                      provider's code and message (never a secret)
// and a call the transport did not answer within the route's timeout →
// 504 unavailable.
#ifndef DYNOGUARD_WORKER_HTTP_TRANSPORT_ERROR_H_
#define DYNOGUARD_WORKER_HTTP_TRANSPORT_ERROR_H_

#include <httplib.h>

#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

// REQUIRES: !status.ok(). `what` names the call for the message ("media
// upload").
void SendTransportError(httplib::Response& res, const common::Status& status,
                        std::string_view what);

void SendTransportTimeout(httplib::Response& res, std::string_view what);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_TRANSPORT_ERROR_H_
