// The media API (SPEC §5), protected like every /api/* route:
//  - POST /api/media: a multipart/form-data upload (part `file`, at most
//    MEDIA_MAX_BYTES; an optional text field `type` overrides the part's
//    MIME type). The server streams the body to DATA_DIR/tmp
//    (server/streamed_body.h); the part is extracted into a file of its own
//    (multipart_upload.h) and handed to Transport::UploadMedia on the loop →
//    200 {"id","mimeType","bytes"}, the id usable in a media message. 400
//    invalid_field for a body that is not multipart, has no `file` part, is
//    truncated, or an empty file; 413 payload_too_large past MEDIA_MAX_BYTES
//    (from the server, at once).
//  - GET /api/media/{id}: Transport::DownloadMedia into a DATA_DIR/tmp file
//    (at most MEDIA_MAX_BYTES), then streamed to the client from the file
//    with its Content-Type → 200; 404 not_found for an unknown or expired id.
// Transport errors: transport_error.h; no answer within `timeout` → 504
// unavailable. Every temporary file is removed once its request is done
// (or, after a timeout, once the transport answers). At most
// kMaxMediaDownloads downloads at once (503 unavailable beyond).
#ifndef DYNOGUARD_WORKER_HTTP_MEDIA_ROUTES_H_
#define DYNOGUARD_WORKER_HTTP_MEDIA_ROUTES_H_

#include <httplib.h>

#include <chrono>

#include "worker/http/loop_call.h"
#include "worker/http/route.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

inline constexpr int kMaxMediaDownloads = 4;

// Borrowed parts (must outlive the server).
struct MediaRouteDeps {
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

void InstallMediaRoutes(httplib::Server& server, const RouteContext& context,
                        MediaRouteDeps deps);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_MEDIA_ROUTES_H_
