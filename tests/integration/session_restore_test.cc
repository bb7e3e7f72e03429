// Sessions end to end (issue 8) on the real worker: the dyno restart for
// each remote store — messages queued while the provider is down, SIGTERM,
// DATA_DIR wiped, a new worker — restores every message and sends it once,
// keeps rejecting a redelivered webhook and still delivers the forwarding
// outbox; store outages during autosave and the final backup; snapshots
// refused at start; two SESSION_NAMEs on one database; the size cap.
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cloud_worker.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/json_fields.h"
#include "tests/support/jsonbin_server.h"
#include "tests/support/mongo_wire_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"
#include "tests/support/webhook_receiver.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Env = std::map<std::string, std::string>;

constexpr char kKey[] = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M=";
constexpr char kOtherKey[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kForwardSecret[] = "session-test-secret";

Env Merged(Env a, const Env& b) {
  for (const auto& [k, v] : b) a[k] = v;
  return a;
}

// A sandbox worker whose sends wait (SEND_DELAY_MS at its maximum: the
// first template goes at once, the rest stay queued).
class SandboxWorker {
 public:
  SandboxWorker(const TempDir& dir, const Env& extra,
                const std::string& log_name = "worker.log") {
    SpawnOptions options;
    options.env = Merged({{"HOST", "127.0.0.1"},
                          {"PORT", "0"},
                          {"DATA_DIR", dir.path()},
                          {"SEND_DELAY_MS", "600000"},
                          {"SESSION_AUTOSAVE_S", "1"}},
                         extra);
    options.log_path = dir.File(log_name);
    auto process = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
    REQUIRE(process.ok());
    process_.emplace(std::move(process.value()));
    REQUIRE(process_->WaitForLog("worker: ready", seconds(30)));
    client_ =
        std::make_unique<httplib::Client>("127.0.0.1", ListenPort(*process_));
    client_->set_read_timeout(seconds(10));
  }
  Process& process() { return *process_; }
  httplib::Client& client() { return *client_; }
  std::string Template(const std::string& to) {
    auto r = client_->Post(
        "/api/messages",
        R"({"to":")" + to +
            R"(","template":{"name":"hello_world","language":{"code":"en_US"}}})",
        "application/json");
    if (!r || r->status != 202) return "";
    return StringAt(Json(r->body), "id");
  }
  rapidjson::Document Session() {
    auto r = client_->Get("/session-status");
    return Json(r ? r->body : "{}");
  }
  std::string StoreResult() {
    auto doc = Session();
    if (!doc.IsObject() || !doc.HasMember("lastBackup") ||
        !doc["lastBackup"].IsObject())
      return "";
    return StringAt(doc["lastBackup"], "result");
  }
  void Stop() {
    REQUIRE(process_->Signal(SIGTERM).ok());
    CHECK(process_->WaitExit(seconds(25)) == std::optional<int>(0));
  }

 private:
  std::optional<Process> process_;
  std::unique_ptr<httplib::Client> client_;
};

int64_t QueueDepth(httplib::Client& client) {
  auto r = client.Get("/api/queue");
  if (!r || r->status != 200) return -1;
  auto doc = Json(r->body);
  return doc.IsObject() && doc.HasMember("depth") && doc["depth"].IsInt64()
             ? doc["depth"].GetInt64()
             : -1;
}

// The forwarded message events' ids, in arrival order.
std::vector<std::string> ForwardedMessageIds(const WebhookReceiver& bot) {
  std::vector<std::string> ids;
  for (const ReceivedPost& post : bot.delivered()) {
    auto doc = Json(post.body);
    if (StringAt(doc, "type") == "message")
      ids.push_back(StringAt(doc["message"], "id"));
  }
  return ids;
}

// The dyno restart with `store` (its SESSION_STORAGE_TYPE and variables).
void DynoRestart(const Env& store, const std::string& kind) {
  GraphApiServer graph;
  WebhookReceiver bot;
  // The bot is down while the first instance runs: its events wait in the
  // outbox.
  bot.SetDefault(ReceiverAnswer::Status(503));
  const Env env = Merged(store, {{"WEBHOOK_URL", bot.url()},
                                 {"WEBHOOK_SECRET", kForwardSecret},
                                 {"SESSION_ENCRYPTION_KEY", kKey},
                                 {"SESSION_AUTOSAVE_S", "1"}});
  const std::string inbound =
      MessagesWebhook({[] {
                        MessageHeader h;
                        h.from = "15557770001";
                        h.id = "wamid.dyno-in-1";
                        h.timestamp_s = NowS();
                        return TextMessage(h, "are you open?");
                      }()},
                      {Contact("15557770001", "Dyno User")});
  std::vector<std::string> ids;
  std::vector<std::string> texts;
  {
    TempDir first_disk;
    CloudWorker first(first_disk, graph, env, "first.log");
    REQUIRE(first.Webhook(inbound) == 200);
    REQUIRE(first.WaitWindowOpen("15557770001"));
    graph.Stop();  // the provider is down: nothing can be sent
    REQUIRE(WaitUntil([&] { return first.State() == "reconnecting"; },
                      seconds(20)));
    for (int i = 0; i < 9; ++i) {
      texts.push_back("dyno " + kind + " " + std::to_string(i));
      std::string id = first.Send(R"({"to":"15557770001","text":")" +
                                  texts.back() + R"("})");
      REQUIRE_FALSE(id.empty());
      ids.push_back(id);
    }
    first.Stop();  // SIGTERM: the final backup
    CHECK(first.process().LogText().find("session-final-backup") !=
          std::string::npos);
  }  // the dyno's disk is gone

  REQUIRE(graph.Start().ok());
  bot.SetDefault(ReceiverAnswer::Status(200));
  TempDir second_disk;
  CloudWorker second(second_disk, graph, env, "second.log");
  const std::string log = second.process().LogText();
  INFO(log);
  CHECK(log.find("session-restored from=" + kind) != std::string::npos);
  CHECK(StringAt(Json(second.client().Get("/session-status")->body),
                 "restoredFrom") == kind);
  REQUIRE(
      WaitUntil([&] { return QueueDepth(second.client()) == 0; }, seconds(60)));
  // Every message once, with its original id.
  std::map<std::string, int> sent;
  for (const auto& r : graph.requests(GraphRoute::kMessages)) {
    if (r.status != 200) continue;
    auto doc = Json(r.body);
    if (doc.HasMember("text")) ++sent[StringAt(doc["text"], "body")];
  }
  for (const std::string& text : texts) {
    INFO(text);
    CHECK(sent[text] == 1);
  }
  for (const std::string& id : ids) CHECK(second.StatusOf(id) == "sent");
  // The outbox restored: the inbound message reaches the bot once…
  REQUIRE(WaitUntil([&] { return ForwardedMessageIds(bot).size() >= 1; },
                    seconds(20)));
  // …and Meta's redelivery of it is still recognised.
  REQUIRE(second.Webhook(inbound) == 200);
  std::this_thread::sleep_for(milliseconds(1500));  // let a wrong one arrive
  CHECK(ForwardedMessageIds(bot) ==
        std::vector<std::string>{"wamid.dyno-in-1"});
  second.Stop();
}

TEST_CASE(
    "dyno restart with JSONBin: restored, sent once, dedup and outbox "
    "kept",
    "[session][integration][jsonbin]") {
  JsonBinServer jsonbin;
  const std::string bin = jsonbin.AddBin("{}");
  DynoRestart({{"SESSION_STORAGE_TYPE", "jsonbin"},
               {"JSONBIN_BASE_URL", jsonbin.base_url()},
               {"JSONBIN_MASTER_KEY", jsonbin.options().master_key},
               {"JSONBIN_BIN_ID", bin}},
              "jsonbin");
  // Encrypted: no text of a message in the stored record.
  auto record = jsonbin.Record(bin);
  REQUIRE(record.has_value());
  CHECK(record->find("dyno jsonbin") == std::string::npos);
  CHECK(record->find("15557770001") == std::string::npos);
}

TEST_CASE(
    "dyno restart with PostgreSQL: restored, sent once, dedup and "
    "outbox kept",
    "[session][integration][postgres]") {
  DynoRestart({{"SESSION_STORAGE_TYPE", "postgres"},
               {"DATABASE_URL", SharedPostgresServer().url()},
               {"SESSION_NAME", "dyno-pg"}},
              "postgres");
}

TEST_CASE(
    "dyno restart with MongoDB: restored, sent once, dedup and outbox "
    "kept",
    "[session][integration][mongodb]") {
  MongoWireServer mongo;
  DynoRestart({{"SESSION_STORAGE_TYPE", "mongodb"},
               {"MONGODB_URI", mongo.uri("dynoguard")}},
              "mongodb");
}

TEST_CASE(
    "a store outage during autosave: sending goes on, the store "
    "catches up when it is back",
    "[session][integration][postgres]") {
  PostgresServer& pg = SharedPostgresServer();
  TempDir dir;
  SandboxWorker worker(dir, {{"SESSION_STORAGE_TYPE", "postgres"},
                             {"DATABASE_URL", pg.url()},
                             {"SESSION_NAME", "outage"}});
  REQUIRE_FALSE(worker.Template("15551110001").empty());
  REQUIRE(WaitUntil([&] { return worker.StoreResult() == "ok"; }, seconds(20)));
  REQUIRE(pg.Stop().ok());
  REQUIRE_FALSE(worker.Template("15551110002").empty());
  REQUIRE(WaitUntil(
      [&] {
        auto r = worker.client().Get("/health");
        return r &&
               r->body.find("\"databaseConnected\":false") != std::string::npos;
      },
      seconds(30)));
  // The queue still takes messages; the file is current.
  REQUIRE_FALSE(worker.Template("15551110003").empty());
  auto health = Json(worker.client().Get("/health")->body);
  CHECK(StringAt(health, "status") == "ok");
  REQUIRE(pg.Restart().ok());
  REQUIRE(WaitUntil([&] { return worker.StoreResult() == "ok"; }, seconds(60)));
  CHECK(worker.process().LogText().find("session-store-recovered") !=
        std::string::npos);
  worker.Stop();
}

TEST_CASE(
    "the final backup with the store down: exit 0 in time, the file "
    "has every message",
    "[session][integration][jsonbin]") {
  JsonBinServer jsonbin;
  const std::string bin = jsonbin.AddBin("{}");
  const Env env = {{"SESSION_STORAGE_TYPE", "jsonbin"},
                   {"JSONBIN_BASE_URL", jsonbin.base_url()},
                   {"JSONBIN_MASTER_KEY", jsonbin.options().master_key},
                   {"JSONBIN_BIN_ID", bin},
                   {"SESSION_AUTOSAVE_S", "3600"}};
  TempDir dir;
  std::vector<std::string> ids;
  {
    SandboxWorker worker(dir, env);
    for (int i = 0; i < 5; ++i) {
      ids.push_back(worker.Template("1555222000" + std::to_string(i)));
      REQUIRE_FALSE(ids.back().empty());
    }
    JsonBinAnswer down;
    down.status = 503;
    jsonbin.FailNext(100, down);
    worker.Stop();
    const std::string log = worker.process().LogText();
    INFO(log);
    CHECK(log.find("session-final-backup") != std::string::npos);
    CHECK(log.find("session-backup-failed store=jsonbin") != std::string::npos);
  }
  // A new instance with the store still down and only the file: it starts
  // from the file and says so; nothing is duplicated (the queue kept them).
  std::filesystem::remove(dir.File("session.local"));
  std::filesystem::remove(dir.File("queue.db"));
  std::filesystem::remove(dir.File("queue.db-wal"));
  std::filesystem::remove(dir.File("queue.db-shm"));
  SandboxWorker again(dir, env, "again.log");
  const std::string log = again.process().LogText();
  INFO(log);
  CHECK(log.find("session-restored from=file") != std::string::npos);
  CHECK(log.find("jsonbin unreachable") != std::string::npos);
  for (const std::string& id : ids) {
    auto r = again.client().Get(("/api/messages/" + id).c_str());
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  again.Stop();
}

TEST_CASE("snapshots refused at start: garbage, another version, a wrong key",
          "[session][integration][jsonbin]") {
  JsonBinServer jsonbin;
  const Env base = {{"SESSION_STORAGE_TYPE", "jsonbin"},
                    {"JSONBIN_BASE_URL", jsonbin.base_url()},
                    {"JSONBIN_MASTER_KEY", jsonbin.options().master_key}};
  // A real snapshot made with one key…
  const std::string bin = jsonbin.AddBin("{}");
  {
    TempDir dir;
    SandboxWorker worker(dir, Merged(base, {{"JSONBIN_BIN_ID", bin},
                                            {"SESSION_ENCRYPTION_KEY", kKey}}));
    REQUIRE_FALSE(worker.Template("15553330001").empty());
    REQUIRE_FALSE(worker.Template("15553330002").empty());
    worker.Stop();
  }
  auto real = jsonbin.Record(bin);
  REQUIRE(real.has_value());
  std::string other_version = *real;
  auto at = other_version.find("\"version\":1");
  REQUIRE(at != std::string::npos);
  other_version.replace(at, 11, "\"version\":9");
  // Half of the payload cut off (a torn write, a truncated copy).
  std::string truncated = *real;
  const size_t payload = truncated.find("\"payload\":\"") + 11;
  const size_t payload_end = truncated.find('"', payload);
  REQUIRE(payload_end != std::string::npos);
  truncated.erase(payload + (payload_end - payload) / 2,
                  (payload_end - payload) / 2);
  struct Case {
    std::string name;
    std::string record;
    std::string key;
  };
  const Case cases[] = {
      {"garbage", R"({"hello":"world"})", kKey},
      {"truncated", truncated, kKey},
      {"another version", other_version, kKey},
      {"a wrong key", *real, kOtherKey},
      {"no key for an encrypted snapshot", *real, ""},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const std::string id = jsonbin.AddBin(c.record);
      Env env = Merged(base, {{"JSONBIN_BIN_ID", id}});
      if (!c.key.empty()) env["SESSION_ENCRYPTION_KEY"] = c.key;
      TempDir dir;
      SandboxWorker worker(dir, env);
      const std::string log = worker.process().LogText();
      INFO(log);
      CHECK(log.find("session-snapshot-invalid store=jsonbin") !=
            std::string::npos);
      CHECK(log.find("session-start from=fresh") != std::string::npos);
      CHECK(QueueDepth(worker.client()) == 0);
      worker.Stop();
    }
  }
}

TEST_CASE(
    "an oversized local snapshot is refused with one line, the worker "
    "starts fresh",
    "[session][integration]") {
  TempDir dir;
  {
    std::ofstream big(dir.File("session.snapshot"), std::ios::binary);
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 65; ++i) big << chunk;  // past the 64 MiB cap
  }
  SandboxWorker worker(dir, {});
  const std::string log = worker.process().LogText();
  INFO(log);
  CHECK(log.find("session-start from=fresh") != std::string::npos);
  CHECK(log.find("session.snapshot") != std::string::npos);
  CHECK(QueueDepth(worker.client()) == 0);
  worker.Stop();
}

TEST_CASE("two SESSION_NAMEs on one database keep their own sessions",
          "[session][integration][postgres]") {
  PostgresServer& pg = SharedPostgresServer();
  std::map<std::string, std::string> first_ids;
  for (const std::string name : {"shop", "support"}) {
    TempDir dir;
    SandboxWorker worker(dir, {{"SESSION_STORAGE_TYPE", "postgres"},
                               {"DATABASE_URL", pg.url()},
                               {"SESSION_NAME", name}});
    REQUIRE_FALSE(worker.Template("15554440000").empty());  // sent at once
    first_ids[name] = worker.Template("15554440001");
    REQUIRE_FALSE(first_ids[name].empty());
    worker.Stop();
  }
  for (const std::string name : {"shop", "support"}) {
    TempDir dir;  // a new dyno
    SandboxWorker worker(dir, {{"SESSION_STORAGE_TYPE", "postgres"},
                               {"DATABASE_URL", pg.url()},
                               {"SESSION_NAME", name}});
    INFO(worker.process().LogText());
    auto mine =
        worker.client().Get(("/api/messages/" + first_ids[name]).c_str());
    REQUIRE(mine);
    CHECK(mine->status == 200);
    const std::string other = name == "shop" ? "support" : "shop";
    auto theirs =
        worker.client().Get(("/api/messages/" + first_ids[other]).c_str());
    REQUIRE(theirs);
    CHECK(theirs->status == 404);
    worker.Stop();
  }
}

TEST_CASE(
    "pending messages over SESSION_MAX_BYTES: no snapshot is made (none "
    "dropped), the queue keeps them all",
    "[session][integration][jsonbin]") {
  JsonBinServer jsonbin;
  const std::string bin = jsonbin.AddBin("{}");
  TempDir dir;
  std::vector<std::string> ids;
  auto seq = [](const std::string& doc) {
    auto d = Json(doc);
    return d.IsObject() && d.HasMember("sequence") && d["sequence"].IsUint64()
               ? d["sequence"].GetUint64()
               : 0;
  };
  const Env env = {{"SESSION_STORAGE_TYPE", "jsonbin"},
                   {"JSONBIN_BASE_URL", jsonbin.base_url()},
                   {"JSONBIN_MASTER_KEY", jsonbin.options().master_key},
                   {"JSONBIN_BIN_ID", bin},
                   {"SESSION_MAX_BYTES", "1k"}};
  {
    SandboxWorker worker(dir, env);
    // The start's snapshot (nothing pending) fits and is written.
    REQUIRE(
        WaitUntil([&] { return worker.StoreResult() == "ok"; }, seconds(20)));
    for (int i = 0; i < 30; ++i) {
      ids.push_back(worker.Template("155566600" + std::to_string(10 + i)));
      REQUIRE_FALSE(ids.back().empty());
    }
    REQUIRE(WaitUntil(
        [&] {
          auto doc = worker.Session();
          return doc.IsObject() && doc.HasMember("sessionStore") &&
                 doc["sessionStore"]["overCap"].IsBool() &&
                 doc["sessionStore"]["overCap"].GetBool();
        },
        seconds(20)));
    CHECK(worker.StoreResult().find("skipped") != std::string::npos);
    worker.Stop();
    const std::string log = worker.process().LogText();
    INFO(log);
    // Once per spell, the final backup's attempt included.
    const size_t first = log.find("session-over-cap");
    REQUIRE(first != std::string::npos);
    CHECK(log.find("session-over-cap", first + 1) == std::string::npos);
  }
  // The store and the file both kept the last snapshot that fitted.
  auto record = jsonbin.Record(bin);
  REQUIRE(record.has_value());
  auto file = ReadFileText(dir.File("session.snapshot"));
  REQUIRE(file.has_value());
  CHECK(seq(*record) == seq(*file));
  CHECK(record->size() < 1024);
  CHECK(file->size() < 1024);
  // The worker restarted on its DATA_DIR has every pending message.
  SandboxWorker again(dir, env, "again.log");
  INFO(again.process().LogText());
  // ids[0] went at once, the next one goes as this worker starts; every
  // other one is still queued.
  for (size_t i = 1; i < ids.size(); ++i) {
    auto r = again.client().Get(("/api/messages/" + ids[i]).c_str());
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(QueueDepth(again.client()) >= static_cast<int64_t>(ids.size() - 2));
  again.Stop();
}

// VmHWM and VmRSS of `pid`, kB (0 when unreadable).
std::pair<int64_t, int64_t> PeakAndRssKb(pid_t pid) {
  auto text = ReadFileText("/proc/" + std::to_string(pid) + "/status");
  auto field = [&](const std::string& name) -> int64_t {
    if (!text) return 0;
    size_t at = text->find(name + ":");
    return at == std::string::npos
               ? 0
               : std::strtoll(text->c_str() + at + name.size() + 1, nullptr,
                              10);
  };
  return {field("VmHWM"), field("VmRSS")};
}

TEST_CASE(
    "a backlog far over SESSION_MAX_BYTES is not read into memory at each "
    "autosave",
    "[session][integration][rss]") {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine: peaks measure it.
  WARN("not measured under AddressSanitizer");
  return;
#endif
  TempDir dir;
  SandboxWorker worker(dir, {{"SESSION_MAX_BYTES", "64k"}});
  const int64_t ready_rss_kb = PeakAndRssKb(worker.process().pid()).second;
  // Over the cap from about the 1,500th message on.
  httplib::Client client("127.0.0.1", ListenPort(worker.process()));
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  for (int i = 0; i < 20000; ++i) {
    auto r = client.Post(
        "/api/messages",
        R"({"to":"1555)" + std::to_string(1000000 + i) +
            R"(","template":{"name":"hello_world","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":")" +
            std::to_string(std::hash<int>()(i) * 2654435761u) + R"("}]}]}})",
        "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 202);
  }
  REQUIRE(worker.process().WaitForLog("session-over-cap", seconds(30)));
  // Two more autosaves while over the cap.
  std::this_thread::sleep_for(seconds(3));
  const auto [peak_kb, rss_kb] = PeakAndRssKb(worker.process().pid());
  INFO("rss at ready " << ready_rss_kb << " kB, peak " << peak_kb << " kB, now "
                       << rss_kb << " kB");
  // Reading the 20,000 messages into a snapshot took 20 MB more at each
  // autosave; the HTTP requests and SQLite's caches take a few MB.
  CHECK(peak_kb - ready_rss_kb < 16 * 1024);
  worker.Stop();
}

}  // namespace
}  // namespace dynoguard::testing
