// The real worker and its DATA_DIR: private modes whatever the umask, one
// worker per directory, the sandbox's outbox and receipts across a restart,
// and a corrupt queue that the worker reports and exits on.
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>
#include <string>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/sandbox_contact.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "worker/outbound/message_queue.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::map<std::string, std::string> Env(const std::string& data_dir, int port) {
  return {{"HOST", "127.0.0.1"},
          {"PORT", std::to_string(port)},
          {"DATA_DIR", data_dir},
          {"SEND_DELAY_MS", "0"}};
}

Process StartWorker(const std::map<std::string, std::string>& env,
                    const std::string& log_path) {
  SpawnOptions options;
  options.env = env;
  options.log_path = log_path;
  auto worker = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(worker.ok());
  return std::move(*worker);
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t count = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.substr(start, end - start).find(needle) != std::string::npos)
      ++count;
    start = end + 1;
  }
  return count;
}

// The id of a POST /api/messages answer.
std::string IdOf(const std::string& body) {
  std::smatch match;
  REQUIRE(std::regex_search(body, match,
                            std::regex(R"re("id":"(msg_[0-9a-f]+)")re")));
  return match[1];
}

std::string StatusOf(httplib::Client& client, const std::string& id) {
  auto got = client.Get(("/api/messages/" + id).c_str());
  if (!got || got->status != 200) return "";
  std::smatch match;
  if (!std::regex_search(got->body, match,
                         std::regex(R"re("status":"([a-z]+)")re")))
    return "";
  return match[1];
}

TEST_CASE("DATA_DIR is 0700 and every file the worker makes 0600 (umask 022)",
          "[data_dir][permissions]") {
  TempDir dir;
  const std::string data = dir.File("data");  // the worker creates it
  int port = 0;
  const mode_t old = ::umask(022);  // inherited by the worker
  Process worker = StartWorker(Env(data, port), dir.File("worker.log"));
  ::umask(old);
  REQUIRE(worker.WaitForLog("worker: ready", seconds(20)));
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  REQUIRE(OpenSandboxWindow(client, "15551234567"));
  auto posted =
      client.Post("/api/messages", R"({"to":"15551234567","text":"x"})",
                  "application/json");
  REQUIRE(posted);
  REQUIRE(posted->status == 202);
  const std::string id = IdOf(posted->body);
  REQUIRE(
      WaitUntil([&] { return StatusOf(client, id) == "sent"; }, seconds(20)));

  INFO(worker.LogText());
  CHECK(ModeOf(data) == 0700);
  CHECK(ModeOf(data + "/tmp") == 0700);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    INFO(entry.path().string());
    CHECK(ModeOf(entry.path().string()) == 0600);
  }
  CHECK(files >= 6);  // queue.db(-wal,-shm,-created), sandbox.db…, worker.lock
  CHECK(ModeOf(data + "/queue.db-wal") == 0600);
  CHECK(ModeOf(data + "/queue.db-shm") == 0600);
  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
}

TEST_CASE("a second worker on the same DATA_DIR exits 1 with one line",
          "[data_dir][lock]") {
  TempDir dir;
  int port = 0;
  Process first = StartWorker(Env(dir.path(), port), dir.File("first.log"));
  REQUIRE(first.WaitForLog("worker: ready", seconds(20)));
  port = ListenPort(first);

  Process second = StartWorker(Env(dir.path(), 0), dir.File("second.log"));
  std::optional<int> code = second.WaitExit(seconds(20));
  INFO(second.LogText());
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  const std::string log = second.LogText();
  CHECK(CountLines(log, "error") == 1);
  CHECK(CountLines(log, "DATA_DIR " + dir.path() + " is in use") == 1);
  CHECK(log.find(std::to_string(first.pid())) != std::string::npos);

  // The first one is untouched and still serves.
  CHECK(first.running());
  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  REQUIRE(first.Signal(SIGTERM).ok());
  CHECK(first.WaitExit(seconds(20)) == std::optional<int>(0));

  // Once the first has gone, a worker on the directory starts.
  Process third = StartWorker(Env(dir.path(), port), dir.File("third.log"));
  CHECK(third.WaitForLog("worker: ready", seconds(20)));
  REQUIRE(third.Signal(SIGTERM).ok());
  CHECK(third.WaitExit(seconds(20)) == std::optional<int>(0));
}

TEST_CASE("the sandbox outbox and pending receipts survive a restart",
          "[data_dir][sandbox]") {
  TempDir dir;
  int port = 0;
  std::string id;
  {
    Process worker = StartWorker(Env(dir.path(), port), dir.File("w1.log"));
    REQUIRE(worker.WaitForLog("worker: ready", seconds(20)));
    port = ListenPort(worker);
    httplib::Client client("127.0.0.1", port);
    REQUIRE(OpenSandboxWindow(client, "15551234567"));
    auto posted =
        client.Post("/api/messages", R"({"to":"15551234567","text":"once"})",
                    "application/json");
    REQUIRE(posted);
    REQUIRE(posted->status == 202);
    id = IdOf(posted->body);
    REQUIRE(WaitUntil([&] { return StatusOf(client, id) == "sent"; },
                      seconds(20), milliseconds(5)));
    // Stop before the read receipt (1 s after the send) is due.
    REQUIRE(worker.Signal(SIGTERM).ok());
    REQUIRE(worker.WaitExit(seconds(20)) == std::optional<int>(0));
  }
  Process worker = StartWorker(Env(dir.path(), port), dir.File("w2.log"));
  REQUIRE(worker.WaitForLog("worker: ready", seconds(20)));
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  auto outbox = client.Get("/api/sandbox/outbox");
  REQUIRE(outbox);
  REQUIRE(outbox->status == 200);
  INFO(outbox->body);
  // Sent exactly once, visible after the restart.
  std::regex entry(R"("text":"once")");
  CHECK(std::distance(std::sregex_iterator(outbox->body.begin(),
                                           outbox->body.end(), entry),
                      std::sregex_iterator()) == 1);
  // The receipt pending at the stop is emitted by the new worker.
  CHECK(WaitUntil([&] { return StatusOf(client, id) == "read"; }, seconds(20)));
  REQUIRE(worker.Signal(SIGTERM).ok());
  CHECK(worker.WaitExit(seconds(20)) == std::optional<int>(0));
}

TEST_CASE("a corrupt page in queue.db: /health degraded, one error, exit 1",
          "[data_dir][corrupt]") {
  TempDir dir;
  const std::string path = dir.File("queue.db");
  {
    auto queue = worker::MessageQueue::Open(path);
    REQUIRE(queue.ok());
    for (int i = 0; i < 200; ++i) {
      worker::NewMessage message;
      message.to = "1555123" + std::to_string(1000 + i);
      message.text = std::string(200, static_cast<char>('a' + i % 26));
      REQUIRE((*queue)->Enqueue(message, i).ok());
    }
    REQUIRE((*queue)->Close().ok());
  }
  // Garbage over the first page that still opens but cannot be read for
  // the next send: what the worker does at start (found with the queue
  // class itself, since SQLite's layout decides which page that is).
  const std::string pristine = ReadFileText(path).value();
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
    auto queue = worker::MessageQueue::Open(path);
    found = queue.ok() && !(*queue)->NextDue(1000000).ok();
  }
  REQUIRE(found);
  ::unlink((path + "-wal").c_str());
  ::unlink((path + "-shm").c_str());

  int port = 0;
  auto env = Env(dir.path(), port);
  env["DYNOGUARD_QUEUE_GIVE_UP_MS"] = "3000";
  Process worker = StartWorker(env, dir.File("worker.log"));
  REQUIRE(worker.WaitForLog("worker: ready", seconds(20)));
  port = ListenPort(worker);
  httplib::Client client("127.0.0.1", port);
  bool degraded = WaitUntil(
      [&] {
        auto health = client.Get("/health");
        return health && health->status == 200 &&
               health->body.find("\"status\":\"degraded\"") !=
                   std::string::npos &&
               health->body.find("\"databaseConnected\":false") !=
                   std::string::npos;
      },
      seconds(20), milliseconds(20));
  INFO(worker.LogText());
  CHECK(degraded);
  std::optional<int> code = worker.WaitExit(seconds(30));
  REQUIRE(code.has_value());
  INFO(worker.LogText());
  CHECK(*code == 1);
  // One error line: the queue's; the dispatcher's failed reads are warnings.
  CHECK(CountLines(worker.LogText(), " error ") == 1);
  CHECK(CountLines(worker.LogText(), " error worker: queue-unhealthy ") == 1);
  CHECK(CountLines(worker.LogText(), "queue-unhealthy-exit") == 1);
}

}  // namespace
}  // namespace dynoguard::testing
