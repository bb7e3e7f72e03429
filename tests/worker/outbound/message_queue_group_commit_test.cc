// MessageQueue's group commit: concurrent writers share one transaction and
// one fsync, each still gets its own answer, and everything acknowledged is
// durable (also across SIGKILL). Reads use their own connection.
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::worker {
namespace {

using common::Result;
using common::Status;
using testing::TempDir;
using testing::WaitUntil;

constexpr std::chrono::milliseconds kWait{10000};

std::unique_ptr<MessageQueue> OpenQueue(const std::string& path) {
  auto queue = MessageQueue::Open(path);
  INFO(queue.status().ToString());
  REQUIRE(queue.ok());
  return std::move(*queue);
}

NewMessage Text(std::string to, std::string text, std::string key = "") {
  NewMessage message;
  message.to = std::move(to);
  message.content_json = "{\"body\":\"" + text + "\"}";
  message.text = std::move(text);
  message.idempotency_key = std::move(key);
  return message;
}

// Runs SQL on a connection of its own (the test's view of the file).
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  INFO((error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

// Holds the group commit: a Probe whose (test) fault blocks inside its batch
// until Release(), so writes started meanwhile queue up behind it and form
// the next batch together.
class CommitGate {
 public:
  explicit CommitGate(MessageQueue& queue) : queue_(queue) {
    queue_.SetFaultForTesting([this](std::string_view op) {
      if (op == "Probe") {
        std::unique_lock<std::mutex> lock(mu_);
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
        return Status::Ok();
      }
      return fault_ ? fault_(op) : Status::Ok();
    });
    prober_ = std::thread([this] { probe_ = queue_.Probe(); });
    std::unique_lock<std::mutex> lock(mu_);
    REQUIRE(cv_.wait_for(lock, kWait, [this] { return held_; }));
  }
  ~CommitGate() {
    Release();
    queue_.SetFaultForTesting(nullptr);
  }

  // A fault for the other writes (set before they start).
  void SetFault(std::function<Status(std::string_view)> fault) {
    fault_ = std::move(fault);
  }
  // Waits until `count` writes are queued behind the held batch.
  bool WaitForQueued(int64_t count) {
    return WaitUntil([&] { return queue_.write_stats().waiting >= count; },
                     kWait, std::chrono::milliseconds(1));
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    if (prober_.joinable()) prober_.join();
  }
  const Status& probe_status() const { return probe_; }

 private:
  MessageQueue& queue_;
  std::function<Status(std::string_view)> fault_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool released_ = false;
  std::thread prober_;
  Status probe_;
};

TEST_CASE(
    "MessageQueue: concurrent enqueues from 16 threads are all durable "
    "and distinct",
    "[message_queue][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  constexpr int kThreads = 16;
  constexpr int kEach = 50;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<int> failures{0};
  {
    auto queue = OpenQueue(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto result = queue->Enqueue(
              Text("1555" + std::to_string(t),
                   "m" + std::to_string(t) + "-" + std::to_string(i)),
              i);
          if (!result.ok() || !result->created) {
            ++failures;
            continue;
          }
          ids[t].push_back(result->id);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(failures == 0);
    WriteStats stats = queue->write_stats();
    CHECK(stats.writes == kThreads * kEach);
    CHECK(stats.commits <= stats.writes);
    CHECK(stats.waiting == 0);
    // Destroyed without Close(): the commits alone made them durable.
  }
  auto reopened = OpenQueue(path);
  std::set<std::string> distinct;
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(ids[t].size() == static_cast<size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      distinct.insert(ids[t][i]);
      auto message = reopened->Get(ids[t][i]);
      REQUIRE(message.ok());
      REQUIRE(message->has_value());
      CHECK((*message)->text ==
            "m" + std::to_string(t) + "-" + std::to_string(i));
      CHECK((*message)->to == "1555" + std::to_string(t));
    }
  }
  CHECK(distinct.size() == static_cast<size_t>(kThreads * kEach));
  auto stats = reopened->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == kThreads * kEach);
  // Per-recipient order is insertion order within each thread's recipient.
  auto pending = reopened->Pending();
  REQUIRE(pending.ok());
  std::vector<size_t> next(kThreads, 0);
  for (const OutboundMessage& message : *pending) {
    const int t = std::stoi(message.to.substr(4));
    CHECK(message.id == ids[t][next[t]++]);
  }
}

TEST_CASE(
    "MessageQueue: under writes that never pause the WAL still starts over "
    "(it stays near the checkpoint threshold, not the 80 MB fallback)",
    "[message_queue][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto queue = OpenQueue(path);
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  // 4 KB each (past a page: SQLite adds an overflow page): well over 64 MB
  // of rows, more than the 48 MB a WAL that never started over would pass,
  // in batches that never leave the writer idle. Few enough commits for a
  // slow disk under TSan (0.27 ms an fdatasync here on 2026-12-03).
  const std::string text(4000, 'x');
  std::atomic<int> failures{0};
  std::atomic<int64_t> largest_wal{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        NewMessage m;
        m.to = "1555" + std::to_string(t * 100000 + i);
        m.text = text;
        if (!queue->Enqueue(m, 1000 + i).ok()) failures.fetch_add(1);
        if (i % 100 == 0) {
          struct stat st {};
          if (::stat((path + "-wal").c_str(), &st) == 0) {
            int64_t seen = largest_wal.load();
            while (st.st_size > seen &&
                   !largest_wal.compare_exchange_weak(seen, st.st_size)) {
            }
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  INFO("largest WAL " << largest_wal.load() << " bytes");
  // The threshold is 16 MB; a checkpoint thread that never finished grew it
  // to the writer's own 80 MB fallback.
  CHECK(largest_wal.load() < 48 * 1024 * 1024);
}

TEST_CASE("MessageQueue: one idempotency key from 16 threads is one message",
          "[message_queue][queue][idempotency]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  constexpr int kThreads = 16;
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "same-" + std::to_string(round);
    std::vector<MessageQueue::EnqueueResult> results(kThreads);
    std::vector<Status> errors(kThreads);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        auto result = queue->Enqueue(Text("1555", "hi", key), round);
        if (result.ok()) {
          results[t] = *result;
        } else {
          errors[t] = result.status();
        }
      });
    }
    go = true;
    for (std::thread& thread : threads) thread.join();
    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
      INFO(errors[t].ToString());
      REQUIRE(errors[t].ok());
      CHECK(results[t].id == results[0].id);
      CHECK_FALSE(results[t].conflict);
      created += results[t].created ? 1 : 0;
    }
    CHECK(created == 1);
  }
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == kRounds);
}

TEST_CASE("MessageQueue: writes queued behind a commit share the next one",
          "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  const std::string sent = queue->Enqueue(Text("1000", "to send"), 1)->id;
  const WriteStats before = queue->write_stats();

  constexpr int kEnqueues = 10;
  std::vector<std::string> ids(kEnqueues);
  std::vector<std::thread> threads;
  {
    CommitGate gate(*queue);
    for (int i = 0; i < kEnqueues; ++i) {
      threads.emplace_back([&, i] {
        auto result = queue->Enqueue(
            Text("1555", "q" + std::to_string(i), "k" + std::to_string(i)), 2);
        if (result.ok()) ids[i] = result->id;
      });
    }
    REQUIRE(gate.WaitForQueued(kEnqueues));
    // While the writer is held mid-transaction, reads answer from their own
    // connection (the last committed state) instead of waiting for it.
    auto stats = queue->Stats();
    REQUIRE(stats.ok());
    CHECK(stats->depth == 1);
    auto due = queue->NextDue(1);
    REQUIRE(due.ok());
    REQUIRE(due->has_value());
    CHECK((*due)->id == sent);
    CHECK(queue->Get(sent).ok());
    CHECK(queue->write_stats().waiting == kEnqueues);
    gate.Release();
    for (std::thread& thread : threads) thread.join();
    CHECK(gate.probe_status().ok());
  }
  const WriteStats after = queue->write_stats();
  // The probe's transaction, then one for all ten.
  CHECK(after.commits - before.commits == 2);
  CHECK(after.rerun == 0);
  CHECK(after.writes - before.writes == kEnqueues + 1);
  CHECK(after.largest_batch == kEnqueues);
  for (const std::string& id : ids) {
    REQUIRE_FALSE(id.empty());
    auto message = queue->Get(id);
    REQUIRE(message.ok());
    CHECK(message->has_value());
  }
}

// EnqueueLater's answers, as they arrive (any thread).
class LaterAnswers {
 public:
  MessageQueue::EnqueueDone Callback() {
    return [this](Result<MessageQueue::EnqueueResult> result) {
      std::lock_guard<std::mutex> lock(mu_);
      results_.push_back(std::move(result));
      threads_.insert(std::this_thread::get_id());
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }
  bool WaitFor(size_t n) {
    return WaitUntil([&] { return count() >= n; }, kWait,
                     std::chrono::milliseconds(1));
  }
  std::vector<Result<MessageQueue::EnqueueResult>> results() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }
  bool answered_on(std::thread::id id) {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_.count(id) > 0;
  }

 private:
  std::mutex mu_;
  std::vector<Result<MessageQueue::EnqueueResult>> results_;
  std::set<std::thread::id> threads_;
};

TEST_CASE(
    "MessageQueue: EnqueueLater returns at once and answers each write once "
    "it is committed, all in one batch",
    "[message_queue][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto queue = OpenQueue(path);
  const WriteStats before = queue->write_stats();
  constexpr int kEnqueues = 10;
  LaterAnswers answers;
  {
    CommitGate gate(*queue);
    // The batch ahead is held mid-transaction, yet every call returns.
    for (int i = 0; i < kEnqueues; ++i) {
      queue->EnqueueLater(Text("1555", "later " + std::to_string(i)), 2,
                          answers.Callback());
    }
    REQUIRE(gate.WaitForQueued(kEnqueues));
    CHECK(answers.count() == 0);  // nothing answered before its commit
    gate.Release();
    REQUIRE(answers.WaitFor(kEnqueues));
  }
  // Answered on the commit thread, not on the caller's.
  CHECK_FALSE(answers.answered_on(std::this_thread::get_id()));
  const WriteStats after = queue->write_stats();
  CHECK(after.commits - before.commits == 2);  // the held probe, then the ten
  CHECK(after.largest_batch == kEnqueues);
  // Committed: another connection to the file sees every answered id.
  auto other = OpenQueue(path);
  std::set<std::string> ids;
  for (const auto& result : answers.results()) {
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    CHECK(result->created);
    ids.insert(result->id);
    auto message = other->Get(result->id);
    REQUIRE(message.ok());
    CHECK(message->has_value());
  }
  CHECK(ids.size() == static_cast<size_t>(kEnqueues));
}

TEST_CASE(
    "MessageQueue: EnqueueLater answers repeats, conflicts and a failed write "
    "as Enqueue does",
    "[message_queue][queue][idempotency]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  const std::string first = queue->Enqueue(Text("1555", "hi", "key-1"), 1)->id;
  LaterAnswers answers;
  {
    CommitGate gate(*queue);
    gate.SetFault([](std::string_view op) {
      return op == "Enqueue" ? Status::IOError("disk", "full") : Status::Ok();
    });
    queue->EnqueueLater(Text("1555", "fails"), 2, answers.Callback());
    REQUIRE(gate.WaitForQueued(1));
    gate.Release();
    REQUIRE(answers.WaitFor(1));
  }
  queue->EnqueueLater(Text("1555", "hi", "key-1"), 3, answers.Callback());
  queue->EnqueueLater(Text("1555", "other body", "key-1"), 4,
                      answers.Callback());
  REQUIRE(answers.WaitFor(3));
  auto results = answers.results();
  REQUIRE_FALSE(results[0].ok());
  CHECK(results[0].status().ToString().find("full") != std::string::npos);
  REQUIRE(results[1].ok());
  CHECK_FALSE(results[1]->created);
  CHECK_FALSE(results[1]->conflict);
  CHECK(results[1]->id == first);
  REQUIRE(results[2].ok());
  CHECK(results[2]->conflict);
  CHECK(results[2]->id == first);
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == 1);
}

TEST_CASE(
    "MessageQueue: EnqueueLater and Enqueue from 8 threads at once are each "
    "answered once and all stored",
    "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  constexpr int kThreads = 8;
  constexpr int kEach = 100;  // per thread, every other one later
  LaterAnswers answers;
  std::vector<std::thread> threads;
  std::atomic<int> sync_ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        NewMessage message =
            Text("1555" + std::to_string(t),
                 std::to_string(t) + "-" + std::to_string(i),
                 "k" + std::to_string(t) + "-" + std::to_string(i));
        if (i % 2 == 0) {
          queue->EnqueueLater(message, i, answers.Callback());
        } else if (queue->Enqueue(message, i).ok()) {
          ++sync_ok;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  REQUIRE(answers.WaitFor(kThreads * kEach / 2));
  CHECK(sync_ok.load() == kThreads * kEach / 2);
  std::set<std::string> ids;
  for (const auto& result : answers.results()) {
    REQUIRE(result.ok());
    CHECK(result->created);
    ids.insert(result->id);
  }
  CHECK(ids.size() == static_cast<size_t>(kThreads * kEach / 2));
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == kThreads * kEach);
  // No answer is given twice: none arrives after all were counted.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(answers.count() == static_cast<size_t>(kThreads * kEach / 2));
}

TEST_CASE("MessageQueue: EnqueueLater after Close answers unavailable",
          "[message_queue][queue]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  REQUIRE(queue->Close().ok());
  LaterAnswers answers;
  queue->EnqueueLater(Text("1555", "too late"), 1, answers.Callback());
  REQUIRE(answers.WaitFor(1));
  auto results = answers.results();
  REQUIRE_FALSE(results[0].ok());
  CHECK(results[0].status().ToString().find("closed") != std::string::npos);
}

// Starts `write` on a thread of its own; join() returns its status.
class Background {
 public:
  explicit Background(std::function<Status()> write)
      : thread_([this, write = std::move(write)] { status_ = write(); }) {}
  Status join() {
    thread_.join();
    return status_;
  }

 private:
  Status status_;
  std::thread thread_;
};

Status EnqueueStatus(MessageQueue& queue, const NewMessage& message) {
  auto result = queue.Enqueue(message, 5);
  return result.ok() ? Status::Ok() : result.status();
}

// Queues, behind a held commit, good writes of every kind around one bad
// enqueue (to "refused", which a trigger `trigger_sql` makes fail), and
// checks that only the bad one failed and the others are durable.
void CheckOneBadWriteInABatch(const std::string& trigger_sql,
                              int64_t expected_reruns) {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto queue = OpenQueue(path);
  const std::string to_send = queue->Enqueue(Text("1000", "a"), 1)->id;
  const std::string to_fail = queue->Enqueue(Text("2000", "b"), 1)->id;
  REQUIRE(queue->MarkSending(to_send, 2).ok());
  ExecSql(path, trigger_sql);

  std::vector<std::unique_ptr<Background>> writes;
  {
    CommitGate gate(*queue);
    auto start = [&](std::function<Status()> write) {
      writes.push_back(std::make_unique<Background>(std::move(write)));
      // One at a time, so the batch's order is the order below.
      REQUIRE(gate.WaitForQueued(static_cast<int64_t>(writes.size())));
    };
    start([&] { return EnqueueStatus(*queue, Text("3000", "before")); });
    start([&] { return queue->MarkSent(to_send, "wamid.S", 3, "accepted"); });
    start([&] { return EnqueueStatus(*queue, Text("refused", "bad")); });
    start([&] {
      return queue->MarkFailed(to_fail, {"131026", "undeliverable", false}, 3);
    });
    start([&] { return EnqueueStatus(*queue, Text("4000", "after")); });
    // An answer that is not an error of the database: NotFound.
    start(
        [&] { return queue->MarkSending("msg_ffffffffffffffffffffffff", 3); });
    gate.Release();
  }
  std::vector<Status> results;
  for (auto& write : writes) results.push_back(write->join());
  const WriteStats stats = queue->write_stats();
  CHECK(stats.largest_batch == 6);
  CHECK(stats.rerun == expected_reruns);
  for (size_t i : {0, 1, 3, 4}) {
    INFO(i << ": " << results[i].ToString());
    CHECK(results[i].ok());
  }
  CHECK_FALSE(results[2].ok());
  CHECK(results[2].message().find("refused by the test") != std::string::npos);
  CHECK(results[5].code() == Status::Code::kNotFound);

  queue.reset();  // without Close: what was acknowledged is committed
  auto reopened = OpenQueue(path);
  auto sent = reopened->Get(to_send);
  REQUIRE(sent.ok());
  CHECK((*sent)->status == MessageStatus::kSent);
  CHECK((*sent)->provider_status == "accepted");
  auto failed = reopened->Get(to_fail);
  REQUIRE(failed.ok());
  CHECK((*failed)->status == MessageStatus::kFailed);
  auto pending = reopened->Pending();
  REQUIRE(pending.ok());
  std::set<std::string> recipients;
  for (const OutboundMessage& message : *pending) recipients.insert(message.to);
  CHECK(recipients == std::set<std::string>{"3000", "4000"});
}

TEST_CASE("MessageQueue: a failing write in a batch fails only its caller",
          "[message_queue][queue]") {
  // RAISE(ABORT): SQLite undoes the statement; the savepoint undoes the rest
  // of that write; the batch commits.
  CheckOneBadWriteInABatch(
      "CREATE TRIGGER refuse BEFORE INSERT ON messages "
      "WHEN NEW.recipient = 'refused' "
      "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
      /*expected_reruns=*/0);
}

TEST_CASE(
    "MessageQueue: a write that loses the whole transaction fails "
    "alone, the others are run again",
    "[message_queue][queue]") {
  // RAISE(ROLLBACK): SQLite rolls the whole transaction back, as it may at
  // SQLITE_FULL or an I/O error: the writes before it must be redone.
  CheckOneBadWriteInABatch(
      "CREATE TRIGGER refuse BEFORE INSERT ON messages "
      "WHEN NEW.recipient = 'refused' "
      "BEGIN SELECT RAISE(ROLLBACK, 'refused by the test'); END",
      /*expected_reruns=*/5);
}

TEST_CASE(
    "MessageQueue: a full disk in a batch shows in health() and fails "
    "only that write",
    "[message_queue][queue][health]") {
  TempDir dir;
  auto queue = OpenQueue(dir.File("queue.db"));
  std::vector<std::unique_ptr<Background>> writes;
  std::vector<Status> results;
  {
    CommitGate gate(*queue);
    gate.SetFault([](std::string_view op) {
      return op == "MarkSending"
                 ? Status::IOError("test", "database or disk is full")
                 : Status::Ok();
    });
    for (int i = 0; i < 3; ++i) {
      writes.push_back(std::make_unique<Background>([&, i] {
        return EnqueueStatus(*queue, Text("1555", "m" + std::to_string(i)));
      }));
    }
    writes.push_back(std::make_unique<Background>(
        [&] { return queue->MarkSending("msg_000000000000000000000000", 1); }));
    REQUIRE(gate.WaitForQueued(4));
    gate.Release();
    // Joined while the gate (and its fault) is still in place.
    for (auto& write : writes) results.push_back(write->join());
  }
  INFO(results[3].ToString());
  CHECK(results[3].message().find("database or disk is full") !=
        std::string::npos);
  for (int i = 0; i < 3; ++i) CHECK(results[i].ok());
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == 3);

  // (Which of those callers recorded its outcome last is up to the threads.)
  // A failure with no success after it leaves the queue unhealthy.
  queue->SetFaultForTesting([](std::string_view op) {
    return op == "Enqueue" ? Status::IOError("test", "database or disk is full")
                           : Status::Ok();
  });
  CHECK_FALSE(queue->Enqueue(Text("1555", "late"), 2).ok());
  MessageQueue::Health health = queue->health();
  CHECK_FALSE(health.ok);
  CHECK_FALSE(health.permanent);
  CHECK(health.error.find("database or disk is full") != std::string::npos);
  queue->SetFaultForTesting(nullptr);
  CHECK(queue->Probe().ok());
  CHECK(queue->health().ok);
}

TEST_CASE("MessageQueue: Close waits for queued writes, later ones fail",
          "[message_queue][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto queue = OpenQueue(path);
  std::unique_ptr<Background> write;
  std::unique_ptr<Background> close;
  {
    CommitGate gate(*queue);
    write = std::make_unique<Background>(
        [&] { return EnqueueStatus(*queue, Text("1555", "queued first")); });
    REQUIRE(gate.WaitForQueued(1));
    close = std::make_unique<Background>([&] { return queue->Close(); });
    REQUIRE(gate.WaitForQueued(2));
    gate.Release();
    // The gate's fault runs in the writes' batch: it must outlive them.
    CHECK(write->join().ok());
    CHECK(close->join().ok());
  }
  CHECK_FALSE(queue->Enqueue(Text("1555", "too late"), 3).ok());
  CHECK_FALSE(queue->Stats().ok());
  CHECK(queue->Close().ok());
  queue.reset();
  auto reopened = OpenQueue(path);
  auto stats = reopened->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == 1);
}

TEST_CASE(
    "MessageQueue: SIGKILL amid concurrent batches loses no "
    "acknowledged enqueue (Enqueue and EnqueueLater)",
    "[message_queue][queue]") {
  const bool later = GENERATE(false, true);
  INFO((later ? "EnqueueLater" : "Enqueue"));
  TempDir dir;
  const std::string path = dir.File("queue.db");
  constexpr int kThreads = 8;
  constexpr int kLaterWindow = 4;
  constexpr int kKillAfter = 400;  // acknowledged enqueues before the kill
  int fds[2];
  REQUIRE(pipe(fds) == 0);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: no Catch2 here. Eight threads enqueue without pause and
    // report each acknowledged id (one write(2) of a short line is atomic on
    // a pipe); the main thread kills the process while batches are running.
    close(fds[0]);
    auto queue = MessageQueue::Open(path);
    if (!queue.ok()) _exit(3);
    std::atomic<int> acknowledged{0};
    auto report = [&](const Result<MessageQueue::EnqueueResult>& result) {
      if (!result.ok()) _exit(4);
      std::string line = result->id + "\n";
      if (write(fds[1], line.data(), line.size()) !=
          static_cast<ssize_t>(line.size()))
        _exit(5);
      ++acknowledged;
    };
    for (int t = 0; t < kThreads; ++t) {
      std::thread([&, t] {
        // EnqueueLater's callers keep up to kLaterWindow writes unanswered.
        std::atomic<int> unanswered{0};
        for (int i = 0;; ++i) {
          NewMessage message =
              Text("1555" + std::to_string(t),
                   std::to_string(t) + "-" + std::to_string(i));
          if (!later) {
            report((*queue)->Enqueue(message, i));
            continue;
          }
          while (unanswered.load() >= kLaterWindow) usleep(50);
          ++unanswered;
          (*queue)->EnqueueLater(
              message, i, [&](Result<MessageQueue::EnqueueResult> result) {
                report(result);
                --unanswered;
              });
        }
      }).detach();
    }
    while (acknowledged.load() < kKillAfter) usleep(100);
    kill(getpid(), SIGKILL);  // no Close, no destructors, mid-batch
    _exit(6);
  }

  close(fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFSIGNALED(wstatus));
  CHECK(WTERMSIG(wstatus) == SIGKILL);

  std::vector<std::string> ids;
  for (size_t start = 0, end;
       (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    ids.push_back(text.substr(start, end - start));
  }
  REQUIRE(ids.size() >= static_cast<size_t>(kKillAfter));

  auto queue = OpenQueue(path);
  for (const std::string& id : ids) {
    auto message = queue->Get(id);
    INFO(id);
    REQUIRE(message.ok());
    CHECK(message->has_value());
  }
  // Nothing half-written: every row is whole (at least the acknowledged ones,
  // maybe a few committed just before the kill whose ids never got out).
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth >= static_cast<int64_t>(ids.size()));
  CHECK(stats->depth <= static_cast<int64_t>(ids.size()) +
                            kThreads * (later ? kLaterWindow : 1));
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

TEST_CASE("MessageQueue: the WAL is checkpointed while the queue is open",
          "[message_queue][queue]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  auto queue = OpenQueue(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  const int64_t before = st.st_size;
  // ~26 MB of rows: well past the checkpointer's 4,000 pages (16 MB) of WAL.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400; ++i) {
        (void)queue->Enqueue(
            Text("1555" + std::to_string(t), std::string(8000, 'a' + t)), i);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // The pages reach queue.db without a Close (which checkpoints anyway).
  CHECK(WaitUntil(
      [&] {
        return ::stat(path.c_str(), &st) == 0 &&
               st.st_size > before + 8 * 1024 * 1024;
      },
      kWait));
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == 8 * 400);
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

TEST_CASE(
    "MessageQueue: a disk that fills up mid-batch shows in health(), "
    "what was acknowledged survives",
    "[message_queue][queue][health]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  { auto created = OpenQueue(path); }  // the file exists, checkpointed
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: files may grow by ~1 MB from here (RLIMIT_FSIZE: a write
    // past it is cut short, which SQLite reports as a full disk; SIGXFSZ
    // ignored so the write fails instead of killing the process). Four
    // threads enqueue until their queue refuses; exit code 0 when health()
    // then tells, and a Probe after the limit is lifted heals it.
    close(fds[0]);
    auto queue = MessageQueue::Open(path);
    if (!queue.ok()) _exit(3);
    signal(SIGXFSZ, SIG_IGN);
    struct stat st {};
    if (::stat((path + "-wal").c_str(), &st) != 0) _exit(4);
    struct rlimit limit {};
    getrlimit(RLIMIT_FSIZE, &limit);
    const rlim_t unlimited = limit.rlim_cur;
    limit.rlim_cur = static_cast<rlim_t>(st.st_size) + 1000 * 1000 + 123;
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(5);
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100000; ++i) {
          auto result = (*queue)->Enqueue(
              Text("1555" + std::to_string(t), std::string(3000, 'x')), i);
          if (!result.ok()) {
            ++refused;
            return;
          }
          std::string line = result->id + "\n";
          if (write(fds[1], line.data(), line.size()) !=
              static_cast<ssize_t>(line.size()))
            _exit(6);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    if (refused != 4) _exit(7);
    MessageQueue::Health health = (*queue)->health();
    if (health.ok || health.permanent) _exit(8);
    if (health.error.find("full") == std::string::npos &&
        health.error.find("I/O") == std::string::npos)
      _exit(9);
    limit.rlim_cur = unlimited;
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(10);
    if (!(*queue)->Probe().ok() || !(*queue)->health().ok) _exit(11);
    _exit(0);  // no Close: the parent reads what the commits left
  }
  close(fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);

  std::vector<std::string> ids;
  for (size_t start = 0, end;
       (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    ids.push_back(text.substr(start, end - start));
  }
  CHECK(ids.size() > 10);  // it did fill up, not fail at once
  auto queue = OpenQueue(path);
  for (const std::string& id : ids) {
    auto message = queue->Get(id);
    INFO(id);
    REQUIRE(message.ok());
    CHECK(message->has_value());
  }
  auto stats = queue->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->depth == static_cast<int64_t>(ids.size()));
}

}  // namespace
}  // namespace dynoguard::worker
