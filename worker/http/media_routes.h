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
//  - GET /api/media/{id}: Transport::DownloadMedia streamed through, never
//    on disk nor whole in memory: the transport's sink fills a StreamBuffer
//    (stream_buffer.h, at most 512 KiB; a full one pauses the transfer, a
//    drained one resumes it) that the answer's content provider empties.
//    Status and headers go once the head arrives → 200 with its
//    Content-Type, and Content-Length when the provider gave one (else
//    chunked); an error before it → the JSON errors below (404 not_found
//    for an unknown or expired id). Past the head a failure can only cut
//    the connection (a short body, or no last chunk); so does an upstream
//    silent for 10 s. A client that goes away cancels the download.
// Transport errors: transport_error.h; no answer (or head) within `timeout`
// → 504 unavailable. An upload's temporary files are removed once its
// request is done (or, after a timeout, once the transport answers). At
// most kMaxMediaDownloads downloads at once (503 unavailable beyond).
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
