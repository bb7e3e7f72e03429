#include "worker/http/stream_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace dynoguard::worker {

StreamBuffer::StreamBuffer(Options options,
                           std::function<void()> request_resume)
    : options_(options), request_resume_(std::move(request_resume)) {}

void StreamBuffer::SetHead(MediaHead head) {
  std::lock_guard<std::mutex> lock(mu_);
  if (head_ || ended_ || cancelled_) return;
  head_ = std::move(head);
  cv_.notify_all();
}

SinkAnswer StreamBuffer::Push(std::string_view chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_ || ended_) return SinkAnswer::kAbort;
  if (chunk.empty()) return SinkAnswer::kContinue;
  // An empty buffer takes any chunk: a pause then would wait for a drain
  // that cannot come.
  if (buffered_ > 0 &&
      chunk.size() >
          options_.capacity - std::min(options_.capacity, buffered_)) {
    if (!paused_) ++pauses_;
    paused_ = true;
    return SinkAnswer::kPause;
  }
  chunks_.emplace_back(chunk);
  buffered_ += chunk.size();
  bytes_in_ += chunk.size();
  max_buffered_ = std::max(max_buffered_, buffered_);
  cv_.notify_all();
  return SinkAnswer::kContinue;
}

void StreamBuffer::Finish(common::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_) return;
  ended_ = true;
  status_ = std::move(status);
  cv_.notify_all();
}

StreamBuffer::Wait StreamBuffer::WaitHead(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline,
                 [this] { return head_ || ended_ || cancelled_; });
  if (cancelled_) return Wait::kCancelled;
  if (head_) return Wait::kReady;
  if (ended_) {
    // Ended before any head: a failure, or (never from a transport) an Ok
    // end without a body, reported as a failure all the same.
    if (status_.ok())
      status_ = common::Status::Internal("the stream ended before its head");
    return Wait::kFailed;
  }
  return Wait::kTimedOut;
}

MediaHead StreamBuffer::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_.value_or(MediaHead{});
}

StreamBuffer::Wait StreamBuffer::Read(std::span<char> out,
                                      Clock::time_point deadline,
                                      size_t* copied) {
  *copied = 0;
  bool resume = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline,
                   [this] { return buffered_ > 0 || ended_ || cancelled_; });
    if (cancelled_) return Wait::kCancelled;
    if (buffered_ == 0) {
      if (!ended_) return Wait::kTimedOut;
      return status_.ok() ? Wait::kEnded : Wait::kFailed;
    }
    while (*copied < out.size() && !chunks_.empty()) {
      const std::string& front = chunks_.front();
      const size_t n =
          std::min(out.size() - *copied, front.size() - front_offset_);
      std::memcpy(out.data() + *copied, front.data() + front_offset_, n);
      *copied += n;
      front_offset_ += n;
      buffered_ -= n;
      if (front_offset_ == front.size()) {
        chunks_.pop_front();
        front_offset_ = 0;
      }
    }
    if (paused_ && buffered_ < options_.resume_below) {
      paused_ = false;
      resume = true;
    }
  }
  // Outside the lock: it posts to the loop, whose producer takes the lock.
  if (resume && request_resume_) request_resume_();
  return Wait::kReady;
}

void StreamBuffer::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  chunks_.clear();
  front_offset_ = 0;
  buffered_ = 0;
  cv_.notify_all();
}

common::Status StreamBuffer::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

bool StreamBuffer::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

bool StreamBuffer::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

size_t StreamBuffer::max_buffered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_buffered_;
}

uint64_t StreamBuffer::pauses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pauses_;
}

uint64_t StreamBuffer::bytes_in() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_in_;
}

}  // namespace dynoguard::worker
