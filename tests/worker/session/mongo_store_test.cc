// The MongoDB store against a local server that speaks the wire protocol
// (tests/support/mongo_wire_server.h) and, when MONGODB_URI is set, the same
// cases against that real server, each in a database of its own (dropped
// after).
#include "worker/session/stores/mongo_store.h"

#include <mongoc/mongoc.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mongo_wire_server.h"
#include "tests/support/wait.h"
#include "tests/worker/http/test_loop.h"
#include "worker/session/stores/mongo_document.h"

namespace dynoguard::worker {
namespace {

using Code = common::Status::Code;
using LoadResult = common::Result<std::optional<std::string>>;
using std::chrono::milliseconds;
using testing::MongoCommand;
using testing::MongoWireServer;
using testing_loop::TestLoop;

constexpr auto kAnswerDeadline = std::chrono::seconds(30);

// MONGODB_URI with its database replaced by `database`, keeping the user's
// authSource (the database a user authenticates against defaults to the
// URI's, and Atlas users live in "admin").
std::string WithDatabase(const std::string& uri, const std::string& database) {
  size_t scheme = uri.find("://");
  REQUIRE(scheme != std::string::npos);
  size_t authority_start = scheme + 3;
  size_t query = uri.find('?', authority_start);
  std::string before_query = uri.substr(0, query);
  std::string options = query == std::string::npos ? "" : uri.substr(query + 1);
  size_t at = before_query.rfind('@');
  size_t slash =
      before_query.find('/', at == std::string::npos ? authority_start : at);
  std::string authority = before_query.substr(0, slash);
  std::string old_database =
      slash == std::string::npos ? "" : before_query.substr(slash + 1);
  if (at != std::string::npos &&
      options.find("authSource=") == std::string::npos) {
    if (!options.empty()) options += "&";
    options += "authSource=" + (old_database.empty() ? "admin" : old_database);
  }
  return authority + "/" + database + (options.empty() ? "" : "?" + options);
}

// The targets a case runs on: the local wire server, and also the real
// server of MONGODB_URI when that is set.
// 0: local, 1: real (ints: Catch's from_range does not take vector<bool>).
std::vector<int> TargetKinds() {
  const char* env = std::getenv("MONGODB_URI");
  if (env != nullptr && env[0] != '\0') return {0, 1};
  return {0};
}

// Where a case runs: the local wire server, or the real server of
// MONGODB_URI (a fresh database, dropped in the destructor).
class Target {
 public:
  explicit Target(bool real) {
    static std::atomic<int> counter{0};
    if (real) {
      database_ = "dynoguard_test_" + std::to_string(getpid()) + "_" +
                  std::to_string(counter++);
      uri_ = WithDatabase(std::getenv("MONGODB_URI"), database_);
    } else {
      local_ = std::make_unique<MongoWireServer>();
      database_ = "dgtest";
      uri_ = local_->uri(database_);
    }
  }
  ~Target() {
    if (!local_) Drop();
  }
  bool real() const { return !local_; }
  const std::string& uri() const { return uri_; }
  const std::string& database() const { return database_; }
  MongoWireServer* local() const { return local_.get(); }

 private:
  void Drop() {
    mongoc_client_t* client = mongoc_client_new(uri_.c_str());
    if (client == nullptr) return;
    mongoc_database_t* db =
        mongoc_client_get_database(client, database_.c_str());
    bson_error_t error;
    if (!mongoc_database_drop(db, &error)) {
      WARN("dropping the test database failed: " << error.message);
    }
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
  }

  std::string uri_;
  std::string database_;
  std::unique_ptr<MongoWireServer> local_;
};

// A store on a libuv loop thread, as the worker runs it, with blocking
// helpers that call it on the loop and check that every answer comes on the
// loop thread and never from within the call.
class Harness {
 public:
  explicit Harness(MongoOptions options) {
    loop_.RunAndWait([this] { loop_thread_ = std::this_thread::get_id(); });
    store_ = std::make_unique<MongoSessionStore>(
        std::move(options), [this](std::function<void()> task) {
          loop_.Post(std::move(task));
          return true;
        });
  }
  ~Harness() {
    if (!stopped_) StopNow();
  }

  MongoSessionStore& store() { return *store_; }
  TestLoop& loop() { return loop_; }

  LoadResult Load() {
    auto promise = std::make_shared<std::promise<LoadResult>>();
    auto future = promise->get_future();
    loop_.Post([this, promise] {
      in_call_ = true;
      store_->Load([this, promise](LoadResult result) {
        CheckAnswerContext();
        promise->set_value(std::move(result));
      });
      in_call_ = false;
    });
    REQUIRE(future.wait_for(kAnswerDeadline) == std::future_status::ready);
    return future.get();
  }

  common::Status Save(std::string document, uint64_t sequence) {
    auto promise = std::make_shared<std::promise<common::Status>>();
    auto future = promise->get_future();
    loop_.Post([this, promise, document = std::move(document), sequence] {
      in_call_ = true;
      store_->Save(document, sequence, [this, promise](common::Status status) {
        CheckAnswerContext();
        promise->set_value(std::move(status));
      });
      in_call_ = false;
    });
    REQUIRE(future.wait_for(kAnswerDeadline) == std::future_status::ready);
    return future.get();
  }

  void StopNow() {
    stopped_ = true;
    std::promise<void> stopped;
    loop_.Post([&] { store_->Stop([&] { stopped.set_value(); }); });
    REQUIRE(stopped.get_future().wait_for(kAnswerDeadline) ==
            std::future_status::ready);
    store_.reset();
  }

  // Answers that came from within a call or off the loop thread.
  int misplaced_answers() const { return misplaced_; }

 private:
  void CheckAnswerContext() {
    if (in_call_ || std::this_thread::get_id() != loop_thread_) ++misplaced_;
  }

  TestLoop loop_;
  std::thread::id loop_thread_;
  bool in_call_ = false;  // loop thread only
  std::atomic<int> misplaced_{0};
  bool stopped_ = false;
  std::unique_ptr<MongoSessionStore> store_;
};

MongoOptions Options(const std::string& uri, std::string name = "default",
                     milliseconds timeout = milliseconds(10000)) {
  MongoOptions options;
  options.uri = uri;
  options.session_name = std::move(name);
  options.timeout = timeout;
  return options;
}

std::string Snapshot(uint64_t sequence, size_t padding = 0) {
  return R"({"v":1,"sequence":)" + std::to_string(sequence) +
         R"(,"payload":")" + std::string(padding, 'A') + R"("})";
}

rapidjson::Document ParseJson(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

TEST_CASE("mongodb store: a real server's cases get a database of their own",
          "[mongodb]") {
  CHECK(WithDatabase("mongodb+srv://dg:pw@cluster0.example.net/"
                     "?retryWrites=true&w=majority",
                     "t1") ==
        "mongodb+srv://dg:pw@cluster0.example.net/t1"
        "?retryWrites=true&w=majority&authSource=admin");
  CHECK(WithDatabase("mongodb://dg:pw@h1:27017,h2:27017/app", "t1") ==
        "mongodb://dg:pw@h1:27017,h2:27017/t1?authSource=app");
  CHECK(WithDatabase("mongodb://h1:27017", "t1") == "mongodb://h1:27017/t1");
  CHECK(
      WithDatabase("mongodb://dg:pw@h1/app?authSource=admin&tls=true", "t1") ==
      "mongodb://dg:pw@h1/t1?authSource=admin&tls=true");
}

TEST_CASE("mongodb store: a saved snapshot loads back", "[mongodb]") {
  const bool real = GENERATE(from_range(TargetKinds())) == 1;
  INFO((real ? "on MONGODB_URI's server" : "on the local wire server"));
  Target target(real);
  Harness h(Options(target.uri()));
  CHECK(h.store().kind() == "mongodb");
  CHECK(h.store().ns() == target.database() + ".sessions");

  LoadResult empty = h.Load();
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());

  REQUIRE(h.Save(Snapshot(1), 1).ok());
  LoadResult first = h.Load();
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK(**first == Snapshot(1));

  REQUIRE(h.Save(Snapshot(2), 2).ok());
  LoadResult second = h.Load();
  REQUIRE(second.ok());
  CHECK(second->value() == Snapshot(2));
  CHECK(h.misplaced_answers() == 0);
}

TEST_CASE("mongodb store: a newer stored snapshot is never replaced",
          "[mongodb]") {
  const bool real = GENERATE(from_range(TargetKinds())) == 1;
  INFO((real ? "on MONGODB_URI's server" : "on the local wire server"));
  Target target(real);
  Harness h(Options(target.uri()));
  REQUIRE(h.Save(Snapshot(5), 5).ok());

  common::Status older = h.Save(Snapshot(3), 3);
  CHECK(older.code() == Code::kFailedPrecondition);
  CHECK(older.message().rfind("mongodb save: ", 0) == 0);
  common::Status same = h.Save(Snapshot(5, 1), 5);
  CHECK(same.code() == Code::kFailedPrecondition);
  CHECK(h.Load()->value() == Snapshot(5));

  REQUIRE(h.Save(Snapshot(6), 6).ok());
  CHECK(h.Load()->value() == Snapshot(6));
}

TEST_CASE("mongodb store: two SESSION_NAMEs keep two documents", "[mongodb]") {
  const bool real = GENERATE(from_range(TargetKinds())) == 1;
  INFO((real ? "on MONGODB_URI's server" : "on the local wire server"));
  Target target(real);
  Harness eu(Options(target.uri(), "eu-1"));
  Harness us(Options(target.uri(), "us-1"));
  REQUIRE(eu.Save(Snapshot(10), 10).ok());
  CHECK_FALSE(us.Load()->has_value());
  // A lower sequence under another name is not guarded by this one's.
  REQUIRE(us.Save(Snapshot(2), 2).ok());
  CHECK(eu.Load()->value() == Snapshot(10));
  CHECK(us.Load()->value() == Snapshot(2));
  if (target.local() != nullptr) {
    auto stored =
        target.local()->Document(target.database() + ".sessions", "eu-1");
    REQUIRE(stored);
    auto doc = ParseJson(*stored);
    CHECK(std::string(doc["_id"].GetString()) == "eu-1");
    CHECK(std::string(doc["sequence"]["$numberLong"].GetString()) == "10");
    CHECK(std::string(doc["document"].GetString()) == Snapshot(10));
    CHECK(doc["updatedAt"].HasMember("$date"));
  }
}

TEST_CASE("mongodb store: a 512 KB document round-trips", "[mongodb]") {
  const bool real = GENERATE(from_range(TargetKinds())) == 1;
  INFO((real ? "on MONGODB_URI's server" : "on the local wire server"));
  Target target(real);
  Harness h(Options(target.uri()));
  const std::string big = Snapshot(1, 512 * 1024);
  REQUIRE(h.Save(big, 1).ok());
  LoadResult loaded = h.Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK(loaded->value().size() == big.size());
  CHECK(loaded->value() == big);
}

TEST_CASE(
    "mongodb store: server down is Unavailable within the timeout, "
    "then the same store works once it is back",
    "[mongodb]") {
  MongoWireServer server;
  const milliseconds timeout(500);
  Harness h(Options(server.uri("dgtest"), "default", timeout));
  REQUIRE(h.Save(Snapshot(1), 1).ok());

  server.Stop();
  for (int i = 0; i < 2; ++i) {  // the open connection broke, then refused
    auto started = std::chrono::steady_clock::now();
    common::Status down = h.Save(Snapshot(2), 2);
    auto took = std::chrono::steady_clock::now() - started;
    INFO(down.message());
    CHECK(down.code() == Code::kUnavailable);
    CHECK(down.message().rfind("mongodb save: ", 0) == 0);
    // Generous: one connect attempt bounded by the timeout, plus slack for a
    // loaded machine and sanitizers.
    CHECK(took < timeout + std::chrono::seconds(5));
  }
  LoadResult load_down = h.Load();
  REQUIRE_FALSE(load_down.ok());
  CHECK(load_down.status().code() == Code::kUnavailable);

  REQUIRE(server.Start().ok());
  common::Status back = h.Save(Snapshot(2), 2);
  INFO(back.message());
  CHECK(back.ok());
  CHECK(h.Load()->value() == Snapshot(2));
}

TEST_CASE("mongodb store: a server that stops answering is Unavailable",
          "[mongodb]") {
  MongoWireServer server;
  const milliseconds timeout(300);
  Harness h(Options(server.uri("dgtest"), "default", timeout));
  REQUIRE(h.Save(Snapshot(1), 1).ok());
  server.SetDelay(std::chrono::seconds(3));
  common::Status slow = h.Save(Snapshot(2), 2);
  INFO(slow.message());
  CHECK(slow.code() == Code::kUnavailable);
  server.SetDelay(milliseconds(0));
  // The slow update may have been applied before its answer was held back.
  common::Status again = h.Save(Snapshot(3), 3);
  INFO(again.message());
  CHECK(again.ok());
  CHECK(h.Load()->value() == Snapshot(3));
}

TEST_CASE("mongodb store: the driver sends the guarded upsert and the find",
          "[mongodb]") {
  MongoWireServer server;
  Harness h(Options(server.uri("dgtest"), "eu-1"));
  REQUIRE(h.Save(Snapshot(7), 7).ok());
  REQUIRE(h.Load().ok());

  auto all = server.commands();
  REQUIRE_FALSE(all.empty());
  // The handshake: legacy isMaster/hello over OP_QUERY on admin.$cmd.
  CHECK(all[0].op_code == 2004);
  CHECK(all[0].database == "admin");
  CHECK((all[0].name == "isMaster" || all[0].name == "hello"));
  for (const MongoCommand& c : all) {
    INFO(c.name << " " << c.json);
    CHECK((c.name == "isMaster" || c.name == "ismaster" || c.name == "hello" ||
           c.name == "update" || c.name == "find" || c.name == "endSessions"));
  }

  auto updates = server.commands("update");
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].op_code == 2013);
  CHECK(updates[0].database == "dgtest");
  auto update = ParseJson(updates[0].json);
  CHECK(std::string(update["update"].GetString()) == "sessions");
  INFO("kind 1 sections: " << updates[0].sequences.size());
  CHECK(updates[0].sequences == std::vector<std::string>{"updates"});
  REQUIRE(update["updates"].IsArray());
  REQUIRE(update["updates"].Size() == 1);
  const auto& statement = update["updates"][0];
  CHECK(std::string(statement["q"]["_id"].GetString()) == "eu-1");
  CHECK(std::string(
            statement["q"]["sequence"]["$lt"]["$numberLong"].GetString()) ==
        "7");
  CHECK(statement["q"].MemberCount() == 2);
  const auto& set = statement["u"]["$set"];
  CHECK(statement["u"].MemberCount() == 1);
  CHECK(std::string(set["sequence"]["$numberLong"].GetString()) == "7");
  CHECK(std::string(set["document"].GetString()) == Snapshot(7));
  CHECK(set["updatedAt"].HasMember("$date"));
  CHECK(statement["upsert"].GetBool());
  CHECK((!statement.HasMember("multi") || !statement["multi"].GetBool()));

  auto finds = server.commands("find");
  REQUIRE(finds.size() == 1);
  auto find = ParseJson(finds[0].json);
  CHECK(std::string(find["find"].GetString()) == "sessions");
  CHECK(std::string(find["$db"].GetString()) == "dgtest");
  CHECK(std::string(find["filter"]["_id"].GetString()) == "eu-1");
  CHECK(find["filter"].MemberCount() == 1);
}

TEST_CASE("mongodb store: without a database in the URI it is dynoguard",
          "[mongodb]") {
  MongoWireServer server;
  Harness h(Options(server.uri()));
  CHECK(h.store().ns() == "dynoguard.sessions");
  REQUIRE(h.Save(Snapshot(1), 1).ok());
  auto updates = server.commands("update");
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].database == "dynoguard");
  CHECK(server.Document("dynoguard.sessions", "default"));
}

TEST_CASE(
    "mongodb store: Stop lets the call in flight finish and answers "
    "the queued ones Unavailable",
    "[mongodb]") {
  MongoWireServer server;
  Harness h(Options(server.uri("dgtest")));
  REQUIRE(h.Save(Snapshot(1), 1).ok());
  // Long enough that the save is still in flight when Stop is called.
  server.SetDelay(milliseconds(1000));

  std::promise<void> all_done;
  std::vector<std::string> order;  // loop thread only
  h.loop().Post([&] {
    h.store().Save(Snapshot(2), 2, [&](common::Status status) {
      order.push_back("save " + status.ToString());
    });
  });
  // The save is in flight once the server holds its update's answer.
  REQUIRE(
      testing::WaitUntil([&] { return server.commands("update").size() == 2; },
                         std::chrono::seconds(20)));
  h.loop().Post([&] {
    h.store().Load([&](LoadResult result) {
      order.push_back(result.ok() ? "load ok"
                                  : "load " + result.status().message());
    });
    h.store().Stop([&] {
      order.push_back("stopped");
      all_done.set_value();
    });
  });
  REQUIRE(all_done.get_future().wait_for(kAnswerDeadline) ==
          std::future_status::ready);
  std::vector<std::string> seen;
  h.loop().RunAndWait([&] { seen = order; });
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "save ok");  // the call in flight finished
  CHECK(seen[1] == "load mongodb load: the store is stopping");
  CHECK(seen[2] == "stopped");
  CHECK(server.Document("dgtest.sessions", "default")
            ->find("\\\"sequence\\\":2") != std::string::npos);
}

TEST_CASE("mongodb store: calls after Stop answer Unavailable", "[mongodb]") {
  MongoWireServer server;
  Harness h(Options(server.uri("dgtest")));
  std::promise<void> stopped;
  h.loop().Post([&] { h.store().Stop([&] { stopped.set_value(); }); });
  REQUIRE(stopped.get_future().wait_for(kAnswerDeadline) ==
          std::future_status::ready);
  common::Status save = h.Save(Snapshot(1), 1);
  CHECK(save.code() == Code::kUnavailable);
  LoadResult load = h.Load();
  CHECK(load.status().code() == Code::kUnavailable);
  CHECK(server.commands("update").empty());
}

TEST_CASE(
    "mongodb store: failed authentication is PermissionDenied naming "
    "MONGODB_URI, without the password",
    "[mongodb]") {
  MongoWireServer server;
  const std::string password = "s3cret-Passw0rd";
  Harness h(Options("mongodb://dg-user:" + password +
                    "@127.0.0.1:" + std::to_string(server.port()) + "/dgtest"));
  LoadResult load = h.Load();
  REQUIRE_FALSE(load.ok());
  INFO(load.status().message());
  CHECK(load.status().code() == Code::kPermissionDenied);
  CHECK(load.status().message().find("MONGODB_URI") != std::string::npos);
  CHECK(load.status().message().find(password) == std::string::npos);
  common::Status save = h.Save(Snapshot(1), 1);
  CHECK(save.code() == Code::kPermissionDenied);
  CHECK(server.commands("update").empty());
}

TEST_CASE("mongodb store: a bad URI is InvalidArgument, without the password",
          "[mongodb]") {
  const std::string password = "hunter2-Pw";
  for (const std::string& uri :
       {"mongodb://dg:" + password + "@127.0.0.1:notaport/db",
        "http://dg:" + password + "@127.0.0.1/db", std::string("")}) {
    INFO(uri);
    common::Status checked = MongoSessionStore::CheckUri(uri);
    CHECK(checked.code() == Code::kInvalidArgument);
    CHECK(checked.message().find(password) == std::string::npos);
    CHECK(checked.message().find("MONGODB_URI") != std::string::npos);

    Harness h(Options(uri));
    LoadResult load = h.Load();
    REQUIRE_FALSE(load.ok());
    CHECK(load.status().code() == Code::kInvalidArgument);
    CHECK(load.status().message().find(password) == std::string::npos);
    CHECK(h.Save(Snapshot(1), 1).code() == Code::kInvalidArgument);
  }
  CHECK(MongoSessionStore::CheckUri("mongodb://127.0.0.1:27017/x").ok());
  CHECK(MongoSessionStore::CheckUri(
            "mongodb+srv://u:p@cluster0.example.mongodb.net/"
            "?retryWrites=true&w=majority")
            .ok());
}

TEST_CASE("mongodb store: a malformed stored document is a clear Load error",
          "[mongodb]") {
  MongoWireServer server;
  REQUIRE(server.PutDocument(
      "dgtest.sessions",
      R"({"_id":"default","sequence":{"$numberLong":"3"},"document":5})"));
  Harness h(Options(server.uri("dgtest")));
  LoadResult load = h.Load();
  REQUIRE_FALSE(load.ok());
  CHECK(load.status().code() == Code::kInvalidArgument);
  CHECK(load.status().message().find("document") != std::string::npos);
  // A higher sequence written by someone else guards the save too.
  CHECK(h.Save(Snapshot(2), 2).code() == Code::kFailedPrecondition);
  REQUIRE(h.Save(Snapshot(4), 4).ok());
  CHECK(h.Load()->value() == Snapshot(4));
}

TEST_CASE("mongodb store: an empty SESSION_NAME is refused", "[mongodb]") {
  MongoWireServer server;
  Harness h(Options(server.uri("dgtest"), ""));
  CHECK(h.Load().status().code() == Code::kInvalidArgument);
  CHECK(server.connections() == 0);
}

}  // namespace
}  // namespace dynoguard::worker

namespace dynoguard::worker {
namespace {

// The wire server itself, driven by libmongoc directly: what the store does
// not send but a test may need to see.
class DirectClient {
 public:
  explicit DirectClient(const std::string& uri) {
    mongoc_init();  // idempotent: libmongoc runs its set-up once
    client_ = mongoc_client_new(uri.c_str());
    REQUIRE(client_ != nullptr);
    mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
  }
  ~DirectClient() { mongoc_client_destroy(client_); }
  mongoc_client_t* get() { return client_; }

 private:
  mongoc_client_t* client_;
};

TEST_CASE("mongo wire server: an unexpected command is CommandNotFound",
          "[mongodb]") {
  MongoWireServer server;
  DirectClient client(server.uri("dgtest"));
  BsonPtr command(BCON_NEW("frobnicate", BCON_INT32(1)));
  bson_t reply;
  bson_error_t error;
  bool ok = mongoc_client_command_simple(client.get(), "dgtest", command.get(),
                                         nullptr, &reply, &error);
  bson_destroy(&reply);
  CHECK_FALSE(ok);
  CHECK(error.domain == MONGOC_ERROR_SERVER);
  CHECK(error.code == 59);
  CHECK(std::string(error.message).find("frobnicate") != std::string::npos);
  CHECK(server.commands("frobnicate").size() == 1);

  BsonPtr ping(BCON_NEW("ping", BCON_INT32(1)));
  CHECK(mongoc_client_command_simple(client.get(), "admin", ping.get(), nullptr,
                                     &reply, &error));
  bson_destroy(&reply);
  BsonPtr build_info(BCON_NEW("buildInfo", BCON_INT32(1)));
  CHECK(mongoc_client_command_simple(client.get(), "admin", build_info.get(),
                                     nullptr, &reply, &error));
  bson_iter_t it;
  CHECK(bson_iter_init_find(&it, &reply, "version"));
  bson_destroy(&reply);
}

TEST_CASE(
    "mongo wire server: an unacknowledged write (moreToCome) applies "
    "without an answer",
    "[mongodb]") {
  MongoWireServer server;
  DirectClient client(server.uri("dgtest"));
  mongoc_collection_t* collection =
      mongoc_client_get_collection(client.get(), "dgtest", "sessions");
  BsonPtr filter(BCON_NEW("_id", BCON_UTF8("w0")));
  BsonPtr update(BCON_NEW("$set", "{", "sequence", BCON_INT64(1), "}"));
  mongoc_write_concern_t* w0 = mongoc_write_concern_new();
  mongoc_write_concern_set_w(w0, MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED);
  BsonPtr opts(BCON_NEW("upsert", BCON_BOOL(true)));
  mongoc_write_concern_append(w0, opts.get());
  bson_error_t error;
  CHECK(mongoc_collection_update_one(collection, filter.get(), update.get(),
                                     opts.get(), nullptr, &error));
  CHECK(testing::WaitUntil(
      [&] { return server.Document("dgtest.sessions", "w0").has_value(); },
      std::chrono::seconds(10)));
  auto updates = server.commands("update");
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].more_to_come);
  mongoc_write_concern_destroy(w0);
  mongoc_collection_destroy(collection);
}

}  // namespace
}  // namespace dynoguard::worker
