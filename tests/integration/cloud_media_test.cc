// GET /api/media/{id} on the real worker (TRANSPORT=cloud) against the local
// Graph API server: the download is streamed through, never stored. A
// chunked download of several MiB arrives byte-identical; a slow client
// paces the upstream transfer (the worker holds at most its 512 KiB buffer,
// as its media-downloaded line tells); a client that goes mid-download
// makes the worker close the upstream connection; an upstream cut
// mid-body cuts the client's answer; too large, not found; nothing is left
// in DATA_DIR/tmp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "tests/support/cloud_worker.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/net.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace dynoguard::testing {
namespace {

using common::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Content(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131) % 251);
  return s;
}

using testing::FilesIn;

// A GET on a raw socket (its receive buffer set small when `rcvbuf` > 0,
// before connecting), so that a test reads the answer at its own pace.
UniqueFd OpenGet(int port, const std::string& path, int rcvbuf = 0) {
  UniqueFd fd =
      testing::ConnectLoopback(port, std::chrono::seconds(20), rcvbuf);
  REQUIRE(testing::SendAll(fd.get(), "GET " + path +
                                         " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Connection: close\r\n\r\n"));
  return fd;
}

// Reads until the peer closes (or an error); `pause` between reads.
std::string ReadToEnd(int fd, std::chrono::microseconds pause = {}) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  return out;
}

std::string HeadOf(const std::string& answer) {
  size_t at = answer.find("\r\n\r\n");
  return at == std::string::npos ? answer : answer.substr(0, at + 4);
}

std::string BodyOf(const std::string& answer) {
  size_t at = answer.find("\r\n\r\n");
  return at == std::string::npos ? "" : answer.substr(at + 4);
}

// A chunked body decoded; `complete` tells whether its last chunk came.
std::string Dechunk(const std::string& body, bool* complete) {
  std::string out;
  size_t at = 0;
  *complete = false;
  for (;;) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) return out;
    size_t size = std::stoul(body.substr(at, eol - at), nullptr, 16);
    if (size == 0) {
      *complete = true;
      return out;
    }
    if (eol + 2 + size > body.size()) {
      out.append(body, eol + 2, std::string::npos);
      return out;
    }
    out.append(body, eol + 2, size);
    at = eol + 2 + size + 2;
  }
}

struct Setup {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker{dir, graph};
  Setup() {
    REQUIRE(
        WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  }
  std::string tmp() const { return dir.path() + "/tmp"; }
};

TEST_CASE(
    "media download: several MiB, chunked upstream, arrive byte-identical "
    "in a chunked answer, nothing in DATA_DIR/tmp",
    "[cloud][integration][media]") {
  Setup s;
  const std::string content = Content(5 << 20);
  const std::string id = s.graph.AddMedia(content, "video/mp4");
  GraphAnswer chunked;
  chunked.chunked = true;
  s.graph.ScriptNext(GraphRoute::kMediaDownload, chunked);
  UniqueFd c = OpenGet(s.worker.port(), "/api/media/" + id);
  std::string answer = ReadToEnd(c.get());
  const std::string head = HeadOf(answer);
  INFO(head);
  REQUIRE(head.starts_with("HTTP/1.1 200"));
  CHECK(head.find("Content-Type: video/mp4") != std::string::npos);
  CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  bool complete = false;
  CHECK(Dechunk(BodyOf(answer), &complete) == content);
  CHECK(complete);
  CHECK(FilesIn(s.tmp()) == 0);
  s.worker.Stop();
}

TEST_CASE(
    "media download: a slow client paces the upstream; the worker holds at "
    "most its 512 KiB buffer",
    "[cloud][integration][media]") {
  Setup s;
  const size_t size = 12 << 20;
  const std::string content = Content(size);
  const std::string id = s.graph.AddMedia(content, "application/pdf");
  const size_t log_at = s.worker.process().LogSize();
  UniqueFd c = OpenGet(s.worker.port(), "/api/media/" + id, 16 * 1024);
  std::string answer = ReadToEnd(c.get(), std::chrono::microseconds(200));
  REQUIRE(HeadOf(answer).starts_with("HTTP/1.1 200"));
  CHECK(HeadOf(answer).find("Content-Length: " + std::to_string(size)) !=
        std::string::npos);
  CHECK(BodyOf(answer) == content);
  auto line = s.worker.process().WaitForLogMatch(
      R"(media-downloaded.* bytes=(\d+).* max_buffered=(\d+).* pauses=(\d+))",
      seconds(5), log_at);
  REQUIRE(line.has_value());
  CHECK(std::stoull((*line)[1]) == size);
  CHECK(std::stoull((*line)[2]) <= 512 * 1024);
  CHECK(std::stoull((*line)[3]) > 0);
  CHECK(FilesIn(s.tmp()) == 0);
  s.worker.Stop();
}

TEST_CASE(
    "media download: a client that goes mid-download closes the upstream "
    "transfer",
    "[cloud][integration][media]") {
  Setup s;
  const std::string content = Content(4 << 20);
  const std::string id = s.graph.AddMedia(content, "image/png");
  GraphAnswer stall;
  stall.stall_after = 1 << 20;  // then held until the worker closes
  s.graph.ScriptNext(GraphRoute::kMediaDownload, stall);
  {
    UniqueFd c = OpenGet(s.worker.port(), "/api/media/" + id);
    std::string got;
    char buf[16384];
    while (got.size() < 256 * 1024) {
      ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      REQUIRE(n > 0);
      got.append(buf, static_cast<size_t>(n));
    }
    REQUIRE(got.starts_with("HTTP/1.1 200"));
  }  // closed
  CHECK(WaitUntil([&] { return s.graph.downloads_closed_by_client() == 1; },
                  seconds(5)));
  CHECK(s.worker.process().WaitForLog("media-download-cut", seconds(5)));
  s.worker.Stop();
}

TEST_CASE("media download: an upstream cut mid-body cuts the client's answer",
          "[cloud][integration][media]") {
  Setup s;
  const std::string content = Content(3 << 20);
  const std::string id = s.graph.AddMedia(content, "image/png");

  SECTION("with a Content-Length: a short body") {
    GraphAnswer drop;
    drop.drop_after = 1 << 20;
    s.graph.ScriptNext(GraphRoute::kMediaDownload, drop);
    UniqueFd c = OpenGet(s.worker.port(), "/api/media/" + id);
    std::string answer = ReadToEnd(c.get());
    REQUIRE(HeadOf(answer).starts_with("HTTP/1.1 200"));
    CHECK(HeadOf(answer).find("Content-Length: " +
                              std::to_string(content.size())) !=
          std::string::npos);
    CHECK(BodyOf(answer).size() < content.size());
    CHECK(content.starts_with(BodyOf(answer)));
  }
  SECTION("chunked: no last chunk") {
    GraphAnswer drop;
    drop.drop_after = 1 << 20;
    drop.chunked = true;
    s.graph.ScriptNext(GraphRoute::kMediaDownload, drop);
    UniqueFd c = OpenGet(s.worker.port(), "/api/media/" + id);
    std::string answer = ReadToEnd(c.get());
    REQUIRE(HeadOf(answer).starts_with("HTTP/1.1 200"));
    bool complete = true;
    std::string body = Dechunk(BodyOf(answer), &complete);
    CHECK_FALSE(complete);
    CHECK(body.size() < content.size());
  }
  CHECK(s.worker.process().WaitForLog("media-download-cut", seconds(5)));
  CHECK(FilesIn(s.tmp()) == 0);
  s.worker.Stop();
}

TEST_CASE(
    "media download: too large and not found are answered before any byte",
    "[cloud][integration][media]") {
  TempDir dir;
  GraphApiServer graph;
  CloudWorker worker(dir, graph, {{"MEDIA_MAX_BYTES", "1048576"}});
  REQUIRE(
      WaitUntil([&] { return worker.State() == "connected"; }, seconds(10)));
  const std::string id = graph.AddMedia(Content(2 << 20), "image/png");
  auto big = worker.client().Get(("/api/media/" + id).c_str());
  REQUIRE(big);
  CHECK(big->status == 502);
  CHECK(big->body.find("\"unavailable\"") != std::string::npos);
  CHECK(big->body.find("larger than") != std::string::npos);
  CHECK(graph.count(GraphRoute::kMediaDownload) == 0);

  // A lying file_size: refused by the download's Content-Length.
  GraphAnswer lie;
  lie.file_size = 10;
  graph.ScriptNext(GraphRoute::kMediaInfo, lie);
  big = worker.client().Get(("/api/media/" + id).c_str());
  REQUIRE(big);
  CHECK(big->status == 502);

  auto unknown = worker.client().Get("/api/media/424242");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(unknown->body.find("\"not_found\"") != std::string::npos);
  graph.SetMediaUrlTtl(milliseconds(-60000));
  const std::string small = graph.AddMedia("tiny", "image/png");
  auto expired = worker.client().Get(("/api/media/" + small).c_str());
  REQUIRE(expired);
  CHECK(expired->status == 404);
  CHECK(FilesIn(dir.path() + "/tmp") == 0);
  worker.Stop();
}

}  // namespace
}  // namespace dynoguard::testing
