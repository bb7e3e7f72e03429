#include "worker/storage/wal_checkpointer.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "worker/storage/sqlite.h"

namespace dynoguard::worker::storage {
namespace {

using dynoguard::testing::TempDir;
using dynoguard::testing::WaitUntil;

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

int NotifyHook(void* checkpointer, sqlite3*, const char*, int pages) {
  static_cast<WalCheckpointer*>(checkpointer)->Notify(pages);
  return SQLITE_OK;
}

TEST_CASE("WalCheckpointer: copies the WAL into the database off the writer",
          "[storage][queue]") {
  TempDir dir;
  const std::string path = dir.File("t.db");
  auto writer = OpenPrivateDatabase(path, "test", 1000);
  REQUIRE(writer.ok());
  REQUIRE(Exec(*writer, "test",
               "PRAGMA journal_mode = WAL; CREATE TABLE t (b BLOB)")
              .ok());
  auto checkpointer = WalCheckpointer::Start(path, "test", 50);
  REQUIRE(checkpointer.ok());
  // The hook replaces SQLite's own automatic checkpoints: from here on only
  // the checkpointer copies pages into t.db.
  sqlite3_wal_hook(*writer, &NotifyHook, checkpointer->get());
  const int64_t before = FileSize(path);

  for (int i = 0; i < 30; ++i) {  // 30 commits of ~5 pages each
    REQUIRE(
        Exec(*writer, "test", "INSERT INTO t VALUES (zeroblob(20000))").ok());
  }
  CHECK(WaitUntil([&] { return (*checkpointer)->checkpoints() >= 1; },
                  std::chrono::milliseconds(10000)));
  CHECK(WaitUntil([&] { return FileSize(path) > before + 40 * 4096; },
                  std::chrono::milliseconds(10000)));

  (*checkpointer)->Stop();
  (*checkpointer)->Stop();  // twice is fine
  const int64_t stopped_at = (*checkpointer)->checkpoints();
  (*checkpointer)->Notify(1000000);  // ignored once stopped
  CHECK((*checkpointer)->checkpoints() == stopped_at);
  sqlite3_wal_hook(*writer, nullptr, nullptr);
  CHECK(sqlite3_close(*writer) == SQLITE_OK);

  auto missing = WalCheckpointer::Start(dir.File("no/such.db"), "ctx", 10);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("ctx") == 0);
}

}  // namespace
}  // namespace dynoguard::worker::storage
