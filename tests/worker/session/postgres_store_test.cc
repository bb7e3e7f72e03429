// PostgresSessionStore against a real PostgreSQL on 127.0.0.1 (Debian's
// postgresql, started by tests/support/postgres_server), driven from a libuv
// loop on the test thread as the worker drives it. A second, plain libpq
// connection (Admin) looks at the table and holds locks to make calls slow.
#include "worker/session/stores/postgres_store.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "tests/support/postgres_server.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using testing::PostgresServer;
using testing::SharedPostgresServer;
using Code = common::Status::Code;
using LoadResult = common::Result<std::optional<std::string>>;

// A libuv loop run on the test thread, with a thread-safe PostToLoop and a
// timer that counts its ticks (the loop is not blocked while they grow).
class Loop {
 public:
  Loop() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_async_init(&loop_, &async_, OnAsync) == 0);
    async_.data = this;
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    tick_.data = this;
    uv_timer_start(
        &tick_, [](uv_timer_t* t) { ++static_cast<Loop*>(t->data)->ticks_; }, 5,
        5);
  }
  ~Loop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  PostToLoop post() {
    return [this](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) return false;
      tasks_.push_back(std::move(task));
      uv_async_send(&async_);
      return true;
    };
  }

  // Runs the loop until `done` holds (true) or `timeout` passes (false).
  bool RunUntil(const std::function<bool()>& done,
                milliseconds timeout = milliseconds(30000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool held = done();
    while (!held && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
      held = done();
    }
    return held;
  }

  int ticks() const { return ticks_; }
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_; }

 private:
  static void OnAsync(uv_async_t* async) {
    auto* self = static_cast<Loop*>(async->data);
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      tasks.swap(self->tasks_);
    }
    for (auto& task : tasks) task();
  }

  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t tick_{};
  int ticks_ = 0;
  const std::thread::id thread_ = std::this_thread::get_id();
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool closing_ = false;                     // guarded by mu_
};

// Load and Save, waited for on the loop; each checks that the answer came
// later (never from within the call) and on the loop thread.
LoadResult LoadNow(Loop& loop, SessionStore& store) {
  std::optional<LoadResult> got;
  bool on_loop = false;
  store.Load([&](LoadResult result) {
    on_loop = loop.on_loop_thread();
    got.emplace(std::move(result));
  });
  CHECK_FALSE(got.has_value());
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  CHECK(on_loop);
  return std::move(*got);
}

common::Status SaveNow(Loop& loop, SessionStore& store, std::string document,
                       uint64_t sequence) {
  std::optional<common::Status> got;
  bool on_loop = false;
  store.Save(std::move(document), sequence, [&](common::Status status) {
    on_loop = loop.on_loop_thread();
    got.emplace(std::move(status));
  });
  CHECK_FALSE(got.has_value());
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  CHECK(on_loop);
  return std::move(*got);
}

void StopNow(Loop& loop, SessionStore& store) {
  bool stopped = false;
  store.Stop([&] { stopped = true; });
  REQUIRE(loop.RunUntil([&] { return stopped; }));
}

// A plain blocking libpq connection for the test's own statements.
class Admin {
 public:
  explicit Admin(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    INFO(PQerrorMessage(conn_));
    REQUIRE(PQstatus(conn_) == CONNECTION_OK);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);  // "... skipping"
  }
  ~Admin() { PQfinish(conn_); }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // The first column of the first row ("" when none); REQUIRES success.
  std::string Query(const std::string& sql,
                    const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* result =
        PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                     nullptr, values.data(), nullptr, nullptr, 0);
    ExecStatusType status = PQresultStatus(result);
    INFO(sql << ": " << PQresultErrorMessage(result));
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    std::string value = ok && PQntuples(result) > 0 && PQnfields(result) > 0
                            ? PQgetvalue(result, 0, 0)
                            : "";
    PQclear(result);
    REQUIRE(ok);
    return value;
  }

 private:
  PGconn* conn_;
};

PostgresOptions Options(const std::string& url, const std::string& name,
                        milliseconds timeout = milliseconds(10000)) {
  PostgresOptions options;
  options.url = url;
  options.session_name = name;
  options.timeout = timeout;
  return options;
}

// Calls of the store ("dynoguard") waiting for a lock. `watcher` must be in
// no transaction: pg_stat_activity is read once per transaction.
int WaitingOnLock(Admin& watcher) {
  return std::stoi(watcher.Query(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
      "'dynoguard' AND wait_event_type = 'Lock'"));
}

TEST_CASE("postgres: a saved document loads back", "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "round-trip"), loop.post());
  CHECK(store.kind() == "postgres");
  const std::string document =
      R"({"format":"dynoguard-session","seq":1,"é":"✓"})";
  common::Status saved = SaveNow(loop, store, document, 1);
  INFO(saved.message());
  REQUIRE(saved.ok());
  LoadResult loaded = LoadNow(loop, store);
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK(**loaded == document);
  // A new store (a new connection) reads the same row.
  PostgresSessionStore again(Options(server.url(), "round-trip"), loop.post());
  LoadResult reloaded = LoadNow(loop, again);
  REQUIRE(reloaded.ok());
  REQUIRE(reloaded->has_value());
  CHECK(**reloaded == document);
  StopNow(loop, store);
  StopNow(loop, again);
}

TEST_CASE("postgres: the table is created on first use", "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Admin admin(server.url());
  admin.Query("DROP TABLE IF EXISTS dynoguard_sessions");
  REQUIRE(admin.Query("SELECT to_regclass('dynoguard_sessions') IS NULL") ==
          "t");
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "first-use"), loop.post());
  LoadResult loaded = LoadNow(loop, store);
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->has_value());  // no row yet: nullopt, not an error
  CHECK(admin.Query("SELECT to_regclass('dynoguard_sessions') IS NOT NULL") ==
        "t");
  CHECK(
      admin.Query("SELECT string_agg(column_name || ':' || data_type, ',' "
                  "ORDER BY ordinal_position) FROM information_schema.columns "
                  "WHERE table_name = 'dynoguard_sessions'") ==
      "name:text,sequence:bigint,document:text,"
      "updated_at:timestamp with time zone");
  REQUIRE(SaveNow(loop, store, "{}", 3).ok());
  CHECK(admin.Query("SELECT sequence FROM dynoguard_sessions WHERE name = $1",
                    {"first-use"}) == "3");
  StopNow(loop, store);
}

TEST_CASE("postgres: an older sequence never replaces a newer document",
          "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "guard"), loop.post());
  REQUIRE(SaveNow(loop, store, "five", 5).ok());

  common::Status older = SaveNow(loop, store, "three", 3);
  CHECK(older.code() == Code::kFailedPrecondition);
  CHECK(older.message() ==
        "postgres: session 'guard' holds sequence 5, newer than 3; not "
        "replaced");
  LoadResult kept = LoadNow(loop, store);
  REQUIRE(kept.ok());
  CHECK(kept->value_or("") == "five");

  common::Status newer = SaveNow(loop, store, "seven", 7);
  INFO(newer.message());
  CHECK(newer.ok());
  LoadResult replaced = LoadNow(loop, store);
  REQUIRE(replaced.ok());
  CHECK(replaced->value_or("") == "seven");
  StopNow(loop, store);
}

TEST_CASE("postgres: the same sequence again is a retry or refused",
          "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "retry"), loop.post());
  REQUIRE(SaveNow(loop, store, "doc-4", 4).ok());
  // The same document: a retry of a save that was written — OK.
  common::Status retry = SaveNow(loop, store, "doc-4", 4);
  INFO(retry.message());
  CHECK(retry.ok());
  // Another document under the same sequence is not taken.
  common::Status other = SaveNow(loop, store, "other-4", 4);
  CHECK(other.code() == Code::kFailedPrecondition);
  CHECK(other.message().find("holds sequence 4") != std::string::npos);
  CHECK(LoadNow(loop, store)->value_or("") == "doc-4");
  StopNow(loop, store);
}

TEST_CASE("postgres: two SESSION_NAMEs share one database", "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore alpha(Options(server.url(), "alpha"), loop.post());
  PostgresSessionStore beta(Options(server.url(), "beta"), loop.post());
  REQUIRE(SaveNow(loop, alpha, "alpha-10", 10).ok());
  // A lower sequence under another name is another row: written.
  REQUIRE(SaveNow(loop, beta, "beta-1", 1).ok());
  CHECK(LoadNow(loop, alpha)->value_or("") == "alpha-10");
  CHECK(LoadNow(loop, beta)->value_or("") == "beta-1");
  REQUIRE(SaveNow(loop, beta, "beta-2", 2).ok());
  CHECK(LoadNow(loop, alpha)->value_or("") == "alpha-10");
  CHECK(LoadNow(loop, beta)->value_or("") == "beta-2");
  StopNow(loop, alpha);
  StopNow(loop, beta);
}

TEST_CASE("postgres: a wrong password is PermissionDenied and never shown",
          "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  const std::string wrong = "wrong-Passw0rd-42";
  PostgresSessionStore store(Options(server.UrlWithPassword(wrong), "auth"),
                             loop.post());
  LoadResult loaded = LoadNow(loop, store);
  REQUIRE_FALSE(loaded.ok());
  const std::string& message = loaded.status().message();
  INFO(message);
  CHECK(loaded.status().code() == Code::kPermissionDenied);
  CHECK(message.find("DATABASE_URL") != std::string::npos);
  CHECK(message.find("28P01") != std::string::npos);
  CHECK(message.find(wrong) == std::string::npos);
  CHECK(message.find(server.password()) == std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
  common::Status saved = SaveNow(loop, store, "x", 1);
  CHECK(saved.code() == Code::kPermissionDenied);
  CHECK(saved.message().find(wrong) == std::string::npos);
  StopNow(loop, store);
}

TEST_CASE("postgres: a bad DATABASE_URL is InvalidArgument", "[postgres]") {
  Loop loop;
  for (const std::string& url :
       {std::string(""), std::string("mysql://user:Secret-991@db.example/x"),
        std::string("postgresql://user:Secret-991@db.example/x?bogus=1"),
        std::string("host=db.example password=Secret-991 nonsense")}) {
    PostgresSessionStore store(Options(url, "bad-url"), loop.post());
    LoadResult loaded = LoadNow(loop, store);
    REQUIRE_FALSE(loaded.ok());
    INFO(url << " → " << loaded.status().message());
    CHECK(loaded.status().code() == Code::kInvalidArgument);
    CHECK(loaded.status().message().find("DATABASE_URL") != std::string::npos);
    CHECK(loaded.status().message().find("Secret-991") == std::string::npos);
    StopNow(loop, store);
    // The same check, at start, without a store.
    common::Status checked = PostgresSessionStore::CheckUrl(url);
    CHECK(checked.code() == Code::kInvalidArgument);
    CHECK(checked.message() == loaded.status().message());
  }
  CHECK(PostgresSessionStore::CheckUrl(
            "postgres://u:pw@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8abc")
            .ok());
}

TEST_CASE(
    "postgres: a stopped server is Unavailable and the same store works once "
    "it is back",
    "[postgres]") {
  auto started = PostgresServer::Start();  // its own: this test stops it
  INFO(started.status().message());
  REQUIRE(started.ok());
  PostgresServer& server = **started;
  testing::TempDir logs;
  common::UniqueFd log_fd(::open(logs.File("worker.log").c_str(),
                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                 0600));
  REQUIRE(log_fd);
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kDebug, log_fd.get());
  Loop loop;
  PostgresOptions options = Options(server.url(), "outage", milliseconds(3000));
  options.log = &log;
  PostgresSessionStore store(options, loop.post());
  REQUIRE(SaveNow(loop, store, "before", 1).ok());

  REQUIRE(server.Stop().ok());
  // The idle connection broke; the call tries a new one, which is refused.
  LoadResult during = LoadNow(loop, store);
  REQUIRE_FALSE(during.ok());
  INFO(during.status().message());
  CHECK(during.status().code() == Code::kUnavailable);
  CHECK(during.status().message().find(server.password()) == std::string::npos);
  common::Status save_during = SaveNow(loop, store, "during", 2);
  CHECK(save_during.code() == Code::kUnavailable);

  REQUIRE(server.Restart().ok());
  LoadResult after = LoadNow(loop, store);
  INFO(after.status().message());
  REQUIRE(after.ok());
  CHECK(after->value_or("") == "before");
  REQUIRE(SaveNow(loop, store, "after", 3).ok());
  CHECK(LoadNow(loop, store)->value_or("") == "after");

  // Restarted under an idle connection: the next call reconnects by itself.
  REQUIRE(server.Stop().ok());
  REQUIRE(server.Restart().ok());
  LoadResult reconnected = LoadNow(loop, store);
  INFO(reconnected.status().message());
  REQUIRE(reconnected.ok());
  CHECK(reconnected->value_or("") == "after");
  StopNow(loop, store);

  // The store's log lines: connects and the reconnect, never the password.
  std::string text =
      testing::ReadFileText(logs.File("worker.log")).value_or("");
  INFO(text);
  CHECK(text.find("session-store-connected kind=postgres") !=
        std::string::npos);
  CHECK(text.find("session-store-reconnecting kind=postgres") !=
        std::string::npos);
  CHECK(text.find(server.password()) == std::string::npos);
}

TEST_CASE("postgres: TLS is what the URL asks for", "[postgres]") {
  testing::PostgresServerOptions tls;
  tls.tls = true;
  auto started = PostgresServer::Start(tls);
  INFO(started.status().message());
  REQUIRE(started.ok());
  PostgresServer& server = **started;
  testing::TempDir logs;
  common::UniqueFd log_fd(::open(logs.File("worker.log").c_str(),
                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                 0600));
  REQUIRE(log_fd);
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kInfo, log_fd.get());
  Loop loop;
  // sslmode=require, as Heroku wants: encrypted, the certificate not checked.
  PostgresOptions options = Options(server.url() + "?sslmode=require", "tls");
  options.log = &log;
  PostgresSessionStore store(options, loop.post());
  common::Status saved = SaveNow(loop, store, "over-tls", 1);
  INFO(saved.message());
  REQUIRE(saved.ok());
  CHECK(LoadNow(loop, store)->value_or("") == "over-tls");
  StopNow(loop, store);
  std::string text =
      testing::ReadFileText(logs.File("worker.log")).value_or("");
  INFO(text);
  CHECK(text.find("session-store-connected kind=postgres") !=
        std::string::npos);
  CHECK(text.find("tls=yes") != std::string::npos);

  // A server without TLS is refused when the URL requires it.
  PostgresServer& plain = SharedPostgresServer();
  PostgresSessionStore strict(Options(plain.url() + "?sslmode=require", "tls"),
                              loop.post());
  LoadResult refused = LoadNow(loop, strict);
  REQUIRE_FALSE(refused.ok());
  INFO(refused.status().message());
  CHECK(refused.status().code() == Code::kUnavailable);
  CHECK(refused.status().message().find("SSL") != std::string::npos);
  CHECK(refused.status().message().find(plain.password()) == std::string::npos);
  StopNow(loop, strict);
}

TEST_CASE("postgres: a 512 KB document round-trips", "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "big"), loop.post());
  std::string document = "{\"payload\":\"";
  for (size_t i = 0; document.size() < 512 * 1024 - 2; ++i) {
    document.push_back(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            [(i * 7919) % 64]);
  }
  document += "\"}";
  REQUIRE(document.size() == 512 * 1024);
  common::Status saved = SaveNow(loop, store, document, 1);
  INFO(saved.message());
  REQUIRE(saved.ok());
  LoadResult loaded = LoadNow(loop, store);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->size() == document.size());
  CHECK(**loaded == document);
  StopNow(loop, store);
}

TEST_CASE("postgres: the loop keeps running during a slow call", "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "slow"), loop.post());
  REQUIRE(SaveNow(loop, store, "slow-doc", 1).ok());

  Admin admin(server.url());
  admin.Query("BEGIN");
  admin.Query("LOCK TABLE dynoguard_sessions IN ACCESS EXCLUSIVE MODE");
  Admin watcher(server.url());
  std::optional<LoadResult> got;
  store.Load([&](LoadResult result) { got.emplace(std::move(result)); });
  // The store's SELECT waits for the lock...
  REQUIRE(loop.RunUntil([&] { return WaitingOnLock(watcher) == 1; }));
  // ...while the loop goes on: its timer keeps ticking.
  const int ticks = loop.ticks();
  REQUIRE(loop.RunUntil([&] { return loop.ticks() >= ticks + 5; }));
  CHECK_FALSE(got.has_value());
  admin.Query("COMMIT");
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  INFO(got->status().message());
  REQUIRE(got->ok());
  CHECK((*got)->value_or("") == "slow-doc");
  StopNow(loop, store);
}

TEST_CASE("postgres: a statement past the timeout is Unavailable",
          "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(
      Options(server.url(), "timeout", milliseconds(1000)), loop.post());
  REQUIRE(SaveNow(loop, store, "t-doc", 1).ok());
  Admin admin(server.url());
  admin.Query("BEGIN");
  admin.Query("LOCK TABLE dynoguard_sessions IN ACCESS EXCLUSIVE MODE");
  // statement_timeout (3/4 of the store's timeout) cancels the SELECT.
  LoadResult loaded = LoadNow(loop, store);
  admin.Query("COMMIT");
  REQUIRE_FALSE(loaded.ok());
  INFO(loaded.status().message());
  CHECK(loaded.status().code() == Code::kUnavailable);
  // The connection survived the cancel; the next call works.
  LoadResult next = LoadNow(loop, store);
  INFO(next.status().message());
  REQUIRE(next.ok());
  CHECK(next->value_or("") == "t-doc");
  StopNow(loop, store);
}

TEST_CASE("postgres: a server that never answers is Unavailable in time",
          "[postgres]") {
  // A socket that listens and never accepts: the kernel completes the TCP
  // handshake, nothing ever answers libpq's first packet.
  common::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof(addr)) == 0);
  REQUIRE(::listen(listener.get(), 8) == 0);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                        &len) == 0);
  const std::string url = "postgresql://u:Silent-pw-77@127.0.0.1:" +
                          std::to_string(ntohs(addr.sin_port)) + "/db";
  Loop loop;
  PostgresSessionStore store(Options(url, "silent", milliseconds(500)),
                             loop.post());
  std::optional<LoadResult> got;
  store.Load([&](LoadResult result) { got.emplace(std::move(result)); });
  const int ticks = loop.ticks();
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  CHECK(loop.ticks() > ticks);  // the loop ran while the store waited
  REQUIRE_FALSE(got->ok());
  INFO(got->status().message());
  CHECK(got->status().code() == Code::kUnavailable);
  CHECK(got->status().message() ==
        "postgres: connect: no answer from the server within 500ms");
  StopNow(loop, store);
}

TEST_CASE("postgres: Stop lets the call in flight finish and answers the rest",
          "[postgres]") {
  PostgresServer& server = SharedPostgresServer();
  Loop loop;
  PostgresSessionStore store(Options(server.url(), "stop"), loop.post());
  REQUIRE(SaveNow(loop, store, "stop-doc", 1).ok());

  Admin admin(server.url());
  admin.Query("BEGIN");
  admin.Query("LOCK TABLE dynoguard_sessions IN ACCESS EXCLUSIVE MODE");
  Admin watcher(server.url());
  std::vector<std::string> order;
  std::optional<LoadResult> loaded;
  std::optional<common::Status> saved;
  store.Load([&](LoadResult result) {
    loaded.emplace(std::move(result));
    order.push_back("load");
  });
  REQUIRE(loop.RunUntil([&] { return WaitingOnLock(watcher) == 1; }));
  store.Save("queued", 2, [&](common::Status status) {
    saved.emplace(std::move(status));
    order.push_back("save");
  });
  bool stopped = false;
  store.Stop([&] {
    stopped = true;
    order.push_back("stop");
  });
  // The Load still waits for the lock: Stop cannot be done.
  const int ticks = loop.ticks();
  REQUIRE(loop.RunUntil([&] { return loop.ticks() >= ticks + 5; }));
  CHECK_FALSE(stopped);
  CHECK(order.empty());
  admin.Query("COMMIT");
  REQUIRE(loop.RunUntil([&] { return stopped; }));
  CHECK(order == std::vector<std::string>{"load", "save", "stop"});
  INFO(loaded->status().message());
  REQUIRE(loaded->ok());
  CHECK((*loaded)->value_or("") == "stop-doc");  // the call in flight finished
  CHECK(saved->code() == Code::kUnavailable);    // the queued one did not run
  CHECK(admin.Query("SELECT document FROM dynoguard_sessions WHERE name = $1",
                    {"stop"}) == "stop-doc");
  // After Stop: answered, later, with Unavailable.
  LoadResult after = LoadNow(loop, store);
  CHECK(after.status().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace dynoguard::worker
