// SandboxTransport: an in-process simulated WhatsApp for local use and tests.
// Sends land in a bounded outbox and move through sent → delivered → read; it
// can be told to fail the next sends with a Cloud API error code; a simulated
// user writing goes through the same inbound path as a Cloud API webhook.
// With OpenStore the outbox and the pending receipts live in DATA_DIR
// (sandbox_store.h) and survive restarts.
//
// Asynchronous like every Transport (transport.h): the SQLite writes (a send's
// record, emitted receipts) run on libuv pool threads, never on the loop, and
// each answer comes back on the loop thread. Always kConnected.
#ifndef DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "worker/transport/sandbox/sandbox_store.h"
#include "worker/transport/transport.h"

namespace dynoguard::worker {

// The Transport methods: loop thread only (transport.h). Outbox, FailNext,
// ReadMarks and SimulateInbound: any thread (one mutex).
class SandboxTransport : public Transport {
 public:
  struct Options {
    size_t outbox_capacity = 1000;  // oldest entries are dropped beyond this
    int64_t delivered_after_ms = 200;
    int64_t read_after_ms = 1000;
    // Where uploaded media is kept; empty: "sandbox-media" beside the store
    // file (DATA_DIR/sandbox-media), or no media without a store.
    std::string media_dir;
  };
  using OutboxEntry = SandboxOutboxEntry;

  // `now_ms` is the clock (milliseconds since the epoch) used to stamp sends.
  SandboxTransport(Options options, std::function<int64_t()> now_ms);
  // REQUIRES: nothing in flight (Stop's on_stopped ran, or the loop given to
  // Start ran until it had nothing left to do).
  ~SandboxTransport() override;

  // Keeps the outbox and the pending receipts in the SQLite file `path`
  // (created 0600) from now on, after loading what an earlier worker left
  // there: its outbox entries, and its receipts (those already due are
  // emitted by the next Poll). Call once, before Start. When the file cannot
  // be written later, a send fails with the retryable error
  // "sandbox_storage" (nothing is accepted that is not recorded).
  common::Status OpenStore(const std::string& path);

  std::string_view name() const override { return "sandbox"; }
  ConnectionState state() const override { return ConnectionState::kConnected; }
  std::string reason() const override { return ""; }
  std::optional<int64_t> last_heartbeat_ms() const override {
    return std::nullopt;
  }
  // The stamp of the last send accepted (recorded), from the clock given to
  // the constructor.
  std::optional<int64_t> last_send_ok_ms() const override;

  // Remembers `loop` and `events`. Never fails.
  common::Status Start(uv_loop_t* loop, TransportEvents& events) override;
  // REQUIRES: Start. Every message kind of SPEC §5 (request.type) is
  // accepted once recorded (in sandbox.db when the store is open): answers ok
  // with a new "wamid.sandbox.<ms>.<n>" and message_status "accepted". Fails
  // like the Graph API with code 100 (final) for an unknown type or a
  // content_json that is neither empty nor a JSON object or array (contacts);
  // with the error
  // FailNext asked for; or with the retryable "sandbox_storage".
  void Send(const SendRequest& request, SendCallback done) override;
  // REQUIRES: Start. Records the mark (ReadMarks); always ok.
  void MarkRead(const std::string& message_id, bool typing,
                DoneCallback done) override;
  // REQUIRES: Start. Copies upload.file_path (on a pool thread) into the
  // media directory as a new id "sbx-media-<32 hex>" with its MIME type
  // (application/octet-stream when empty). Unavailable without a media
  // directory; IOError when the file cannot be read or written.
  void UploadMedia(const MediaUpload& upload, UploadCallback done) override;
  // REQUIRES: Start. Streams media `media_id` to `sink` in 64 KiB pieces,
  // read on pool threads (the head's length is the file's). NotFound for an
  // id the sandbox did not give out (or one that is not of its form);
  // InvalidArgument when larger than `max_bytes`; IOError when reading
  // fails; Unavailable when cancelled or the sink answered kAbort. Stop
  // cancels every download.
  MediaDownloadId DownloadMedia(const std::string& media_id, uint64_t max_bytes,
                                MediaStreamSink sink,
                                DownloadCallback done) override;
  void ResumeDownload(MediaDownloadId id) override;
  void CancelDownload(MediaDownloadId id) override;
  // Emits the receipts due at `now_ms` to the events given to Start (nothing
  // before Start).
  void Poll(int64_t now_ms) override;
  // `on_stopped` runs on the loop once every write started here has finished.
  void Stop(std::function<void()> on_stopped) override;

  // Oldest first.
  std::vector<OutboxEntry> Outbox() const;
  // The next `count` sends fail with Graph error `code` (classified as the
  // Cloud API's would be).
  void FailNext(int count, int code, std::string message);
  // One MarkRead call.
  struct ReadMark {
    std::string message_id;
    bool typing = false;
  };
  // Every MarkRead so far, oldest first.
  std::vector<ReadMark> ReadMarks() const;
  // A simulated user writing: hands the message to `events` on the caller's
  // thread (`events` must be thread-safe when that is not the loop) and
  // returns it.
  InboundMessage SimulateInbound(std::string from, std::string text,
                                 int64_t now_ms, TransportEvents& events);

 private:
  using PendingStatus = SandboxReceipt;
  struct Job;
  struct Download;

  // Runs `work` on a libuv pool thread (may be empty), then `after` on the
  // loop thread. Counts what is in flight for Stop.
  void RunOffLoop(std::function<void()> work, std::function<void()> after);
  void OnJobDone();
  // A download's next piece (pool thread), then Deliver (loop).
  void ReadNext(const std::shared_ptr<Download>& d);
  void Deliver(const std::shared_ptr<Download>& d);
  // Runs its `done` once with `status`.
  void FinishDownload(const std::shared_ptr<Download>& d,
                      common::Status status);

  // The media directory in use ("" when none).
  std::string MediaDir() const;

  const Options options_;
  const std::function<int64_t()> now_ms_;
  std::string store_dir_;  // the store file's directory; set by OpenStore

  // Loop-thread state.
  uv_loop_t* loop_ = nullptr;
  TransportEvents* events_ = nullptr;
  size_t in_flight_ = 0;
  std::function<void()> on_stopped_;
  std::unordered_map<MediaDownloadId, std::shared_ptr<Download>> downloads_;
  MediaDownloadId next_download_ = 1;

  // Set by OpenStore before Start, then only used under store_mu_ (pool
  // threads). Null: memory only.
  std::unique_ptr<SandboxStore> store_;
  std::mutex store_mu_;

  mutable std::mutex mu_;
  std::deque<OutboxEntry> outbox_;          // guarded by mu_
  std::vector<PendingStatus> pending_;      // guarded by mu_
  std::vector<ReadMark> read_marks_;        // guarded by mu_
  int fail_count_ = 0;                      // guarded by mu_
  int fail_code_ = 0;                       // guarded by mu_
  std::string fail_message_;                // guarded by mu_
  uint64_t sequence_ = 0;                   // guarded by mu_
  std::optional<int64_t> last_send_ok_ms_;  // guarded by mu_
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_SANDBOX_SANDBOX_TRANSPORT_H_
