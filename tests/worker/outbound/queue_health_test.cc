// MessageQueue::health(), QueueWatch and the files the queue keeps in
// DATA_DIR: modes, zero-length and corrupt files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"
#include "worker/outbound/message_queue.h"
#include "worker/outbound/queue_watch.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;
using Action = QueueHealthTracker::Action;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

NewMessage Text(std::string to, std::string text) {
  NewMessage message;
  message.to = std::move(to);
  message.text = std::move(text);
  return message;
}

// A logger writing to a file, and what it wrote.
class FileLog {
 public:
  explicit FileLog(const std::string& path)
      : path_(path),
        fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0600)),
        log_("test", common::LogFormat::kText, common::LogLevel::kDebug, fd_) {}
  ~FileLog() { ::close(fd_); }
  const common::Logger& log() const { return log_; }
  std::string text() const { return ReadFileText(path_).value_or(""); }

 private:
  std::string path_;
  int fd_;
  common::Logger log_;
};

TEST_CASE("MessageQueue: queue.db, -wal and -shm are 0600 under umask 022",
          "[message_queue][permissions]") {
  mode_t old = ::umask(022);
  TempDir dir;
  const std::string path = dir.File("queue.db");
  {
    auto queue = MessageQueue::Open(path);
    REQUIRE(queue.ok());
    REQUIRE((*queue)->Enqueue(Text("15551234567", "hi"), 1).ok());
    // While open, WAL mode keeps the -wal and -shm files.
    CHECK(ModeOf(path) == 0600);
    CHECK(ModeOf(path + "-wal") == 0600);
    CHECK(ModeOf(path + "-shm") == 0600);
  }
  // A file an older version left 0644 is tightened on open.
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  {
    auto queue = MessageQueue::Open(path);
    REQUIRE(queue.ok());
    CHECK(ModeOf(path) == 0600);
  }
  ::umask(old);
}

TEST_CASE("MessageQueue: a zero-length file where a queue existed is a warning",
          "[message_queue][health]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  FileLog log(dir.File("log"));
  {
    auto queue = MessageQueue::Open(path, &log.log());
    REQUIRE(queue.ok());
    REQUIRE((*queue)->Enqueue(Text("15551234567", "hi"), 1).ok());
  }
  CHECK(log.text().find("queue-empty-file") == std::string::npos);
  REQUIRE(::truncate(path.c_str(), 0) == 0);
  auto queue = MessageQueue::Open(path, &log.log());
  REQUIRE(queue.ok());  // opened as an empty queue, but not silently
  CHECK(log.text().find("queue-empty-file") != std::string::npos);
  CHECK(log.text().find(path) != std::string::npos);

  // A brand-new file is no warning.
  FileLog fresh_log(dir.File("log2"));
  auto fresh = MessageQueue::Open(dir.File("other.db"), &fresh_log.log());
  REQUIRE(fresh.ok());
  CHECK(fresh_log.text().find("queue-empty-file") == std::string::npos);
}

TEST_CASE("MessageQueue: a corrupt page makes the queue unhealthy for good",
          "[message_queue][health]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  {
    auto queue = MessageQueue::Open(path);
    REQUIRE(queue.ok());
    // Enough rows for the table to span several pages.
    for (int i = 0; i < 200; ++i) {
      REQUIRE(
          (*queue)
              ->Enqueue(Text("15551234567", std::string(200, 'a' + i % 26)), i)
              .ok());
    }
    REQUIRE((*queue)->Close().ok());  // checkpointed: everything in queue.db
  }
  // Garbage over one page. Which page holds the oldest rows depends on
  // SQLite's layout, so try each page of a pristine copy in turn: the first
  // one that still opens (a damaged index page fails Open, which the worker
  // reports as a start failure, exit 1) but fails NextDue is the case here.
  const std::string pristine = ReadFileText(path).value();
  REQUIRE(pristine.size() % 4096 == 0);
  bool found = false;
  for (size_t page = 1; page < pristine.size() / 4096 && !found; ++page) {
    std::string damaged = pristine;
    damaged.replace(page * 4096, 4096, std::string(4096, '\x5a'));
    {
      const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, damaged.data(), damaged.size()) ==
              static_cast<ssize_t>(damaged.size()));
      ::close(fd);
    }
    auto queue = MessageQueue::Open(path);
    if (!queue.ok()) continue;
    CHECK((*queue)->health().ok);
    if ((*queue)->NextDue(1000).ok()) continue;
    found = true;
    MessageQueue::Health health = (*queue)->health();
    CHECK_FALSE(health.ok);
    CHECK(health.permanent);
    CHECK(health.error.find("malformed") != std::string::npos);
    // Later answers (a NotFound, a Stats served by an intact index) do not
    // make a corrupt file healthy.
    (void)(*queue)->MarkSending("msg_000000000000000000000000", 1);
    (void)(*queue)->Stats();
    CHECK_FALSE((*queue)->health().ok);
  }
  CHECK(found);
}

TEST_CASE("MessageQueue: a transient failure is healthy again after a success",
          "[message_queue][health]") {
  TempDir dir;
  auto queue = MessageQueue::Open(dir.File("queue.db"));
  REQUIRE(queue.ok());
  bool broken = true;
  (*queue)->SetFaultForTesting([&](std::string_view op) {
    if (broken && op == "Enqueue")
      return common::Status::IOError("test", "database or disk is full");
    return common::Status::Ok();
  });
  CHECK_FALSE((*queue)->Enqueue(Text("15551234567", "hi"), 1).ok());
  MessageQueue::Health health = (*queue)->health();
  CHECK_FALSE(health.ok);
  CHECK_FALSE(health.permanent);
  CHECK(health.failures == 1);
  broken = false;
  // A read succeeding proves nothing about writes (a full disk reads fine).
  CHECK((*queue)->Stats().ok());
  CHECK_FALSE((*queue)->health().ok);
  CHECK((*queue)->Enqueue(Text("15551234567", "hi"), 2).ok());
  CHECK((*queue)->health().ok);
  // NotFound is an answer, not a failure.
  CHECK_FALSE((*queue)->MarkSent("msg_000000000000000000000000", "w", 3).ok());
  CHECK((*queue)->health().ok);
}

TEST_CASE("QueueHealthTracker: report once, recover, give up after the bound",
          "[queue_watch]") {
  QueueHealthTracker tracker(std::chrono::milliseconds(30000));
  CHECK(tracker.Observe(true, 0) == Action::kNone);
  CHECK(tracker.Observe(false, 1000) == Action::kReportUnhealthy);
  CHECK(tracker.Observe(false, 2000) == Action::kNone);
  CHECK(tracker.Observe(true, 3000) == Action::kReportRecovered);
  CHECK(tracker.Observe(true, 4000) == Action::kNone);
  // A new spell counts from its own start.
  CHECK(tracker.Observe(false, 10000) == Action::kReportUnhealthy);
  CHECK(tracker.Observe(false, 39999) == Action::kNone);
  CHECK(tracker.Observe(false, 40000) == Action::kGiveUp);
  CHECK(tracker.Observe(false, 50000) == Action::kNone);  // once
  CHECK(tracker.Observe(true, 60000) == Action::kNone);
}

TEST_CASE("QueueWatch: one error line, then gives up once", "[queue_watch]") {
  TempDir dir;
  FileLog log(dir.File("log"));
  auto queue = MessageQueue::Open(dir.File("queue.db"));
  REQUIRE(queue.ok());
  (*queue)->SetFaultForTesting([](std::string_view) {
    return common::Status::IOError("test", "disk I/O error");
  });
  int64_t now = 0;
  QueueWatch::Options options;
  options.give_up_after = std::chrono::milliseconds(5000);
  options.steady_ms = [&] { return now; };
  int gave_up = 0;
  QueueWatch watch(options, log.log(), **queue, [&] { ++gave_up; });
  watch.Check();
  CHECK(log.text().empty());
  (void)(*queue)->Stats();  // fails
  for (now = 0; now <= 6000; now += 1000) watch.Check();
  CHECK(gave_up == 1);
  const std::string text = log.text();
  size_t errors = 0;
  for (size_t at = text.find("queue-unhealthy"); at != std::string::npos;
       at = text.find("queue-unhealthy", at + 1)) {
    ++errors;
  }
  CHECK(errors == 2);  // queue-unhealthy (error) and queue-unhealthy-exit
  CHECK(text.find("disk I/O error") != std::string::npos);
}

TEST_CASE("QueueWatch: an idle queue that works again recovers by a probe",
          "[queue_watch]") {
  TempDir dir;
  FileLog log(dir.File("log"));
  auto queue = MessageQueue::Open(dir.File("queue.db"));
  REQUIRE(queue.ok());
  bool broken = true;
  (*queue)->SetFaultForTesting([&](std::string_view) {
    return broken ? common::Status::IOError("test", "database is locked")
                  : common::Status::Ok();
  });
  int64_t now = 0;
  QueueWatch::Options options;
  options.give_up_after = std::chrono::milliseconds(5000);
  options.steady_ms = [&] { return now; };
  int gave_up = 0;
  QueueWatch watch(options, log.log(), **queue, [&] { ++gave_up; });
  (void)(*queue)->Prune(0, 10);  // fails once, then nothing else happens
  watch.Check();                 // the probe fails too: reported
  CHECK(log.text().find("queue-unhealthy") != std::string::npos);
  broken = false;  // the other connection let go of its lock
  for (now = 1000; now <= 10000; now += 1000) watch.Check();
  CHECK(gave_up == 0);  // the probe found it usable: no exit
  CHECK((*queue)->health().ok);
  CHECK(log.text().find("queue-recovered") != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker
