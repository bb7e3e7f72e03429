#include "worker/storage/sqlite.h"

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/temp_dir.h"

namespace dynoguard::worker::storage {
namespace {

using common::Status;
using dynoguard::testing::TempDir;

// Statements currently prepared on `db`.
int PreparedCount(sqlite3* db) {
  int count = 0;
  for (sqlite3_stmt* stmt = sqlite3_next_stmt(db, nullptr); stmt != nullptr;
       stmt = sqlite3_next_stmt(db, stmt)) {
    ++count;
  }
  return count;
}

TEST_CASE("StatementCache: one SQL text is prepared once and reused clean",
          "[storage][queue]") {
  TempDir dir;
  auto db = OpenPrivateDatabase(dir.File("t.db"), "test", 1000);
  REQUIRE(db.ok());
  {
    StatementCache cache(*db);
    {
      auto first = Statement::Prepare(cache, "test", "SELECT ?1");
      REQUIRE(first.ok());
      first->Bind(1, int64_t{42});
      auto row = first->Step();
      REQUIRE(row.ok());
      REQUIRE(*row);
      CHECK(first->Int(0) == 42);
      // Dropped mid-result: goes back to the cache, reset.
    }
    CHECK(PreparedCount(*db) == 1);
    {
      auto again = Statement::Prepare(cache, "test", "SELECT ?1");
      REQUIRE(again.ok());
      CHECK(PreparedCount(*db) == 1);  // the same one
      auto row = again->Step();
      REQUIRE(row.ok());
      REQUIRE(*row);
      CHECK(again->IsNull(0));  // the old binding is gone
      // The same text in use twice at once: a second statement.
      auto nested = Statement::Prepare(cache, "test", "SELECT ?1");
      REQUIRE(nested.ok());
      CHECK(PreparedCount(*db) == 2);
    }
    REQUIRE(Exec(cache, "test", "CREATE TABLE t (x INTEGER)").ok());
    REQUIRE(Exec(cache, "test", "INSERT INTO t VALUES (1)").ok());
    Status bad = Exec(cache, "test", "INSERT INTO nowhere VALUES (1)");
    CHECK_FALSE(bad.ok());
    CHECK(bad.message().find("no such table") != std::string::npos);
    cache.Clear();
    CHECK(PreparedCount(*db) == 0);
  }
  // Nothing left prepared: a plain close succeeds.
  CHECK(sqlite3_close(*db) == SQLITE_OK);
}

TEST_CASE("OpenReadOnlyDatabase: reads what a writer committed, cannot write",
          "[storage][queue]") {
  TempDir dir;
  const std::string path = dir.File("t.db");
  auto writer = OpenPrivateDatabase(path, "test", 1000);
  REQUIRE(writer.ok());
  REQUIRE(Exec(*writer, "test",
               "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); "
               "INSERT INTO t VALUES (7)")
              .ok());
  auto reader = OpenReadOnlyDatabase(path, "test", 1000);
  REQUIRE(reader.ok());
  {
    StatementCache cache(*reader);
    auto select = Statement::Prepare(cache, "test", "SELECT x FROM t");
    REQUIRE(select.ok());
    auto row = select->Step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    CHECK(select->Int(0) == 7);
    CHECK_FALSE(Exec(cache, "test", "INSERT INTO t VALUES (8)").ok());
  }
  sqlite3_close(*reader);
  sqlite3_close(*writer);

  auto missing = OpenReadOnlyDatabase(dir.File("none.db"), "ctx", 1000);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("ctx") == 0);
}

}  // namespace
}  // namespace dynoguard::worker::storage
