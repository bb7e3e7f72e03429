// FileSessionStore on a real directory, its answers posted to a real libuv
// loop run on the test thread.
#include "worker/session/stores/file_store.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"

namespace dynoguard::worker {
namespace {

using common::Result;
using common::Status;
using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;
using std::chrono::milliseconds;

// A libuv loop on the test thread with a thread-safe PostToLoop (a
// uv_async_t wake-up and a queue), as the worker's loop has.
class TestLoop {
 public:
  TestLoop() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    async_.data = this;
    REQUIRE(uv_async_init(&loop_, &async_, [](uv_async_t* async) {
              static_cast<TestLoop*>(async->data)->RunPosted();
            }) == 0);
    loop_thread_ = std::this_thread::get_id();
  }
  ~TestLoop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = false;
      tasks_.clear();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  PostToLoop poster() {
    return [this](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!open_) return false;
      tasks_.push_back(std::move(task));
      uv_async_send(&async_);
      return true;
    };
  }
  bool on_loop_thread() const {
    return std::this_thread::get_id() == loop_thread_;
  }

  bool RunUntil(const std::function<bool()>& done,
                milliseconds timeout = milliseconds(10000)) {
    return dynoguard::testing::RunLoopUntil(&loop_, &tick_, done, timeout);
  }

 private:
  void RunPosted() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
  }

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  uv_async_t async_{};
  std::thread::id loop_thread_;
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool open_ = true;                         // guarded by mu_
};

// Runs Load to its answer; checks it came on the loop thread, later.
Result<std::optional<std::string>> LoadNow(TestLoop& loop,
                                           FileSessionStore& store) {
  std::optional<Result<std::optional<std::string>>> answer;
  bool on_loop = false;
  store.Load([&](Result<std::optional<std::string>> result) {
    on_loop = loop.on_loop_thread();
    answer.emplace(std::move(result));
  });
  CHECK_FALSE(answer.has_value());  // never from within the call
  REQUIRE(loop.RunUntil([&] { return answer.has_value(); }));
  CHECK(on_loop);
  return std::move(*answer);
}

Status SaveNow(TestLoop& loop, FileSessionStore& store, std::string document,
               uint64_t sequence) {
  std::optional<Status> answer;
  store.Save(std::move(document), sequence,
             [&](Status status) { answer = std::move(status); });
  CHECK_FALSE(answer.has_value());
  REQUIRE(loop.RunUntil([&] { return answer.has_value(); }));
  return *answer;
}

void StopNow(TestLoop& loop, FileSessionStore& store) {
  bool stopped = false;
  store.Stop([&] { stopped = true; });
  CHECK_FALSE(stopped);
  REQUIRE(loop.RunUntil([&] { return stopped; }));
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The test documents carry their sequence as "seq=<n>;…".
std::optional<uint64_t> TestSequenceOf(std::string_view document) {
  if (document.substr(0, 4) != "seq=") return std::nullopt;
  uint64_t value = 0;
  size_t i = 4;
  for (; i < document.size() && document[i] >= '0' && document[i] <= '9'; ++i)
    value = value * 10 + static_cast<uint64_t>(document[i] - '0');
  if (i == 4) return std::nullopt;
  return value;
}

TEST_CASE("file store: absent, save, load back, mode 0600", "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = FileSessionStore::PathIn(dir.path());
  CHECK(path == dir.path() + "/session.snapshot");
  FileSessionStore store(path, loop.poster());
  CHECK(store.kind() == "file");

  auto absent = LoadNow(loop, store);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());

  const std::string document = R"({"format":"dynoguard-session","seq":1})";
  REQUIRE(SaveNow(loop, store, document, 1).ok());
  CHECK(ReadFileText(path) == document);
  CHECK(ModeOf(path) == 0600);
  auto loaded = LoadNow(loop, store);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK(**loaded == document);

  // A second save replaces the first; a new store object reads it.
  REQUIRE(SaveNow(loop, store, "second", 2).ok());
  StopNow(loop, store);
  FileSessionStore again(path, loop.poster());
  auto reread = LoadNow(loop, again);
  REQUIRE(reread.ok());
  CHECK(**reread == "second");
  StopNow(loop, again);
}

TEST_CASE("file store: a failed write keeps the old file", "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = FileSessionStore::PathIn(dir.path());
  FileSessionStore store(path, loop.poster());
  REQUIRE(SaveNow(loop, store, "the old snapshot", 1).ok());

  // A file size limit of 64 KiB (SIGXFSZ ignored: EFBIG), process-wide, so
  // the store's thread sees it too: the disk is "full".
  struct rlimit old_limit {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  Status status = SaveNow(loop, store, std::string(1 << 20, 'n'), 2);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kIOError);
  CHECK_THAT(status.message(), Catch::StartsWith("file store: ") &&
                                   Catch::Contains(path) &&
                                   Catch::Contains("File too large"));
  auto loaded = LoadNow(loop, store);
  REQUIRE(loaded.ok());
  CHECK(**loaded == "the old snapshot");
  // With room again the same store writes.
  REQUIRE(SaveNow(loop, store, std::string(1 << 20, 'n'), 2).ok());
  StopNow(loop, store);
}

TEST_CASE("file store: a missing directory is an IOError naming the path",
          "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.File("gone/session.snapshot");
  FileSessionStore store(path, loop.poster());
  Status status = SaveNow(loop, store, "x", 1);
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kIOError);
  CHECK_THAT(status.message(), Catch::Contains(path));
  auto loaded = LoadNow(loop, store);  // absent directory: no file
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->has_value());
  StopNow(loop, store);
}

TEST_CASE("file store: a file over 64 MiB is refused, not read",
          "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = FileSessionStore::PathIn(dir.path());
  {
    // Sparse: costs no disk.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, FileSessionStore::kMaxDocumentBytes + 1) == 0);
    ::close(fd);
  }
  FileSessionStore store(path, loop.poster());
  auto loaded = LoadNow(loop, store);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(loaded.status().message(), Catch::Contains(path));
  StopNow(loop, store);
}

TEST_CASE("file store: never replaces a higher sequence", "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = FileSessionStore::PathIn(dir.path());
  {
    FileSessionStore store(path, loop.poster(), TestSequenceOf);
    REQUIRE(SaveNow(loop, store, "seq=5;a", 5).ok());
    REQUIRE(SaveNow(loop, store, "seq=5;b", 5).ok());  // same: a retry
    Status older = SaveNow(loop, store, "seq=4;c", 4);
    CHECK(older.code() == Status::Code::kFailedPrecondition);
    CHECK_THAT(older.message(), Catch::Contains("sequence 5"));
    CHECK(ReadFileText(path) == "seq=5;b");
    StopNow(loop, store);
  }
  // A later process (a new object) reads the file's sequence first.
  FileSessionStore store(path, loop.poster(), TestSequenceOf);
  CHECK(SaveNow(loop, store, "seq=3;d", 3).code() ==
        Status::Code::kFailedPrecondition);
  CHECK(ReadFileText(path) == "seq=5;b");
  REQUIRE(SaveNow(loop, store, "seq=6;e", 6).ok());
  CHECK(ReadFileText(path) == "seq=6;e");
  StopNow(loop, store);

  // A file that is not a snapshot (no sequence) is replaced.
  REQUIRE(::unlink(path.c_str()) == 0);
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "garbage", 7) == 7);
    ::close(fd);
  }
  FileSessionStore fresh(path, loop.poster(), TestSequenceOf);
  REQUIRE(SaveNow(loop, fresh, "seq=1;f", 1).ok());
  StopNow(loop, fresh);
}

TEST_CASE("file store: Stop answers every call, then done, later calls fail",
          "[file-store]") {
  TempDir dir;
  TestLoop loop;
  const std::string path = FileSessionStore::PathIn(dir.path());
  FileSessionStore store(path, loop.poster());
  std::vector<std::string> events;
  for (int i = 1; i <= 5; ++i) {
    store.Save("doc " + std::to_string(i), static_cast<uint64_t>(i),
               [&events, i](Status status) {
                 events.push_back(std::to_string(i) + ":" +
                                  (status.ok() ? "ok"
                                   : status.code() == Status::Code::kUnavailable
                                       ? "unavailable"
                                       : status.message()));
               });
  }
  bool stopped = false;
  store.Stop([&] {
    events.push_back("stopped");
    stopped = true;
  });
  REQUIRE(loop.RunUntil([&] { return stopped; }));
  // Every save answered, in order, before `done`: the ones already running
  // or done are ok, the rest unavailable; never a torn file.
  REQUIRE(events.size() == 6);
  CHECK(events.back() == "stopped");
  bool seen_unavailable = false;
  for (size_t i = 0; i < 5; ++i) {
    CHECK_THAT(events[i], Catch::StartsWith(std::to_string(i + 1) + ":"));
    const bool unavailable = events[i].ends_with(":unavailable");
    if (seen_unavailable) CHECK(unavailable);
    seen_unavailable = seen_unavailable || unavailable;
    if (!unavailable) CHECK(events[i].ends_with(":ok"));
  }
  auto contents = ReadFileText(path);
  if (contents) CHECK_THAT(*contents, Catch::StartsWith("doc "));

  std::optional<Status> late;
  store.Save("late", 9, [&](Status status) { late = status; });
  CHECK_FALSE(late.has_value());
  REQUIRE(loop.RunUntil([&] { return late.has_value(); }));
  CHECK(late->code() == Status::Code::kUnavailable);
  std::optional<Result<std::optional<std::string>>> late_load;
  store.Load([&](Result<std::optional<std::string>> r) {
    late_load.emplace(std::move(r));
  });
  REQUIRE(loop.RunUntil([&] { return late_load.has_value(); }));
  CHECK(late_load->status().code() == Status::Code::kUnavailable);
}

}  // namespace
}  // namespace dynoguard::worker
