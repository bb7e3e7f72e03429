// JsonBinSessionStore over a real HttpClient on a real libuv loop (run on the
// test thread) against a local JSONBin v3 server (tests/support/
// jsonbin_server.h); and the pure answer classification (jsonbin_errors.h).
#include "worker/session/stores/jsonbin_store.h"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "tests/support/jsonbin_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"
#include "worker/session/stores/jsonbin_errors.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::TestLoop;

using common::Result;
using common::Status;
using dynoguard::testing::JsonBinAnswer;
using dynoguard::testing::JsonBinRequest;
using dynoguard::testing::JsonBinRoute;
using dynoguard::testing::JsonBinServer;
using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;
using std::chrono::milliseconds;

const std::string kDocument =
    R"({"format":"dynoguard-session","version":1,"name":"test","sequence":7,)"
    R"("payload":"eJzLSM3JyVcozy/KSQEAGgQEXQ=="})";

// Everything a test needs: the server, a loop, a client, a log file, and a
// store made on demand. Destroyed in the right order (store, client, loop).
class Fixture {
 public:
  explicit Fixture(JsonBinServer::Options server_options = {})
      : server(std::move(server_options)) {
    log_path_ = dir_.File("log");
    log_fd_ = ::open(log_path_.c_str(),
                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(log_fd_ >= 0);
    log_ = std::make_unique<common::Logger>("worker", common::LogFormat::kText,
                                            common::LogLevel::kDebug, log_fd_);
    auto client = HttpClient::Create(loop.get(), {});
    REQUIRE(client.ok());
    http = std::move(*client);
  }
  ~Fixture() {
    store.reset();
    http->Close();
    http.reset();
    loop.RunUntil([] { return false; }, milliseconds(20));
    ::close(log_fd_);
  }

  // Options with the server's URL, its master key and a session name.
  JsonBinOptions Options() const {
    JsonBinOptions options;
    options.base_url = server.base_url();
    options.master_key = server.options().master_key;
    options.session_name = "test";
    options.timeout = milliseconds(5000);
    options.log = log_.get();
    return options;
  }
  JsonBinSessionStore& Make(JsonBinOptions options) {
    store = std::make_unique<JsonBinSessionStore>(*http, std::move(options));
    return *store;
  }

  Result<std::optional<std::string>> Load() {
    std::optional<Result<std::optional<std::string>>> answer;
    store->Load([&](Result<std::optional<std::string>> result) {
      answer.emplace(std::move(result));
    });
    CHECK_FALSE(answer.has_value());  // never from within the call
    REQUIRE(loop.RunUntil([&] { return answer.has_value(); }));
    return std::move(*answer);
  }
  Status Save(std::string document, uint64_t sequence = 1) {
    std::optional<Status> answer;
    store->Save(std::move(document), sequence,
                [&](Status status) { answer = std::move(status); });
    CHECK_FALSE(answer.has_value());
    REQUIRE(loop.RunUntil([&] { return answer.has_value(); }));
    return *answer;
  }
  std::string log_text() const { return ReadFileText(log_path_).value_or(""); }

  // No key of the server's in `text`.
  void CheckNoKey(const std::string& text) const {
    CHECK_THAT(text, !Catch::Contains(server.options().master_key) &&
                         !Catch::Contains(server.options().access_key));
  }

  JsonBinServer server;
  TestLoop loop;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<JsonBinSessionStore> store;

 private:
  TempDir dir_;
  std::string log_path_;
  int log_fd_ = -1;
  std::unique_ptr<common::Logger> log_;
};

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST_CASE(
    "jsonbin: no bin id: nothing to load, the first save creates a "
    "private bin, logs its id once, then updates it",
    "[jsonbin]") {
  Fixture f;
  JsonBinSessionStore& store = f.Make(f.Options());
  CHECK(store.kind() == "jsonbin");

  auto nothing = f.Load();
  REQUIRE(nothing.ok());
  CHECK_FALSE(nothing->has_value());
  CHECK(f.server.requests().empty());  // no request without a bin id

  REQUIRE(f.Save(kDocument).ok());
  REQUIRE(f.server.count(JsonBinRoute::kCreate) == 1);
  const JsonBinRequest create = f.server.requests().back();
  CHECK(create.method == "POST");
  CHECK(create.path == "/v3/b");
  CHECK(create.content_type == "application/json");
  CHECK(create.bin_private == "true");
  CHECK(create.bin_name == "dynoguard-test");
  CHECK(create.master_key == f.server.options().master_key);
  CHECK_FALSE(create.access_key.has_value());
  CHECK(create.body == kDocument);

  const std::string id = store.bin_id();
  REQUIRE(id.size() == 24);
  CHECK(f.server.Record(id) == kDocument);
  const std::string log = f.log_text();
  CHECK_THAT(
      log,
      Catch::Contains("info worker: jsonbin-bin-created id=" + id) &&
          Catch::Contains("set JSONBIN_BIN_ID=" + id + " to keep using it"));

  const std::string second =
      R"({"format":"dynoguard-session","sequence":8,"payload":"x"})";
  REQUIRE(f.Save(second, 8).ok());
  CHECK(f.server.count(JsonBinRoute::kCreate) == 1);
  REQUIRE(f.server.count(JsonBinRoute::kUpdate) == 1);
  const JsonBinRequest update = f.server.requests().back();
  CHECK(update.method == "PUT");
  CHECK(update.path == "/v3/b/" + id);
  CHECK(update.content_type == "application/json");
  CHECK(f.server.Record(id) == second);
  CHECK(Occurrences(f.log_text(), "jsonbin-bin-created") == 1);

  auto loaded = f.Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK(**loaded == second);
  f.CheckNoKey(f.log_text());
}

TEST_CASE("jsonbin: load reads the latest record of the configured bin",
          "[jsonbin]") {
  Fixture f;
  // Spaces and a non-ASCII text: the record comes back as compact JSON with
  // the same content.
  const std::string id = f.server.AddBin(
      R"({ "format" : "dynoguard-session", "sequence": 18446744073709551615,)"
      R"( "text": "olá 👋" })");
  JsonBinOptions options = f.Options();
  options.bin_id = id;
  f.Make(options);
  auto loaded = f.Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK(**loaded ==
        R"({"format":"dynoguard-session","sequence":18446744073709551615,)"
        R"("text":"olá 👋"})");
  const JsonBinRequest read = f.server.requests().back();
  CHECK(read.method == "GET");
  CHECK(read.path == "/v3/b/" + id + "/latest");
  CHECK(read.bin_meta == "false");
  CHECK(read.master_key == f.server.options().master_key);

  SECTION("a server that wraps the record in {record, metadata}") {
    f.server.SetIgnoreBinMeta(true);
    auto wrapped = f.Load();
    REQUIRE(wrapped.ok());
    CHECK_THAT(**wrapped,
               Catch::StartsWith(R"({"format":"dynoguard-session")"));
  }
}

TEST_CASE("jsonbin: with only an access key, X-Access-Key is sent",
          "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.master_key.clear();
  options.access_key = f.server.options().access_key;
  f.Make(options);
  REQUIRE(f.Save(kDocument).ok());
  auto loaded = f.Load();
  REQUIRE(loaded.ok());
  CHECK(**loaded == kDocument);
  for (const JsonBinRequest& request : f.server.requests()) {
    CHECK(request.access_key == f.server.options().access_key);
    CHECK_FALSE(request.master_key.has_value());
  }
  CHECK(f.server.requests().size() == 2);

  SECTION("a wrong access key names JSONBIN_API_KEY") {
    JsonBinOptions wrong = options;
    wrong.access_key = "$2a$10$WrongAccessKeyWrongAccessKeyWrongAccessKey";
    wrong.bin_id = f.store->bin_id();
    f.Make(wrong);
    auto refused = f.Load();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == Status::Code::kPermissionDenied);
    CHECK_THAT(refused.status().message(),
               Catch::Contains("JSONBIN_API_KEY") &&
                   Catch::Contains("Invalid X-Access-Key provided") &&
                   !Catch::Contains(wrong.access_key));
  }
}

TEST_CASE(
    "jsonbin: a wrong master key is PermissionDenied naming the "
    "variable, never the key",
    "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.master_key = "$2a$10$WrongMasterKeyWrongMasterKeyWrongMasterKey";
  f.Make(options);
  Status status = f.Save(kDocument);
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kPermissionDenied);
  CHECK_THAT(status.message(),
             Catch::StartsWith("jsonbin store: ") &&
                 Catch::Contains("JSONBIN_MASTER_KEY") &&
                 Catch::Contains("401") &&
                 Catch::Contains("Invalid X-Master-Key provided") &&
                 !Catch::Contains(options.master_key));
  f.CheckNoKey(status.message());
  CHECK(f.store->bin_id().empty());
}

TEST_CASE(
    "jsonbin: quota exhausted (403) is PermissionDenied with JSONBin's "
    "message",
    "[jsonbin]") {
  Fixture f;
  const std::string id = f.server.AddBin(kDocument);
  JsonBinOptions options = f.Options();
  options.bin_id = id;
  f.Make(options);
  f.server.SetQuotaExhausted(true);
  Status saved = f.Save(kDocument);
  CHECK(saved.code() == Status::Code::kPermissionDenied);
  CHECK_THAT(saved.message(), Catch::Contains("403") &&
                                  Catch::Contains("Requests exhausted") &&
                                  Catch::Contains("quota"));
  auto loaded = f.Load();
  CHECK(loaded.status().code() == Status::Code::kPermissionDenied);
  f.CheckNoKey(saved.message() + loaded.status().message());
}

TEST_CASE(
    "jsonbin: an unknown bin: Load finds nothing and warns, Save "
    "names JSONBIN_BIN_ID",
    "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.bin_id = "65f0000000000000000000aa";  // well-formed, not there
  f.Make(options);
  auto loaded = f.Load();
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->has_value());
  const std::string log = f.log_text();
  CHECK_THAT(log, Catch::Contains("warn worker: jsonbin-bin-not-found") &&
                      Catch::Contains("jsonbin-bin-not-found") &&
                      Catch::Contains("65f0000000000000000000aa") &&
                      Catch::Contains("JSONBIN_BIN_ID"));
  Status saved = f.Save(kDocument);
  CHECK(saved.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(saved.message(), Catch::Contains("404") &&
                                  Catch::Contains("JSONBIN_BIN_ID") &&
                                  Catch::Contains("Bin not found"));
  CHECK(f.server.bin_count() == 0);  // no bin created behind the user's back
  f.CheckNoKey(log + saved.message());
}

TEST_CASE(
    "jsonbin: a malformed bin id is refused (400), one with unsafe "
    "characters before any request",
    "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.bin_id = "not-a-bin";
  f.Make(options);
  auto loaded = f.Load();
  CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(loaded.status().message(),
             Catch::Contains("Invalid Bin Id provided") &&
                 Catch::Contains("JSONBIN_BIN_ID"));
  CHECK(f.server.count(JsonBinRoute::kRead) == 1);

  options.bin_id = "../a?b";
  f.Make(options);
  const size_t before = f.server.requests().size();
  CHECK(f.Load().status().code() == Status::Code::kInvalidArgument);
  Status saved = f.Save(kDocument);
  CHECK(saved.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(saved.message(), Catch::Contains("JSONBIN_BIN_ID"));
  CHECK(f.server.requests().size() == before);
}

TEST_CASE(
    "jsonbin: a document JSONBin refuses (400) is InvalidArgument "
    "with its message",
    "[jsonbin]") {
  Fixture f;
  f.Make(f.Options());
  Status status = f.Save("not json at all");
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(status.message(),
             Catch::Contains("400") && Catch::Contains("Invalid JSON"));
  Status blank = f.Save("{}");
  CHECK(blank.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(blank.message(), Catch::Contains("Bin cannot be blank"));
}

TEST_CASE("jsonbin: rate limited (429) is Unavailable keeping Retry-After",
          "[jsonbin]") {
  Fixture f;
  f.Make(f.Options());
  f.server.FailNext(1, JsonBinAnswer{429, "Too many requests", "7"});
  Status status = f.Save(kDocument);
  CHECK(status.code() == Status::Code::kUnavailable);
  CHECK_THAT(status.message(), Catch::Contains("rate limited") &&
                                   Catch::Contains("429") &&
                                   Catch::Contains("retry after 7 s"));
  // The next one goes through (the store keeps no state from the failure).
  REQUIRE(f.Save(kDocument).ok());
  CHECK(f.server.bin_count() == 1);
}

TEST_CASE("jsonbin: 5xx answers and a server that is gone are Unavailable",
          "[jsonbin]") {
  Fixture f;
  const std::string id = f.server.AddBin(kDocument);
  JsonBinOptions options = f.Options();
  options.bin_id = id;
  f.Make(options);
  f.server.FailNext(1, JsonBinAnswer{500, "Internal Server Error", ""});
  f.server.FailNext(1, JsonBinAnswer{503, "Service Unavailable", ""});
  Status first = f.Save(kDocument);
  CHECK(first.code() == Status::Code::kUnavailable);
  CHECK_THAT(first.message(), Catch::Contains("500"));
  auto second = f.Load();
  CHECK(second.status().code() == Status::Code::kUnavailable);
  CHECK_THAT(second.status().message(), Catch::Contains("503"));

  f.server.Stop();
  Status gone = f.Save(kDocument);
  CHECK(gone.code() == Status::Code::kUnavailable);
  CHECK_THAT(gone.message(), Catch::StartsWith("jsonbin store: "));
  f.CheckNoKey(first.message() + second.status().message() + gone.message());
}

TEST_CASE("jsonbin: the server's record size cap (403) is PermissionDenied",
          "[jsonbin]") {
  Fixture f;
  f.server.SetMaxRecordBytes(100);
  f.Make(f.Options());
  Status status = f.Save(R"({"payload":")" + std::string(200, 'a') + R"("})");
  CHECK(status.code() == Status::Code::kPermissionDenied);
  CHECK_THAT(status.message(),
             Catch::Contains("403") && Catch::Contains("size limit"));
}

TEST_CASE(
    "jsonbin: a document over max_record_bytes is refused before any "
    "request",
    "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.max_record_bytes = 1000;
  f.Make(options);
  const std::string big = R"({"payload":")" + std::string(1001, 'a') + R"("})";
  Status status = f.Save(big);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(status.message(),
             Catch::Contains(std::to_string(big.size()) + " bytes") &&
                 Catch::Contains("JSONBin takes at most 1000"));
  CHECK(f.server.requests().empty());
  // One of exactly the cap is sent.
  std::string fits = R"({"payload":")";
  fits += std::string(1000 - fits.size() - 2, 'a') + R"("})";
  REQUIRE(fits.size() == 1000);
  CHECK(f.Save(fits).ok());
}

TEST_CASE("jsonbin: an answer slower than the timeout is Unavailable",
          "[jsonbin]") {
  Fixture f;
  JsonBinOptions options = f.Options();
  options.timeout = milliseconds(300);
  f.Make(options);
  f.server.SetDelay(milliseconds(10000));  // cut short when the server stops
  Status status = f.Save(kDocument);
  CHECK(status.code() == Status::Code::kUnavailable);
  CHECK_THAT(status.message(), Catch::Contains("timeout"));
  f.server.Stop();
}

TEST_CASE(
    "jsonbin: Stop cancels the request in flight, answers the queued "
    "calls, then done",
    "[jsonbin]") {
  Fixture f;
  f.Make(f.Options());
  f.server.SetDelay(milliseconds(10000));
  std::vector<std::string> events;
  auto name = [](const Status& s) {
    return s.ok()                                   ? std::string("ok")
           : s.code() == Status::Code::kUnavailable ? std::string("unavailable")
                                                    : s.message();
  };
  f.store->Save(kDocument, 1,
                [&](Status s) { events.push_back("save1:" + name(s)); });
  f.store->Load([&](Result<std::optional<std::string>> r) {
    events.push_back("load:" + name(r.ok() ? Status::Ok() : r.status()));
  });
  f.store->Save(kDocument, 2,
                [&](Status s) { events.push_back("save2:" + name(s)); });
  // One request at a time: only the first reached the server.
  REQUIRE(f.loop.RunUntil([&] { return f.server.pending() == 1; }));
  CHECK(f.server.requests().size() == 1);
  bool stopped = false;
  f.store->Stop([&] {
    events.push_back("stopped");
    stopped = true;
  });
  CHECK(events.empty());  // answers come later, from the loop
  REQUIRE(f.loop.RunUntil([&] { return stopped; }));
  CHECK(events == std::vector<std::string>{"save1:unavailable",
                                           "load:unavailable",
                                           "save2:unavailable", "stopped"});
  std::optional<Status> late;
  f.store->Save(kDocument, 3, [&](Status s) { late = s; });
  REQUIRE(f.loop.RunUntil([&] { return late.has_value(); }));
  CHECK(late->code() == Status::Code::kUnavailable);
  f.server.Stop();
  CHECK(f.server.requests().size() == 1);
}

TEST_CASE("jsonbin: calls made at once run one at a time, in order",
          "[jsonbin]") {
  Fixture f;
  f.Make(f.Options());
  std::vector<int> answered;
  for (int i = 1; i <= 3; ++i) {
    f.store->Save(R"({"n":)" + std::to_string(i) + "}",
                  static_cast<uint64_t>(i), [&answered, i](Status s) {
                    CHECK(s.ok());
                    answered.push_back(i);
                  });
  }
  REQUIRE(f.loop.RunUntil([&] { return answered.size() == 3; }));
  CHECK(answered == std::vector<int>{1, 2, 3});
  // One create (no id yet) and then updates of that bin: never two bins.
  CHECK(f.server.count(JsonBinRoute::kCreate) == 1);
  CHECK(f.server.count(JsonBinRoute::kUpdate) == 2);
  CHECK(f.server.bin_count() == 1);
  CHECK(f.server.Record(f.store->bin_id()) == R"({"n":3})");
}

TEST_CASE(
    "jsonbin: a hostile read answer (deep nesting, not JSON) is "
    "refused, never a crash",
    "[jsonbin]") {
  Fixture f;
  const std::string deep = f.server.AddBin(std::string(200000, '['));
  const std::string garbage = f.server.AddBin("<html>oops</html>");
  JsonBinOptions options = f.Options();
  options.bin_id = deep;
  f.Make(options);
  auto first = f.Load();
  CHECK(first.status().code() == Status::Code::kUnavailable);
  CHECK_THAT(first.status().message(), Catch::Contains("nested deeper"));
  options.bin_id = garbage;
  f.Make(options);
  auto second = f.Load();
  CHECK(second.status().code() == Status::Code::kUnavailable);
  CHECK_THAT(second.status().message(), Catch::Contains("not JSON"));
}

TEST_CASE("jsonbin: answers need nothing else to keep the loop running",
          "[jsonbin]") {
  Fixture f;
  int posted = 0;
  JsonBinOptions options = f.Options();
  options.post = [&](std::function<void()> task) {
    ++posted;
    return f.http->Post(std::move(task));
  };
  f.Make(options);
  // A request's answer comes from the client's completion itself: a loop
  // run until it has nothing left to do (no test tick) delivers it.
  std::optional<Status> saved;
  f.store->Save(kDocument, 1, [&](Status s) { saved = s; });
  uv_run(f.loop.get(), UV_RUN_DEFAULT);
  REQUIRE(saved.has_value());
  CHECK(saved->ok());
  CHECK(posted == 0);
  // An answer known at once goes through options.post, never within the
  // call.
  std::optional<Status> refused;
  f.store->Save(std::string(2 * 1024 * 1024, ' '), 2,
                [&](Status s) { refused = s; });
  CHECK_FALSE(refused.has_value());
  CHECK(posted == 1);
  REQUIRE(f.loop.RunUntil([&] { return refused.has_value(); }));
  CHECK(refused->code() == Status::Code::kInvalidArgument);
}

// The pure classification.

JsonBinErrorContext Context(JsonBinCall call) {
  JsonBinErrorContext context;
  context.call = call;
  context.key_variable = "JSONBIN_MASTER_KEY";
  context.bin_id =
      call == JsonBinCall::kCreate ? "" : "65f0a1b2c3d4e5f600000001";
  context.secrets = {"$2a$10$secretsecretsecret"};
  return context;
}

TEST_CASE("jsonbin errors: each documented status maps to its code",
          "[jsonbin]") {
  struct Row {
    JsonBinCall call;
    int status;
    Status::Code code;
    const char* needle;
  };
  const Row rows[] = {
      {JsonBinCall::kRead, 401, Status::Code::kPermissionDenied,
       "JSONBIN_MASTER_KEY"},
      {JsonBinCall::kUpdate, 403, Status::Code::kPermissionDenied, "quota"},
      {JsonBinCall::kRead, 404, Status::Code::kNotFound, "JSONBIN_BIN_ID"},
      {JsonBinCall::kUpdate, 404, Status::Code::kInvalidArgument,
       "JSONBIN_BIN_ID"},
      {JsonBinCall::kCreate, 404, Status::Code::kInvalidArgument,
       "JSONBIN_BASE_URL"},
      {JsonBinCall::kCreate, 400, Status::Code::kInvalidArgument, "400"},
      {JsonBinCall::kUpdate, 413, Status::Code::kInvalidArgument, "too large"},
      {JsonBinCall::kUpdate, 429, Status::Code::kUnavailable, "rate limited"},
      {JsonBinCall::kUpdate, 408, Status::Code::kUnavailable, "408"},
      {JsonBinCall::kRead, 500, Status::Code::kUnavailable, "500"},
      {JsonBinCall::kRead, 502, Status::Code::kUnavailable, "502"},
      {JsonBinCall::kRead, 301, Status::Code::kUnavailable, "301"},
  };
  for (const Row& row : rows) {
    Status status = JsonBinAnswerStatus(Context(row.call), row.status,
                                        R"({"message":"x"})", std::nullopt);
    INFO(row.status << " " << status.message());
    CHECK(status.code() == row.code);
    CHECK_THAT(status.message(), Catch::StartsWith("jsonbin store: ") &&
                                     Catch::Contains(row.needle));
  }
  Status no_key = JsonBinAnswerStatus(
      JsonBinErrorContext{JsonBinCall::kCreate, "", "", {}}, 401, "", {});
  CHECK_THAT(no_key.message(),
             Catch::Contains("JSONBIN_MASTER_KEY or JSONBIN_API_KEY"));
  Status bin_id = JsonBinAnswerStatus(
      Context(JsonBinCall::kRead), 400,
      R"({"message":"Invalid Bin Id provided"})", std::nullopt);
  CHECK_THAT(bin_id.message(), Catch::Contains("check JSONBIN_BIN_ID"));
  Status dated = JsonBinAnswerStatus(Context(JsonBinCall::kUpdate), 429, "",
                                     "Wed, 21 Oct 2026 07:28:00 GMT");
  CHECK_THAT(dated.message(),
             Catch::EndsWith("retry after Wed, 21 Oct 2026 07:28:00 GMT"));
}

TEST_CASE(
    "jsonbin errors: JSONBin's message is one short line with no "
    "secret",
    "[jsonbin]") {
  const std::vector<std::string_view> secrets = {"$2a$10$secretsecretsecret",
                                                 "abc"};
  CHECK(JsonBinMessage(R"({"message":"Invalid X-Master-Key provided"})",
                       secrets) == "Invalid X-Master-Key provided");
  CHECK(JsonBinMessage(R"({"message":"key $2a$10$secretsecretsecret bad"})",
                       secrets) == "key [redacted] bad");
  CHECK(JsonBinMessage("abc", secrets) == "abc");  // short values ignored
  CHECK(JsonBinMessage("line one\r\nline two\t!", {}) ==
        "line one  line two !");
  CHECK(JsonBinMessage("", {}).empty());
  CHECK(JsonBinMessage(R"({"message":42})", {}) == R"({"message":42})");
  // Long texts are cut at 200 bytes, never inside a UTF-8 sequence.
  std::string long_text;
  for (int i = 0; i < 150; ++i) long_text += "é";  // 2 bytes each
  const std::string cut = JsonBinMessage(long_text, {});
  CHECK(cut.size() <= 200 + std::string("…").size());
  CHECK_THAT(cut, Catch::EndsWith("é…"));
  // A hostile body: deep nesting does not recurse.
  const std::string deep(1000000, '[');
  CHECK(JsonBinMessage(deep, {}).size() <= 200 + std::string("…").size());
}

TEST_CASE(
    "jsonbin errors: a transport failure is Unavailable with the "
    "client's message",
    "[jsonbin]") {
  HttpError error{HttpErrorKind::kTimeout,
                  "timeout: no answer from http://127.0.0.1:1/v3/b"};
  Status status = JsonBinTransportStatus(error);
  CHECK(status.code() == Status::Code::kUnavailable);
  CHECK(status.message() ==
        "jsonbin store: timeout: no answer from http://127.0.0.1:1/v3/b");
}

}  // namespace
}  // namespace dynoguard::worker
