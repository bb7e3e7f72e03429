// The real worker binary, alone and under the real supervisor: the HTTP API
// over a real socket, durability across SIGKILL, and the memory guard driven by
// the worker's debug ballast.
#include <arpa/inet.h>
#include <httplib.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/sandbox_contact.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace dynoguard::testing {
namespace {

using common::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::seconds;

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::map<std::string, std::string> BaseEnv(const TempDir& dir, int port) {
  return {{"HOST", "127.0.0.1"},
          {"PORT", std::to_string(port)},
          {"DATA_DIR", dir.path()}};
}

Process StartWorker(const TempDir& dir, std::map<std::string, std::string> env,
                    const std::string& log_name = "worker.log") {
  SpawnOptions options;
  options.env = std::move(env);
  options.log_path = dir.File(log_name);
  auto process = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(process.ok());
  REQUIRE(process->WaitForLog("worker: ready", seconds(20)));
  return std::move(process.value());
}

Process StartSupervised(const TempDir& dir,
                        std::map<std::string, std::string> env) {
  SpawnOptions options;
  options.args = {"start", "--", DYNOGUARD_WORKER_BIN};
  // Passed as a COMMAND, the worker opts in to the protocols it speaks (the
  // defaults are for any bot; `start` alone would set them).
  env.emplace("LISTEN_SOCKET", "pass");
  env.emplace("CLEANUP_SIGNALS", "SIGUSR1,SIGUSR2");
  env.emplace("WORKER_READY", "notify");
  options.env = std::move(env);
  options.log_path = dir.File("supervisor.log");
  auto process = Process::Spawn(DYNOGUARD_SUPERVISOR_BIN, options);
  REQUIRE(process.ok());
  REQUIRE(process->WaitForLog("worker: ready", seconds(20)));
  return std::move(process.value());
}

std::string PostMessage(httplib::Client& client, const std::string& text) {
  auto res = client.Post("/api/messages",
                         R"({"to":"15551234567","text":")" + text + R"("})",
                         "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 202);
  auto doc = Json(res->body);
  return doc["id"].GetString();
}

std::string StatusOf(httplib::Client& client, const std::string& id) {
  auto res = client.Get(("/api/messages/" + id).c_str());
  if (!res || res->status != 200) return "";
  return Json(res->body)["status"].GetString();
}

// The worker tree's RSS now, from /metrics (/health's figures may be up to
// 250 ms old).
uint64_t WorkerRss(httplib::Client& client) {
  auto res = client.Get("/metrics");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const std::string name = "\ndynoguard_memory_rss_bytes ";
  size_t at = res->body.find(name);
  REQUIRE(at != std::string::npos);
  return std::stoull(res->body.substr(at + name.size()));
}

// Grows the ballast so the worker's RSS reaches about `percent` of `limit_mb`.
// A pinned ballast is a leak no cleanup frees.
void BallastTo(httplib::Client& client, double percent, uint64_t limit_mb,
               bool pinned = false) {
  double target_mb = limit_mb * percent / 100.0;
  double current_mb = static_cast<double>(WorkerRss(client)) / (1024 * 1024);
  int grow = static_cast<int>(target_mb - current_mb + 1);
  REQUIRE(grow > 0);
  std::string path = "/debug/ballast?mb=" + std::to_string(grow);
  if (pinned) path += "&pinned=1";
  auto res = client.Post(path.c_str(), "", "text/plain");
  REQUIRE(res);
  REQUIRE(res->status == 200);
}

// POST /api/messages with a small text: the HTTP status, 0 without an answer.
int TrySend(httplib::Client& client) {
  auto res = client.Post("/api/messages", R"({"to":"15551234567","text":"x"})",
                         "application/json");
  return res ? res->status : 0;
}

// Waits until a send is answered `status`.
bool WaitForSendStatus(httplib::Client& client, int status) {
  return WaitUntil([&] { return TrySend(client) == status; }, seconds(10));
}

// A send is refused as SPEC §5 says under memory pressure, and /health keeps
// answering.
void CheckSendRefusedForMemory(httplib::Client& client) {
  auto refused =
      client.Post("/api/messages", R"({"to":"15551234567","text":"x"})",
                  "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->has_header("Retry-After"));
  CHECK(std::string(Json(refused->body)["error"]["code"].GetString()) ==
        "memory_pressure");
  auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE(
    "worker: alone, it binds PORT, serves /health and stops on SIGTERM with 0",
    "[worker]") {
  TempDir dir;
  int port = 0;
  Process worker = StartWorker(dir, BaseEnv(dir, port));
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  auto health = Json(res->body);
  CHECK(std::string(health["status"].GetString()) == "ok");
  CHECK(health["memory"]["raw"]["rss"].GetUint64() > 0);
  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == 0);
  CHECK(worker.LogText().find("worker: stopped") != std::string::npos);
}

TEST_CASE("worker: a bad configuration value exits 2 with one line",
          "[worker]") {
  TempDir dir;
  auto env = BaseEnv(dir, 0);
  env["SEND_DELAY_MS"] = "soon";
  auto run = Run(DYNOGUARD_WORKER_BIN, {}, env, dir.path(), seconds(10));
  REQUIRE(run.ok());
  CHECK(run->exit_code == 2);
  CHECK(run->stderr_text ==
        "worker: config: SEND_DELAY_MS: expected an integer from 0 to 600000, "
        "got 'soon'\n");
}

TEST_CASE("worker: a message is sent, delivered and read in the sandbox",
          "[worker]") {
  TempDir dir;
  int port = 0;
  auto env = BaseEnv(dir, port);
  env["SEND_DELAY_MS"] = "10";
  Process worker = StartWorker(dir, env);
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  std::string id = PostMessage(client, "hello");
  CHECK(WaitUntil([&] { return StatusOf(client, id) == "read"; }, seconds(10)));
  auto outbox = client.Get("/api/sandbox/outbox");
  REQUIRE(outbox);
  auto doc = Json(outbox->body);
  REQUIRE(doc["messages"].Size() == 1);
  CHECK(std::string(doc["messages"][0]["text"].GetString()) == "hello");
  CHECK(std::string(doc["messages"][0]["to"].GetString()) == "15551234567");
}

TEST_CASE("worker: SIGKILL mid-queue loses no accepted message", "[worker]") {
  TempDir dir;
  int port = 0;
  auto env = BaseEnv(dir, port);
  env["SEND_DELAY_MS"] = "100";
  std::vector<std::string> ids;
  {
    Process worker = StartWorker(dir, env, "first.log");
    port = ListenPort(worker);
    httplib::Client client("127.0.0.1", port);
    // The window is durable (inbound.db): the second worker sends these too.
    REQUIRE(OpenSandboxWindow(client, "15551234567"));
    for (int i = 0; i < 20; ++i)
      ids.push_back(PostMessage(client, "m" + std::to_string(i)));
    // Let a few go out, then kill it mid-queue.
    REQUIRE(WaitUntil([&] { return StatusOf(client, ids[2]) != "queued"; },
                      seconds(10)));
    REQUIRE(worker.Signal(SIGKILL).ok());
    CHECK(worker.WaitExit(seconds(10)) == -SIGKILL);
  }
  Process second = StartWorker(dir, env, "second.log");
  port = ListenPort(second);
  httplib::Client client("127.0.0.1", port);
  for (const auto& id : ids) {
    CHECK(WaitUntil(
        [&] {
          auto status = StatusOf(client, id);
          return status == "sent" || status == "delivered" || status == "read";
        },
        seconds(20)));
  }
}

TEST_CASE("worker: a cleanup deletes stale temp files, keeps fresh ones",
          "[worker]") {
  TempDir dir;
  int port = 0;
  Process worker = StartWorker(dir, BaseEnv(dir, port));
  port = ListenPort(worker);
  const std::string stale = dir.File("tmp/stale.part");
  const std::string fresh = dir.File("tmp/fresh.part");
  for (const std::string& path : {stale, fresh}) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("partial media download", f);
    std::fclose(f);
  }
  std::filesystem::last_write_time(
      stale,
      std::filesystem::file_time_type::clock::now() - std::chrono::minutes(20));
  // SIGUSR1: the standard cleanup the supervisor would send.
  size_t offset = worker.LogSize();
  REQUIRE(worker.Signal(SIGUSR1).ok());
  CHECK(worker.WaitForLog("worker: temp-sweep files=1 .*trigger=cleanup",
                          seconds(10), offset));
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(fresh));
}

// A non-loopback IPv4 address of this machine, or "" when it has none.
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* a = list; a != nullptr && found.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP)) continue;
    char text[INET_ADDRSTRLEN] = {};
    auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) {
      found = text;
    }
  }
  ::freeifaddrs(list);
  return found;
}

TEST_CASE(
    "worker: without API_KEY a client from another address is forbidden, "
    "with one it needs the key",
    "[worker]") {
  const std::string address = NonLoopbackAddress();
  if (address.empty()) {
    WARN("no non-loopback IPv4 interface here: nothing to connect from");
    return;
  }
  TempDir dir;
  int port = 0;
  auto env = BaseEnv(dir, port);
  env["HOST"] = "0.0.0.0";
  {
    Process worker = StartWorker(dir, env, "open.log");
    port = ListenPort(worker);
    httplib::Client remote(address, port);
    auto refused = remote.Get("/api/queue");
    REQUIRE(refused);
    CHECK(refused->status == 403);
    CHECK(std::string(Json(refused->body)["error"]["code"].GetString()) ==
          "forbidden");
    auto cleanup = remote.Post("/cleanup");
    REQUIRE(cleanup);
    CHECK(cleanup->status == 403);
    auto health = remote.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);  // public
    httplib::Client local("127.0.0.1", port);
    auto allowed = local.Get("/api/queue");
    REQUIRE(allowed);
    CHECK(allowed->status == 200);
  }
  env["API_KEY"] = "s3cret-key";
  Process worker = StartWorker(dir, env, "keyed.log");
  port = ListenPort(worker);
  httplib::Client remote(address, port);
  auto missing = remote.Get("/api/queue");
  REQUIRE(missing);
  CHECK(missing->status == 401);
  auto keyed = remote.Get("/api/queue", {{"X-Api-Key", "s3cret-key"}});
  REQUIRE(keyed);
  CHECK(keyed->status == 200);
  CHECK(worker.LogText().find("s3cret-key") == std::string::npos);
}

TEST_CASE("worker: malformed HTTP never takes it down", "[worker]") {
  TempDir dir;
  int port = 0;
  Process worker = StartWorker(dir, BaseEnv(dir, port));
  port = ListenPort(worker);
  for (const char* garbage :
       {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost",
        "POST /api/messages HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
    (void)LineRequest(port, garbage, milliseconds(500));
  }
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(worker.running());
}

// --- under the supervisor: the memory guard with the real worker ---

// The budget of the guarded-worker tests. Under AddressSanitizer a fresh
// worker already holds ~140 MB (its executable alone: 51 MB of instrumented
// .data and 45 MB of relocations applied at load, measured with smaps and
// readelf): the thresholds are then placed above it.
#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kLimitMb = 400;
#else
constexpr uint64_t kLimitMb = 200;
#endif

std::map<std::string, std::string> GuardEnv(const TempDir& dir, int port) {
  auto env = BaseEnv(dir, port);
  env["MEMORY_LIMIT_MB"] = std::to_string(kLimitMb);
  env["MEMORY_POLL_MS"] = "100";
  env["DEBUG_ENDPOINTS"] = "true";
  env["WORKER_STOP_TIMEOUT_S"] = "5";
  return env;
}

TEST_CASE(
    "worker+supervisor: ballast to 75% brings a standard cleanup that frees it",
    "[worker][supervisor][rss]") {
  TempDir dir;
  int port = 0;
  Process supervisor = StartSupervised(dir, GuardEnv(dir, port));
  port = ListenPort(supervisor);
  httplib::Client client("127.0.0.1", port);
  size_t offset = supervisor.LogSize();
  BallastTo(client, 77, kLimitMb);
  CHECK(supervisor.WaitForLog("supervisor: cleanup level=standard", seconds(10),
                              offset));
  CHECK(supervisor.WaitForLog(
      "worker: cleanup level=standard freed=", seconds(10), offset));
  CHECK(WaitUntil(
      [&] { return WorkerRss(client) < kLimitMb * 1024 * 1024 * 70 / 100; },
      seconds(10)));
  CHECK(supervisor.LogText().find("supervisor: restart", offset) ==
        std::string::npos);
}

TEST_CASE(
    "worker+supervisor: 90% brings an emergency cleanup, sends are refused "
    "above it",
    "[worker][supervisor][rss]") {
  TempDir dir;
  int port = 0;
  Process supervisor = StartSupervised(dir, GuardEnv(dir, port));
  port = ListenPort(supervisor);
  httplib::Client client("127.0.0.1", port);
  // Sends are accepted once memory is back under (free-form: the contact has
  // written).
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  // A standard cleanup first: the supervisor samples every 100 ms, so it may
  // see the ballast on its way through 70-85% and send a standard cleanup,
  // which would free half of it before the emergency level is reached. With
  // the standard level in its 30 s cooldown, only the emergency one can come.
  size_t offset = supervisor.LogSize();
  BallastTo(client, 77, kLimitMb);
  REQUIRE(supervisor.WaitForLog(
      "worker: cleanup level=standard freed=", seconds(10), offset));
  offset = supervisor.LogSize();
  BallastTo(client, 90, kLimitMb);
  CHECK(supervisor.WaitForLog("supervisor: cleanup level=emergency",
                              seconds(10), offset));
  CHECK(supervisor.WaitForLog("worker: cleanup level=emergency", seconds(10),
                              offset));
  // The emergency cleanup released the ballast: sends are accepted again.
  CHECK(WaitUntil(
      [&] { return WorkerRss(client) < kLimitMb * 1024 * 1024 * 85 / 100; },
      seconds(10)));
  CHECK(WaitForSendStatus(client, 202));
}

TEST_CASE(
    "worker+supervisor: held above the emergency threshold, sends get 503 "
    "until memory falls",
    "[worker][supervisor][rss]") {
  TempDir dir;
  int port = 0;
  Process supervisor = StartSupervised(dir, GuardEnv(dir, port));
  port = ListenPort(supervisor);
  httplib::Client client("127.0.0.1", port);
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  size_t offset = supervisor.LogSize();
  // Pinned: the emergency cleanup cannot free it, as with a real leak.
  BallastTo(client, 90, kLimitMb, /*pinned=*/true);
  CHECK(supervisor.WaitForLog("supervisor: cleanup level=emergency",
                              seconds(10), offset));
  REQUIRE(WaitForSendStatus(client, 503));
  CheckSendRefusedForMemory(client);
  // The leak goes away (before the 15 s emergency grace would restart it):
  // sends are accepted again by the same worker.
  auto released = client.Delete("/debug/ballast");
  REQUIRE(released);
  CHECK(released->status == 200);
  CHECK(WaitForSendStatus(client, 202));
  CHECK(supervisor.LogText().find("supervisor: restart", offset) ==
        std::string::npos);
}

TEST_CASE(
    "worker: above the emergency threshold new sends get 503 memory_pressure",
    "[worker]") {
  // No supervisor here, so nothing cleans up: the worker's own sampling turns
  // pressure on.
  TempDir dir;
  int port = 0;
  auto env = GuardEnv(dir, port);
  Process worker = StartWorker(dir, env);
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  BallastTo(client, 90, kLimitMb);
  REQUIRE(WaitForSendStatus(client, 503));
  CheckSendRefusedForMemory(client);
  // Recovery: an emergency cleanup (as the supervisor would send) frees the
  // ballast.
  REQUIRE(worker.Signal(SIGUSR2).ok());
  CHECK(WaitForSendStatus(client, 202));
}

TEST_CASE(
    "worker+supervisor: above the restart threshold the worker is replaced and "
    "the "
    "port never refuses",
    "[worker][supervisor][rss]") {
  TempDir dir;
  int port = 0;
  Process supervisor = StartSupervised(dir, GuardEnv(dir, port));
  port = ListenPort(supervisor);
  httplib::Client client("127.0.0.1", port);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::thread load([&] {
    while (!stop) {
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(5);
      c.set_read_timeout(10);
      auto res = c.Get("/health");
      if (res && res->status == 200) {
        ++ok;
      } else if (res.error() == httplib::Error::Connection) {
        ++refused;
      } else {
        ++other;
      }
    }
  });
  size_t offset = supervisor.LogSize();
  // Pinned: the emergency cleanup the supervisor sends while the ballast grows
  // through 85% cannot free it, as with a real leak.
  BallastTo(client, 97, kLimitMb, /*pinned=*/true);
  CHECK(supervisor.WaitForLog("supervisor: restart reason=memory", seconds(10),
                              offset));
  CHECK(supervisor.WaitForLog("supervisor: ready pid=", seconds(20), offset));
  int ok_at_ready = ok.load();
  CHECK(WaitUntil([&] { return ok.load() > ok_at_ready + 20; }, seconds(10)));
  stop = true;
  load.join();
  CHECK(refused.load() == 0);
  CHECK(other.load() == 0);
  CHECK(ok.load() > 0);
  CHECK(WorkerRss(client) <
        kLimitMb * 1024 * 1024 * 70 / 100);  // a fresh worker
}

TEST_CASE(
    "worker+supervisor: graceful restarts under keep-alive load fail no "
    "request",
    "[worker][supervisor]") {
  TempDir dir;
  int port = 0;
  Process supervisor = StartSupervised(dir, GuardEnv(dir, port));
  port = ListenPort(supervisor);
  constexpr int kClients = 4, kRestarts = 2;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, retried{0};
  std::mutex failures_mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      // One keep-alive connection per client, reused until the server says
      // `Connection: close`.
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_connection_timeout(5);
      c.set_read_timeout(10);
      bool reused = false;  // the next request goes on an answered connection
      while (!stop) {
        auto res = c.Get("/health");
        if (!res && reused) {
          // A draining worker closes a connection idle for its grace; a
          // client thread the box did not run for that long sends on it as
          // it closes. Browsers, curl and the usual clients send an
          // idempotent request again on a new connection then (RFC 9110
          // 9.2.2); httplib 0.11 does not, so this client does. A request
          // that fails on a new connection is a failure.
          ++retried;
          res = c.Get("/health");
        }
        if (res && res->status == 200) {
          ++ok;
          reused = res->get_header_value("Connection") != "close";
        } else {
          ++failed;
          reused = false;
          std::lock_guard<std::mutex> lock(failures_mu);
          failures.push_back(res ? "status " + std::to_string(res->status)
                                 : httplib::to_string(res.error()));
        }
      }
    });
  }
  for (int restart = 0; restart < kRestarts; ++restart) {
    REQUIRE(WaitUntil([&] { return ok.load() > 200 * (restart + 1); },
                      seconds(20)));
    size_t offset = supervisor.LogSize();
    auto done = Run(DYNOGUARD_SUPERVISOR_BIN, {"restart"},
                    {{"DATA_DIR", dir.path()}}, dir.path(), seconds(20));
    REQUIRE(done.ok());
    CHECK(done->exit_code == 0);
    CHECK(supervisor.WaitForLog("supervisor: ready pid=", seconds(20), offset));
  }
  int ok_after = ok.load();
  CHECK(WaitUntil([&] { return ok.load() > ok_after + 200; }, seconds(20)));
  stop = true;
  for (auto& client : clients) client.join();
  INFO("supervisor log:\n" << supervisor.LogText());
  std::string failed_with;
  for (const std::string& failure : failures) failed_with += failure + "; ";
  INFO("failed requests: " << failed_with);
  CHECK(failed.load() == 0);
  // At most one closed-while-idle connection per client per restart.
  CHECK(retried.load() <= kClients * kRestarts);
  CHECK(supervisor.LogMatches("worker: stopped code=0").size() >= 2);
}

TEST_CASE(
    "worker: speaks the notify protocol: READY, STATUS, WATCHDOG, STOPPING",
    "[worker]") {
  TempDir dir;
  int port = 0;
  UniqueFd notify = NotifySocket(dir.File("notify.sock"));
  auto env = BaseEnv(dir, port);
  env["NOTIFY_SOCKET"] = dir.File("notify.sock");
  env["WATCHDOG_USEC"] = "400000";  // a ping every 200 ms
  Process worker = StartWorker(dir, env);
  port = ListenPort(worker);
  std::vector<std::string> seen;
  auto receive_until = [&](std::string_view wanted) {
    return ReceiveDatagramUntil(notify.get(), wanted, seen);
  };
  CHECK(receive_until("READY=1"));
  CHECK(receive_until("STATUS=rss "));
  CHECK(receive_until("WATCHDOG=1"));
  CHECK(receive_until("WATCHDOG=1"));
  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(receive_until("STOPPING=1"));
  CHECK(worker.WaitExit(seconds(20)) == 0);
  std::string all;
  for (const auto& d : seen) all += d + "\n";
  INFO("datagrams:\n" << all);
  CHECK(all.find("queue 0") != std::string::npos);  // STATUS= has the queue
}

TEST_CASE(
    "worker+supervisor: a stalled event loop stops the watchdog pings and "
    "the worker is replaced",
    "[worker][supervisor]") {
  TempDir dir;
  int port = 0;
  auto env = GuardEnv(dir, port);
  env["WORKER_WATCHDOG_S"] = "1";
  Process supervisor = StartSupervised(dir, env);
  port = ListenPort(supervisor);
  httplib::Client client("127.0.0.1", port);
  size_t offset = supervisor.LogSize();
  auto stalled = client.Post("/debug/stall?ms=8000", "", "text/plain");
  REQUIRE(stalled);
  CHECK(stalled->status == 202);
  // HTTP threads still answer while the loop is stuck: only the watchdog
  // can tell.
  auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(supervisor.WaitForLog("supervisor: watchdog-timeout pid=", seconds(10),
                              offset));
  CHECK(supervisor.WaitForLog("supervisor: ready pid=", seconds(20), offset));
  CHECK(WaitUntil(
      [&] {
        auto res = client.Get("/health");
        return res && res->status == 200;
      },
      seconds(10)));
}

TEST_CASE(
    "worker+supervisor: a configuration the worker refuses stops the "
    "supervisor with 2, no crash loop",
    "[worker][supervisor]") {
  TempDir dir;
  auto env = BaseEnv(dir, 0);
  // Valid to parse, refused by the worker's Cloud transport (a token is one
  // word).
  env["TRANSPORT"] = "cloud";
  env["WHATSAPP_TOKEN"] = "t0ken with a space";
  env["WHATSAPP_PHONE_NUMBER_ID"] = "1234567890";
  // No command: the worker beside the supervisor, which speaks notify.
  auto run =
      Run(DYNOGUARD_SUPERVISOR_BIN, {"start"}, env, dir.path(), seconds(20));
  REQUIRE(run.ok());
  INFO(run->stderr_text);
  CHECK(run->exit_code == 2);
  CHECK(run->stderr_text.find("supervisor: worker-config ") !=
        std::string::npos);
  CHECK(run->stderr_text.find("supervisor: backoff") == std::string::npos);
  CHECK(run->stderr_text.find("t0ken") == std::string::npos);  // no secrets
}

}  // namespace
}  // namespace dynoguard::testing
