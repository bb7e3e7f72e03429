// StreamBuffer: the bounded byte buffer between the worker's loop thread,
// which produces a media download (the transport's sink), and the HTTP
// thread that writes it to the client (an httplib content provider). It
// holds at most `capacity` bytes: past it the producer is told to pause, and
// once the consumer has drained it below `resume_below` it asks for the
// producer to be resumed. So a slow client slows the upstream transfer down
// instead of filling the worker's memory.
#ifndef DYNOGUARD_WORKER_HTTP_STREAM_BUFFER_H_
#define DYNOGUARD_WORKER_HTTP_STREAM_BUFFER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/model/sink_answer.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// Thread-safe: one producer thread (SetHead, Push, Finish) and one consumer
// thread (WaitHead, Read, Cancel); the accessors from any thread.
class StreamBuffer {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // The most bytes held; a chunk that would pass it is refused (kPause)
    // unless the buffer is empty (a chunk is always taken by an empty
    // buffer, so nothing can stall). Default: 512 KiB.
    size_t capacity = 512 * 1024;
    // A paused producer is resumed once the buffer holds fewer bytes than
    // this. Default: 256 KiB.
    size_t resume_below = 256 * 1024;
  };

  // `request_resume` is called on the consumer's thread, outside the lock,
  // once per pause, when the consumer has drained the buffer below
  // resume_below; it must hand the resume over to the producer's thread
  // (the transport's ResumeDownload, on the loop) and not block.
  StreamBuffer(Options options, std::function<void()> request_resume);
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;

  // ---- Producer (the loop thread).

  // The body starts: wakes WaitHead. Once, before the first Push.
  void SetHead(MediaHead head);
  // kContinue: `chunk` is taken (copied). kPause: not taken, the buffer is
  // full; offer the same bytes again once resumed. kAbort: the consumer is
  // gone (Cancel); stop the transfer.
  SinkAnswer Push(std::string_view chunk);
  // The stream ends: Ok after the last chunk, else why it failed. Once;
  // later calls are ignored.
  void Finish(common::Status status);

  // ---- Consumer (the HTTP thread).

  enum class Wait {
    kReady,     // WaitHead: head() is set; Read: bytes were copied
    kEnded,     // Read: every byte was read and the stream ended Ok
    kFailed,    // the stream failed (status() says why); for WaitHead,
                // before its head came
    kTimedOut,  // nothing came by the deadline
    kCancelled  // Cancel was called
  };

  // Waits until the head is set, the stream failed, or `deadline`.
  Wait WaitHead(Clock::time_point deadline);
  // REQUIRES: WaitHead answered kReady.
  MediaHead head() const;

  // Copies up to out.size() bytes into `out`, waiting for some until
  // `deadline`; `*copied` is their number (0 unless kReady). Bytes still
  // held are handed out before the end or a failure is reported.
  Wait Read(std::span<char> out, Clock::time_point deadline, size_t* copied);

  // The consumer is gone: every wait ends with kCancelled, the held bytes
  // are dropped and the producer's next Push answers kAbort. Idempotent.
  void Cancel();

  // ---- Any thread.

  // The final status (Ok while the stream has not ended).
  common::Status status() const;
  bool ended() const;
  bool cancelled() const;
  // The most bytes held at once so far, and how many times the producer was
  // told to pause.
  size_t max_buffered() const;
  uint64_t pauses() const;
  // Bytes taken from the producer so far.
  uint64_t bytes_in() const;

 private:
  const Options options_;
  const std::function<void()> request_resume_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::optional<MediaHead> head_;
  std::deque<std::string> chunks_;  // the bytes held, oldest first
  size_t front_offset_ = 0;         // bytes of chunks_.front() already read
  size_t buffered_ = 0;
  bool paused_ = false;  // the producer was told kPause, not resumed since
  bool ended_ = false;
  bool cancelled_ = false;
  common::Status status_;
  size_t max_buffered_ = 0;
  uint64_t pauses_ = 0;
  uint64_t bytes_in_ = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_STREAM_BUFFER_H_
