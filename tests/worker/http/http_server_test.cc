// HttpServer alone, in process, with a few test routes: the socket it binds,
// and what Drain() and Stop() do with connections in each state.
#include "worker/http/http_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/wait.h"

namespace dynoguard::worker {
namespace {

using common::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::seconds;

UniqueFd ConnectTo(int port) {
  return testing::ConnectLoopback(port, seconds(5));
}

void Send(int fd, std::string_view data) {
  REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(data.size()));
}

// What the peer sends until it closes (or 5 s pass).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A keep-alive connection that has been answered once (its answer read).
UniqueFd AnsweredOnce(int port) {
  UniqueFd fd = ConnectTo(port);
  Send(fd.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[1024];
  REQUIRE(::recv(fd.get(), buf, sizeof buf, 0) > 0);
  return fd;
}

// A server on 127.0.0.1 with /ok and /slow (answers when `release` is set).
class Fixture {
 public:
  explicit Fixture(HttpServer::Limits limits = {})
      : log_("test", common::LogFormat::kText, common::LogLevel::kError),
        server_(config_, log_, metrics_, limits) {
    server_.server().Get("/ok",
                         [](const httplib::Request&, httplib::Response& res) {
                           res.set_content("ok", "text/plain");
                         });
    server_.server().Get(
        "/slow", [this](const httplib::Request&, httplib::Response& res) {
          ++slow_entered_;
          while (!release_) std::this_thread::sleep_for(milliseconds(5));
          res.set_content("slow", "text/plain");
        });
    // /later: the answer is taken and kept for the test to send (or "sync"
    // when the server does not hand it over).
    server_.server().Get(
        "/later", [this](const httplib::Request& req, httplib::Response& res) {
          std::unique_ptr<LaterAnswer> later = HttpServer::AnswerLater(req);
          if (!later) {
            res.set_content("sync", "text/plain");
            return;
          }
          res.set_content("placeholder", "text/plain");
          std::lock_guard<std::mutex> lock(later_mu_);
          later_.push_back(std::move(later));
        });
    // /later-now: taken and sent before the handler returns.
    server_.server().Get(
        "/later-now", [](const httplib::Request& req, httplib::Response& res) {
          std::unique_ptr<LaterAnswer> later = HttpServer::AnswerLater(req);
          REQUIRE(later);
          REQUIRE_FALSE(HttpServer::AnswerLater(req));  // once per request
          httplib::Response answer;
          answer.status = 202;
          answer.set_content("now", "text/plain");
          later->Send(answer);
          res.set_content("placeholder", "text/plain");
        });
    // /later-drop: taken and never sent.
    server_.server().Get(
        "/later-drop", [](const httplib::Request& req, httplib::Response& res) {
          std::unique_ptr<LaterAnswer> later = HttpServer::AnswerLater(req);
          REQUIRE(later);
          res.set_content("placeholder", "text/plain");
        });
    REQUIRE(server_.Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] {
      server_.Serve();
      served_ = true;
    });
  }

  // The /later answers taken so far (waits for at least `n`).
  bool WaitForLater(size_t n) {
    return testing::WaitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(later_mu_);
          return later_.size() >= n;
        },
        seconds(5));
  }
  // Sends the i-th /later answer: `status` with `body`.
  void SendLater(size_t i, int status, const std::string& body) {
    httplib::Response res;
    res.status = status;
    res.set_content(body, "application/json");
    std::lock_guard<std::mutex> lock(later_mu_);
    later_.at(i)->Send(res);
  }
  std::atomic<bool> served_{false};  // Serve() has returned
  ~Fixture() {
    release_ = true;
    {
      // Unsent later answers go (a 500 each), so the stop can end.
      std::lock_guard<std::mutex> lock(later_mu_);
      later_.clear();
    }
    server_.Stop();
    if (thread_.joinable()) thread_.join();
  }

  HttpServer& server() { return server_; }
  int port() const { return server_.port(); }
  std::thread& thread() { return thread_; }
  std::atomic<int> slow_entered_{0};  // /slow handlers begun
  std::atomic<bool> release_{false};

 private:
  common::Config config_;
  common::Logger log_;
  Metrics metrics_;
  HttpServer server_;
  std::thread thread_;
  std::mutex later_mu_;
  std::vector<std::unique_ptr<LaterAnswer>> later_;
};

// Whether `fd` has bytes (or EOF) to read within `wait`.
bool Readable(int fd, milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

// One answer's bytes as they arrive on a keep-alive connection (its head and
// a short body come in one piece here).
std::string ReadAnswer(int fd) {
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST_CASE("http server: Bind refuses a port another socket listens on",
          "[http_server]") {
  common::Config config;
  common::Logger log("test", common::LogFormat::kText,
                     common::LogLevel::kError);
  Metrics metrics;
  HttpServer first(config, log, metrics);
  REQUIRE(first.Bind("127.0.0.1", 0).ok());
  HttpServer second(config, log, metrics);
  common::Status status = second.Bind("127.0.0.1", first.port());
  REQUIRE_FALSE(status.ok());
  CHECK(status.message() == "bind 127.0.0.1:" + std::to_string(first.port()) +
                                ": Address already in use");
}

TEST_CASE(
    "http server: Stop() does not wait for idle or half-sent connections, "
    "only for a request being answered",
    "[http_server]") {
  Fixture f;
  UniqueFd idle = ConnectTo(f.port());
  UniqueFd half = ConnectTo(f.port());
  Send(half.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n");
  UniqueFd slow = ConnectTo(f.port());
  Send(slow.get(), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(testing::WaitUntil([&] { return f.slow_entered_.load() > 0; },
                             seconds(5)));
  f.server().Stop();
  // The idle and the half-sent connection are closed without an answer
  // while /slow is still being handled.
  CHECK(ReadAll(idle.get()).empty());
  CHECK(ReadAll(half.get()).empty());
  f.release_ = true;
  std::string answer = ReadAll(slow.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("Connection: close") != std::string::npos);
  f.thread().join();
}

TEST_CASE(
    "http server: Stop() still answers a request that arrived before it "
    "and waits for a request thread",
    "[http_server]") {
  Fixture f;
  // Two keep-alive clients between requests: one will stay idle, the other
  // sends its next request while every request thread is busy.
  UniqueFd idle = AnsweredOnce(f.port());
  UniqueFd waiting = AnsweredOnce(f.port());
  std::vector<UniqueFd> slow;
  for (int i = 0; i < HttpServer::kThreads; ++i) {
    slow.push_back(ConnectTo(f.port()));
    Send(slow.back().get(), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  REQUIRE(testing::WaitUntil(
      [&] { return f.slow_entered_.load() == HttpServer::kThreads; },
      seconds(5)));
  Send(waiting.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  f.server().Stop();
  // The stop has looked at the connections once the idle one is closed.
  CHECK(ReadAll(idle.get()).empty());
  f.release_ = true;
  std::string answer = ReadAll(waiting.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("Connection: close") != std::string::npos);
  for (UniqueFd& fd : slow)
    CHECK(ReadAll(fd.get()).starts_with("HTTP/1.1 200"));
  f.thread().join();
}

TEST_CASE(
    "http server: Drain() closes idle keep-alive connections after its grace "
    "and answers requests in progress with Connection: close",
    "[http_server]") {
  Fixture f;
  UniqueFd kept = AnsweredOnce(f.port());
  UniqueFd half = ConnectTo(f.port());
  Send(half.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n");
  // Make sure the worker has read the half head before the drain.
  REQUIRE(testing::WaitUntil(
      [&] {
        UniqueFd probe = ConnectTo(f.port());
        Send(probe.get(),
             "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        return ReadAll(probe.get()).starts_with("HTTP/1.1 200");
      },
      seconds(5)));
  f.server().Drain();
  CHECK(ReadAll(kept.get()).empty());  // closed, no answer owed
  Send(half.get(), "\r\n");
  std::string answer = ReadAll(half.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("Connection: close") != std::string::npos);
}

TEST_CASE(
    "http server: while draining, a keep-alive client answered a moment ago "
    "still gets its next request answered, with Connection: close",
    "[http_server]") {
  // A client thread can wait a long time for a CPU on a loaded box; 100 ms
  // of grace once lost a graceful restart's request in CI.
  Fixture f;
  UniqueFd kept = AnsweredOnce(f.port());
  f.server().Drain();
  std::this_thread::sleep_for(milliseconds(300));
  Send(kept.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string answer = ReadAll(kept.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("Connection: close") != std::string::npos);
}

TEST_CASE(
    "http server: Drain() closes a connection idle since before it at once, "
    "and reports when no connection is left",
    "[http_server]") {
  Fixture f;
  UniqueFd pooled = ConnectTo(f.port());
  UniqueFd busy = ConnectTo(f.port());
  std::this_thread::sleep_for(milliseconds(1100));  // past the drain's grace
  Send(busy.get(), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(testing::WaitUntil([&] { return f.slow_entered_.load() > 0; },
                             seconds(5)));
  std::atomic<int> drained{0};
  f.server().Drain([&] { ++drained; });
  CHECK(ReadAll(pooled.get()).empty());  // closed, no answer owed
  // A request being answered holds the drain open.
  std::this_thread::sleep_for(milliseconds(50));
  CHECK(drained.load() == 0);
  f.release_ = true;
  std::string answer = ReadAll(busy.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("Connection: close") != std::string::npos);
  CHECK(testing::WaitUntil([&] { return drained.load() == 1; }, seconds(5)));
  // A second Drain() changes nothing and its callback is dropped.
  f.server().Drain([&] { drained += 10; });
  std::this_thread::sleep_for(milliseconds(50));
  CHECK(drained.load() == 1);
}

TEST_CASE(
    "http server: a full house closes a connection that never sent a request, "
    "not a keep-alive client between two requests",
    "[http_server]") {
  HttpServer::Limits limits;
  limits.max_connections_per_client = 4;
  Fixture f(limits);
  // A keep-alive client that was served once, and is idle longest.
  UniqueFd client = AnsweredOnce(f.port());
  // Then idle connections from the same address fill the house and one more
  // needs room: one of them gives way, not the client.
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(ConnectTo(f.port()));
  auto closed_by_server = [](int fd) {
    char byte;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
  };
  CHECK(testing::WaitUntil(
      [&] {
        for (const UniqueFd& fd : idle) {
          if (closed_by_server(fd.get())) return true;
        }
        return false;
      },
      seconds(5)));
  Send(client.get(),
       "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(ReadAll(client.get()).find("200 OK") != std::string::npos);
}

TEST_CASE(
    "http server: request bodies held at once are bounded in total; a body "
    "past the bound gets 503 and the room comes back once one is answered",
    "[http_server]") {
  HttpServer::Limits limits;
  limits.max_buffered_bodies = 400 * 1024;
  Fixture f(limits);
  // POST /webhook takes bodies up to 3 MiB: each of these is allowed alone.
  const std::string head =
      "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 307200\r\n\r\n";
  // A and B hold 250 and 200 KiB of their 300 KiB bodies, still arriving:
  // together past the 400 KiB bound, so the one whose bytes came second is
  // refused at once (which one is the kernel's order of delivery).
  UniqueFd a = ConnectTo(f.port());
  UniqueFd b = ConnectTo(f.port());
  Send(a.get(), head + std::string(250 * 1024, 'a'));
  Send(b.get(), head + std::string(200 * 1024, 'b'));
  auto answered = [](int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  };
  REQUIRE(testing::WaitUntil(
      [&] { return answered(a.get()) || answered(b.get()); }, seconds(5)));
  const bool a_refused = answered(a.get());
  UniqueFd& refused_fd = a_refused ? a : b;
  UniqueFd& kept_fd = a_refused ? b : a;
  const std::string refused = ReadAll(refused_fd.get());
  CHECK(refused.find("503") != std::string::npos);
  CHECK(refused.find("\"unavailable\"") != std::string::npos);
  // The other is not affected: its body completes and it is answered (the
  // fixture has no /webhook route: 404, not a refusal).
  Send(kept_fd.get(), std::string(a_refused ? 100 * 1024 : 50 * 1024, 'k'));
  char buf[512];
  ssize_t n = ::recv(kept_fd.get(), buf, sizeof buf, 0);
  REQUIRE(n > 0);
  const std::string answer(buf, static_cast<size_t>(n));
  CHECK(answer.find("503") == std::string::npos);
  // The room is given back: a new 300 KiB body fits again. The kept body's
  // hold ends just after its answer is written, so a body sent the moment
  // the answer arrives may still meet the full bound (a 503, as a client
  // would see it): a fresh one is tried until it fits.
  const bool fits = testing::WaitUntil(
      [&] {
        UniqueFd c = ConnectTo(f.port());
        Send(c.get(), head + std::string(300 * 1024, 'c'));
        char answer[512];
        ssize_t got = ::recv(c.get(), answer, sizeof answer, 0);
        return got > 0 &&
               std::string(answer, static_cast<size_t>(got)).find("503") ==
                   std::string::npos;
      },
      seconds(5));
  CHECK(fits);
}

TEST_CASE(
    "http server: Open() fails before Serve() without a socket, so the worker "
    "can refuse to start instead of running without its API",
    "[http_server]") {
  common::Config config;
  common::Logger log("test", common::LogFormat::kText,
                     common::LogLevel::kError);
  Metrics metrics;
  HttpServer server(config, log, metrics);
  common::Status opened = server.Open();
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.message().find("no listening socket") != std::string::npos);
  server.Serve();  // returns at once: nothing to serve
  REQUIRE(server.Bind("127.0.0.1", 0).ok());
  CHECK(server.Open().ok());
  CHECK(server.Open().ok());  // idempotent
}

TEST_CASE(
    "http server: a later answer is written when it is sent from another "
    "thread and the connection then serves its next request",
    "[http_server][later]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  Send(c.get(), "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(f.WaitForLater(1));
  // Taken: nothing is written until it is sent (not the placeholder).
  CHECK_FALSE(Readable(c.get(), milliseconds(200)));
  std::thread sender([&] { f.SendLater(0, 202, R"({"id":"m1"})"); });
  sender.join();
  const std::string answer = ReadAnswer(c.get());
  CHECK(answer.starts_with("HTTP/1.1 202 Accepted\r\n"));
  CHECK(answer.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(answer.find("Content-Length: 11\r\n") != std::string::npos);
  CHECK(answer.find("Keep-Alive: timeout=") != std::string::npos);
  CHECK(answer.ends_with("\r\n\r\n{\"id\":\"m1\"}"));
  CHECK(answer.find("placeholder") == std::string::npos);
  // The same connection goes on.
  Send(c.get(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string next = ReadAll(c.get());
  CHECK(next.starts_with("HTTP/1.1 200 OK"));
  CHECK(next.ends_with("ok"));
}

TEST_CASE(
    "http server: a later answer sent before its handler returns is written "
    "too, and a dropped one is a 500",
    "[http_server][later]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  Send(c.get(), "GET /later-now HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string now = ReadAnswer(c.get());
  CHECK(now.starts_with("HTTP/1.1 202 Accepted\r\n"));
  CHECK(now.ends_with("\r\n\r\nnow"));
  Send(c.get(), "GET /later-drop HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string dropped = ReadAnswer(c.get());
  CHECK(dropped.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  CHECK(dropped.find("\"internal\"") != std::string::npos);
  Send(c.get(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(ReadAll(c.get()).ends_with("ok"));
}

TEST_CASE(
    "http server: requests pipelined behind one that could be answered later "
    "are answered in order",
    "[http_server][later]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  // Both in one segment: the first is answered in place (its answer cannot
  // wait while the next request is already read), then the second.
  Send(c.get(),
       "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
       "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string both = ReadAll(c.get());
  const size_t first = both.find("\r\n\r\nsync");
  const size_t second = both.find("\r\n\r\nok");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
}

TEST_CASE(
    "http server: Stop() waits for a later answer, which then says "
    "Connection: close",
    "[http_server][later]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  Send(c.get(), "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(f.WaitForLater(1));
  f.server().Stop();
  // Serve() does not return while the answer is owed.
  std::this_thread::sleep_for(milliseconds(200));
  CHECK_FALSE(f.served_.load());
  f.SendLater(0, 202, R"({"id":"m2"})");
  const std::string answer = ReadAll(c.get());  // then the server closes it
  CHECK(answer.starts_with("HTTP/1.1 202 Accepted\r\n"));
  CHECK(answer.find("Connection: close\r\n") != std::string::npos);
  CHECK(answer.ends_with("{\"id\":\"m2\"}"));
  CHECK(testing::WaitUntil([&] { return f.served_.load(); }, seconds(5)));
}

TEST_CASE(
    "http server: a later answer too large for the client's socket drops that "
    "client instead of waiting for it",
    "[http_server][later]") {
  // A client that does not read would hold a blocking writer this long.
  HttpServer::Limits limits;
  limits.write_timeout = seconds(60);
  Fixture f(limits);
  UniqueFd c = ConnectTo(f.port());
  Send(c.get(), "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(f.WaitForLater(1));
  // 32 MiB do not fit in the sockets' buffers while the client reads
  // nothing: Send() returns all the same (it never waits for the client),
  // and the connection is closed after what the socket took.
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    f.SendLater(0, 200, std::string(32 * 1024 * 1024, 'x'));
    sent = true;
  });
  const bool returned =
      testing::WaitUntil([&] { return sent.load(); }, seconds(20));
  CHECK(returned);
  const std::string got = ReadAll(c.get());
  sender.join();
  CHECK(got.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(got.size() < 32u * 1024 * 1024);
  // The server goes on serving others.
  UniqueFd other = ConnectTo(f.port());
  Send(other.get(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(ReadAll(other.get()).ends_with("ok"));
}

TEST_CASE("http server: AnswerLater outside a request thread is null",
          "[http_server][later]") {
  httplib::Request req;
  CHECK(HttpServer::AnswerLater(req) == nullptr);
}

}  // namespace
}  // namespace dynoguard::worker
