#include "worker/storage/wal_checkpointer.h"

#include "worker/storage/sqlite.h"

namespace dynoguard::worker::storage {

using common::Result;
using common::Status;

namespace {

// A checkpoint waits this long for a lock held by a connection that is
// itself checkpointing or recovering (PASSIVE never waits for writers).
constexpr int kBusyTimeoutMs = 1000;

}  // namespace

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(
    const std::string& path, std::string_view context, int threshold_pages) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status status = SqlError(db, context, "open checkpointer");
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // A connection opens the WAL at its first read; before that a checkpoint
  // on it finds "not a WAL database" and does nothing.
  if (Status read = Exec(db, context, "SELECT count(*) FROM sqlite_master");
      !read.ok()) {
    sqlite3_close_v2(db);
    return read;
  }
  std::unique_ptr<WalCheckpointer> checkpointer(
      new WalCheckpointer(db, threshold_pages));
  checkpointer->thread_ =
      std::thread([raw = checkpointer.get()] { raw->Run(); });
  return checkpointer;
}

WalCheckpointer::WalCheckpointer(sqlite3* db, int threshold_pages)
    : threshold_pages_(threshold_pages), db_(db) {}

WalCheckpointer::~WalCheckpointer() { Stop(); }

void WalCheckpointer::Notify(int wal_pages) {
  if (wal_pages < threshold_pages_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || wanted_) return;
    wanted_ = true;
  }
  cv_.notify_one();
}

int64_t WalCheckpointer::checkpoints() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checkpoints_;
}

void WalCheckpointer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return wanted_ || stopping_; });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    // Errors (a full disk, a busy lock) leave the pages in the WAL: the next
    // commit asks again, and the writer's own fallback checkpoint bounds the
    // WAL's growth.
    if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                  nullptr, nullptr) == SQLITE_OK) {
      finished_.store(true);
    }
    lock.lock();
    ++checkpoints_;
  }
}

void WalCheckpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

}  // namespace dynoguard::worker::storage
