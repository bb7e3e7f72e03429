// StreamBuffer with a producer and a consumer thread, no processes: the
// bound (a full buffer refuses the chunk, nothing lost or repeated when it
// is offered again), one resume per pause once drained below the low mark,
// the end and failure states, the consumer's deadline and Cancel.
#include "worker/http/stream_buffer.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using Clock = StreamBuffer::Clock;

StreamBuffer::Options Small() {
  StreamBuffer::Options options;
  options.capacity = 100;
  options.resume_below = 50;
  return options;
}

std::string ReadSome(StreamBuffer& buffer, size_t max,
                     StreamBuffer::Wait* wait = nullptr) {
  std::string out(max, '\0');
  size_t copied = 0;
  StreamBuffer::Wait w =
      buffer.Read(out, Clock::now() + milliseconds(1000), &copied);
  if (wait != nullptr) *wait = w;
  out.resize(copied);
  return out;
}

TEST_CASE(
    "StreamBuffer: a full buffer refuses the chunk and asks to resume "
    "once drained below the low mark",
    "[stream_buffer]") {
  int resumes = 0;
  StreamBuffer buffer(Small(), [&] { ++resumes; });
  buffer.SetHead({"image/png", 150});
  REQUIRE(buffer.WaitHead(Clock::now()) == StreamBuffer::Wait::kReady);
  CHECK(buffer.head().mime_type == "image/png");
  CHECK(buffer.head().bytes == std::optional<uint64_t>(150));

  CHECK(buffer.Push(std::string(40, 'a')) == SinkAnswer::kContinue);
  CHECK(buffer.Push(std::string(40, 'b')) == SinkAnswer::kContinue);
  // 80 held: 30 more would pass 100; refused, not taken.
  CHECK(buffer.Push(std::string(30, 'c')) == SinkAnswer::kPause);
  CHECK(buffer.pauses() == 1);
  CHECK(buffer.bytes_in() == 80);
  CHECK(ReadSome(buffer, 20) == std::string(20, 'a'));
  CHECK(resumes == 0);  // 60 held: not below 50
  CHECK(ReadSome(buffer, 20) == std::string(20, 'a'));
  CHECK(resumes == 1);  // 40 held
  CHECK(ReadSome(buffer, 5) == std::string(5, 'b'));
  CHECK(resumes == 1);  // once per pause
  // Offered again: taken now.
  CHECK(buffer.Push(std::string(30, 'c')) == SinkAnswer::kContinue);
  CHECK(buffer.max_buffered() == 80);
  buffer.Finish(common::Status::Ok());
  StreamBuffer::Wait wait;
  CHECK(ReadSome(buffer, 100, &wait) ==
        std::string(35, 'b') + std::string(30, 'c'));
  CHECK(wait == StreamBuffer::Wait::kReady);
  CHECK(ReadSome(buffer, 100, &wait).empty());
  CHECK(wait == StreamBuffer::Wait::kEnded);
}

TEST_CASE(
    "StreamBuffer: an empty buffer takes a chunk larger than its "
    "capacity",
    "[stream_buffer]") {
  StreamBuffer buffer(Small(), [] {});
  CHECK(buffer.Push(std::string(300, 'x')) == SinkAnswer::kContinue);
  CHECK(buffer.Push("y") == SinkAnswer::kPause);
  CHECK(ReadSome(buffer, 1000).size() == 300);
}

TEST_CASE(
    "StreamBuffer: a failure before the head, and one mid-body after "
    "the bytes held",
    "[stream_buffer]") {
  SECTION("before the head") {
    StreamBuffer buffer(Small(), [] {});
    buffer.Finish(common::Status::NotFound("no such media"));
    CHECK(buffer.WaitHead(Clock::now() + milliseconds(1000)) ==
          StreamBuffer::Wait::kFailed);
    CHECK(buffer.status().code() == common::Status::Code::kNotFound);
  }
  SECTION("mid-body") {
    StreamBuffer buffer(Small(), [] {});
    buffer.SetHead({});
    CHECK(buffer.Push("abc") == SinkAnswer::kContinue);
    buffer.Finish(common::Status::Unavailable("connection reset"));
    CHECK(buffer.Push("late") == SinkAnswer::kAbort);
    StreamBuffer::Wait wait;
    CHECK(ReadSome(buffer, 10, &wait) == "abc");
    CHECK(wait == StreamBuffer::Wait::kReady);
    CHECK(ReadSome(buffer, 10, &wait).empty());
    CHECK(wait == StreamBuffer::Wait::kFailed);
    CHECK(buffer.status().code() == common::Status::Code::kUnavailable);
  }
}

TEST_CASE("StreamBuffer: the consumer waits no longer than its deadline",
          "[stream_buffer]") {
  StreamBuffer buffer(Small(), [] {});
  CHECK(buffer.WaitHead(Clock::now() + milliseconds(20)) ==
        StreamBuffer::Wait::kTimedOut);
  buffer.SetHead({});
  std::string out(10, '\0');
  size_t copied = 1;
  CHECK(buffer.Read(out, Clock::now() + milliseconds(20), &copied) ==
        StreamBuffer::Wait::kTimedOut);
  CHECK(copied == 0);
}

TEST_CASE("StreamBuffer: Cancel ends a wait and aborts the producer",
          "[stream_buffer]") {
  StreamBuffer buffer(Small(), [] {});
  buffer.SetHead({});
  CHECK(buffer.Push("held") == SinkAnswer::kContinue);
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    buffer.Cancel();
  });
  std::string out(10, '\0');
  size_t copied = 0;
  CHECK(buffer.Read(out, Clock::now() + milliseconds(1000), &copied) ==
        StreamBuffer::Wait::kReady);  // what was held comes first
  CHECK(buffer.Read(out, Clock::now() + milliseconds(5000), &copied) ==
        StreamBuffer::Wait::kCancelled);
  canceller.join();
  CHECK(buffer.cancelled());
  CHECK(buffer.Push("more") == SinkAnswer::kAbort);
}

// The two threads as the routes run them: the producer offers each chunk
// until it is taken, pausing when told and waiting for the resume; what
// the consumer reads is every byte once, in order, never more than the
// capacity held.
TEST_CASE("StreamBuffer: a producer and a slow consumer, every byte once",
          "[stream_buffer]") {
  std::atomic<int> resumes{0};
  StreamBuffer::Options options;
  options.capacity = 4096;
  options.resume_below = 2048;
  StreamBuffer buffer(options, [&] { ++resumes; });
  constexpr size_t kTotal = 1 << 20;
  std::thread producer([&] {
    buffer.SetHead({});
    size_t sent = 0;
    int seen_resumes = 0;
    while (sent < kTotal) {
      std::string chunk(std::min<size_t>(1000, kTotal - sent), '\0');
      for (size_t i = 0; i < chunk.size(); ++i)
        chunk[i] = static_cast<char>((sent + i) % 251);
      SinkAnswer answer = buffer.Push(chunk);
      if (answer == SinkAnswer::kContinue) {
        sent += chunk.size();
      } else if (answer == SinkAnswer::kPause) {
        while (resumes.load() == seen_resumes)
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        seen_resumes = resumes.load();
      } else {
        FAIL("aborted");
      }
    }
    buffer.Finish(common::Status::Ok());
  });
  std::string got;
  for (;;) {
    std::string out(700, '\0');
    size_t copied = 0;
    StreamBuffer::Wait wait =
        buffer.Read(out, Clock::now() + milliseconds(5000), &copied);
    if (wait != StreamBuffer::Wait::kReady) {
      CHECK(wait == StreamBuffer::Wait::kEnded);
      break;
    }
    got.append(out.data(), copied);
  }
  producer.join();
  REQUIRE(got.size() == kTotal);
  bool same = true;
  for (size_t i = 0; i < kTotal; ++i)
    same = same && got[i] == static_cast<char>(i % 251);
  CHECK(same);
  CHECK(buffer.max_buffered() <= options.capacity);
  CHECK(buffer.pauses() > 0);
  CHECK(resumes.load() == static_cast<int>(buffer.pauses()));
}

}  // namespace
}  // namespace dynoguard::worker
