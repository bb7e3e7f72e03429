// Transport: the asynchronous seam between the worker and WhatsApp. The
// sandbox (an in-process simulated WhatsApp, sandbox/) and the Cloud API
// transport (cloud/) implement it. Everything runs on the worker's libuv loop:
// a call starts the work and returns; its callback runs later on the loop
// thread with the answer. No thread blocks on the network (or on a disk the
// transport writes to).
#ifndef DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/model/sink_answer.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// Everything the transport reports, on the loop thread only.
class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  virtual void OnInbound(const InboundMessage& message) = 0;
  virtual void OnStatus(const StatusUpdate& update) = 0;
  // The connection state or its reason changed (SPEC §5 states).
  virtual void OnConnection(ConnectionState state, std::string_view reason) = 0;
};

// Where a media download goes, on the loop thread. Neither callback may
// call into the transport (answer kAbort to stop, kPause to wait).
struct MediaStreamSink {
  // Once, when the body starts (also for an empty one), before any chunk.
  std::function<void(const MediaHead& head)> on_head;
  // The body's bytes in order. kPause: the chunk is not taken; the same
  // bytes are offered again after ResumeDownload. kAbort: the download
  // stops (its callback runs with an error).
  std::function<SinkAnswer(std::string_view chunk)> on_data;
};

// Names a download for ResumeDownload and CancelDownload; never 0.
using MediaDownloadId = uint64_t;

class Transport {
 public:
  using SendCallback = std::function<void(SendResult result)>;
  using DoneCallback = std::function<void(common::Status status)>;
  using UploadCallback =
      std::function<void(common::Result<std::string> media_id)>;
  // Ok: every byte of the body was taken by the sink.
  using DownloadCallback = std::function<void(common::Status status)>;

  virtual ~Transport() = default;

  virtual std::string_view name() const = 0;  // "sandbox" | "cloud"

  // Thread-safe (HTTP threads read them for /health and /session-status).
  virtual ConnectionState state() const = 0;
  // Why not connected; "" when connected.
  virtual std::string reason() const = 0;
  // nullopt: none yet / sandbox.
  virtual std::optional<int64_t> last_heartbeat_ms() const = 0;
  // When the provider last accepted a send (ms since the epoch); nullopt:
  // none since the start. /session-status shows it as lastOutbound.
  virtual std::optional<int64_t> last_send_ok_ms() const = 0;

  // Every method below: loop thread only; each callback runs exactly once,
  // later, on the loop thread, never from within the call that took it.

  virtual common::Status Start(uv_loop_t* loop, TransportEvents& events) = 0;

  // One message. Several sends may be in flight at once (SEND_CONCURRENCY),
  // never two to one recipient (the dispatcher's rule). A transport whose
  // state() is not kConnected may still be asked (it answers with the error
  // it gets).
  virtual void Send(const SendRequest& request, SendCallback done) = 0;

  // Marks an inbound message (its provider id) read; `typing` also shows the
  // typing indicator.
  virtual void MarkRead(const std::string& message_id, bool typing,
                        DoneCallback done) = 0;

  // Uploads a file already on disk; answers the media id usable in a media
  // message.
  virtual void UploadMedia(const MediaUpload& upload, UploadCallback done) = 0;

  // Streams media `media_id` into `sink`, never holding it whole: the sink
  // gets the head, then the body chunk by chunk, and paces the transfer
  // with its answers; then `done` runs. NotFound for an unknown or expired
  // id; InvalidArgument when larger than `max_bytes` (before the head when
  // the size is known up front, else once the bytes pass it). An error
  // after the head means the body is incomplete. Returns the download's id.
  virtual MediaDownloadId DownloadMedia(const std::string& media_id,
                                        uint64_t max_bytes,
                                        MediaStreamSink sink,
                                        DownloadCallback done) = 0;
  // Goes on with download `id` after its sink answered kPause (the refused
  // chunk is offered again). Nothing when it has ended or is not paused.
  virtual void ResumeDownload(MediaDownloadId id) = 0;
  // Stops download `id`: its `done` runs with an error (Unavailable), before
  // CancelDownload returns or later; the sink gets nothing more. Nothing
  // when it has ended.
  virtual void CancelDownload(MediaDownloadId id) = 0;

  // Time-driven events (the sandbox's delivered/read receipts) due at
  // `now_ms`, to the events given to Start. The worker's "transport-poll"
  // periodic task is its one caller.
  virtual void Poll(int64_t now_ms) = 0;

  // Graceful stop: no new heartbeat; `on_stopped` runs once nothing started
  // here is in flight (sends in flight finish or time out; their callbacks run
  // first).
  virtual void Stop(std::function<void()> on_stopped) = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_
