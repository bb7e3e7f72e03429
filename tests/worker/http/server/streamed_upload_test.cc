// The HttpServer's streamed bodies (POST /api/media) on a real socket: the
// body goes to DATA_DIR/tmp as it arrives (never whole in memory), too large
// → 413 and a client that stops → 408 with the partial file removed, the
// caller authorized before any byte is stored, and the file path a client
// cannot forge.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "worker/http/http_server.h"
#include "worker/http/server/streamed_body.h"

namespace dynoguard::worker {
namespace {

using common::UniqueFd;
using std::chrono::milliseconds;
using std::chrono::seconds;

using testing::SendAll;

UniqueFd ConnectTo(int port) {
  return testing::ConnectLoopback(port, seconds(10));
}

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

using testing::FilesIn;

// The byte at `i` of the test pattern.
char PatternByte(uint64_t i) {
  return static_cast<char>((i * 2654435761u) >> 13);
}

uint64_t Fnv(uint64_t h, std::string_view data) {
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211u;
  }
  return h;
}
constexpr uint64_t kFnvStart = 14695981039346656037u;

// kB from a "Vm…:" line of /proc/self/status.
long StatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0)
      return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

// A server whose POST /api/media answers what the handler saw: the body
// file's size, Content-Type, FNV hash and whether the path is in tmp.
class Fixture {
 public:
  explicit Fixture(HttpServer::Limits limits = {}, std::string api_key = "",
                   uint64_t media_max = 16 << 20)
      : log_("test", common::LogFormat::kText, common::LogLevel::kError) {
    config_.data_dir = dir_.path();
    config_.media_max_bytes = media_max;
    config_.api_key = common::Redacted(std::move(api_key));
    server_.emplace(config_, log_, metrics_, limits);
    server_->server().Post("/api/media", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      auto body = http_server::StreamedBodyOf(req);
      if (!body) {
        res.set_content("not streamed", "text/plain");
        return;
      }
      uint64_t h = kFnvStart, n = 0;
      std::ifstream in(body->path, std::ios::binary);
      std::vector<char> buf(64 * 1024);
      while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) ||
             in.gcount() > 0) {
        h = Fnv(h,
                std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
        n += static_cast<uint64_t>(in.gcount());
      }
      bool in_tmp = body->path.rfind(dir_.path() + "/tmp/upload-", 0) == 0;
      res.set_content(std::to_string(body->bytes) + " " + std::to_string(n) +
                          " " + std::to_string(h) + " " +
                          (in_tmp ? "tmp" : "elsewhere") + " " +
                          body->content_type,
                      "text/plain");
    });
    server_->server().Post(
        "/echo", [](const httplib::Request& req, httplib::Response& res) {
          std::string seen;
          for (auto& [k, v] : req.headers) seen += k + "=" + v + "\n";
          res.set_content(seen + req.body, "text/plain");
        });
    REQUIRE(server_->Bind("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~Fixture() {
    server_->Stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  std::string tmp() const { return dir_.path() + "/tmp"; }

 private:
  testing::TempDir dir_;
  common::Config config_;
  common::Logger log_;
  Metrics metrics_;
  std::optional<HttpServer> server_;
  std::thread thread_;
};

std::string UploadHead(uint64_t length, std::string extra = "") {
  return "POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
         "Content-Type: multipart/form-data; boundary=b\r\n" +
         extra + "Content-Length: " + std::to_string(length) + "\r\n\r\n";
}

TEST_CASE(
    "http server: an upload is stored in DATA_DIR/tmp for its handler, "
    "then removed",
    "[http-server][media]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  std::string body = "hello, upload";
  REQUIRE(SendAll(c.get(), UploadHead(body.size()) + body));
  std::string answer = ReadAll(c.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.ends_with("13 13 " + std::to_string(Fnv(kFnvStart, body)) +
                         " tmp multipart/form-data; boundary=b"));
  CHECK(testing::WaitUntil([&] { return FilesIn(f.tmp()) == 0; }, seconds(5)));
}

TEST_CASE("http server: a chunked upload is decoded into the file",
          "[http-server][media]") {
  Fixture f;
  UniqueFd c = ConnectTo(f.port());
  REQUIRE(SendAll(c.get(),
                  "POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n"));
  std::this_thread::sleep_for(milliseconds(20));  // two reads, not one
  REQUIRE(SendAll(c.get(), "7\r\n world!\r\n0\r\n\r\n"));
  std::string answer = ReadAll(c.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("\r\n\r\n12 12 " +
                    std::to_string(Fnv(kFnvStart, "hello world!")) + " tmp") !=
        std::string::npos);
  CHECK(testing::WaitUntil([&] { return FilesIn(f.tmp()) == 0; }, seconds(5)));
}

TEST_CASE(
    "http server: an upload over MEDIA_MAX_BYTES gets 413 at once and "
    "leaves no file",
    "[http-server][media]") {
  Fixture f({}, "", 100000);
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(
        c.get(),  // no body sent
        UploadHead(100000 + http_server::kMultipartAllowanceBytes + 1)));
    std::string answer = ReadAll(c.get());
    CHECK(answer.starts_with("HTTP/1.1 413"));
    CHECK(answer.find("\"payload_too_large\"") != std::string::npos);
    CHECK(answer.find("MEDIA_MAX_BYTES") != std::string::npos);
  }
  {
    // Chunked: the first 90,000 bytes are stored, the next chunk would pass
    // the limit (100,000 + the multipart allowance).
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(c.get(),
                    "POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n15f90\r\n" +
                        std::string(90000, 'a') + "\r\n"));
    REQUIRE(
        testing::WaitUntil([&] { return FilesIn(f.tmp()) == 1; }, seconds(5)));
    REQUIRE(SendAll(c.get(), "15f90\r\n"));
    std::string answer = ReadAll(c.get());
    CHECK(answer.starts_with("HTTP/1.1 413"));
    CHECK(
        testing::WaitUntil([&] { return FilesIn(f.tmp()) == 0; }, seconds(5)));
  }
}

TEST_CASE(
    "http server: an upload that stops gets 408 and its partial file "
    "is removed",
    "[http-server][media]") {
  HttpServer::Limits limits;
  limits.request_timeout = milliseconds(1000);
  limits.upload_stall_timeout = milliseconds(1000);
  Fixture f(limits);
  UniqueFd c = ConnectTo(f.port());
  REQUIRE(SendAll(c.get(), UploadHead(5000) + std::string(1000, 'x')));
  REQUIRE(
      testing::WaitUntil([&] { return FilesIn(f.tmp()) == 1; }, seconds(5)));
  std::string answer = ReadAll(c.get());
  CHECK(answer.starts_with("HTTP/1.1 408"));
  CHECK(testing::WaitUntil([&] { return FilesIn(f.tmp()) == 0; }, seconds(5)));
}

TEST_CASE(
    "http server: an upload that keeps making progress outlives the "
    "request deadline",
    "[http-server][media]") {
  HttpServer::Limits limits;
  limits.request_timeout = milliseconds(200);
  limits.upload_stall_timeout = milliseconds(1000);
  limits.upload_min_bytes_per_s = 100;
  Fixture f(limits);
  UniqueFd c = ConnectTo(f.port());
  // 3,000 bytes over ~0.6 s: 5,000 B/s, far above the minimum rate, so the
  // deadline keeps moving past the 200 ms request_timeout.
  REQUIRE(SendAll(c.get(), UploadHead(3000)));
  for (int i = 0; i < 6; ++i) {
    REQUIRE(SendAll(c.get(), std::string(500, 'y')));
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::string answer = ReadAll(c.get());
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("\r\n\r\n3000 3000") != std::string::npos);
}

TEST_CASE(
    "http server: with API_KEY set, an upload without it gets 401 "
    "before any byte is stored",
    "[http-server][media]") {
  Fixture f({}, "s3cret-key");
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(c.get(), UploadHead(1 << 20)));  // the body never comes
    std::string answer = ReadAll(c.get());
    CHECK(answer.starts_with("HTTP/1.1 401"));
    CHECK(answer.find("WWW-Authenticate: Bearer") != std::string::npos);
    CHECK(answer.find("s3cret") == std::string::npos);
    CHECK(FilesIn(f.tmp()) == 0);
  }
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(
        SendAll(c.get(),
                UploadHead(3, "Authorization: Bearer s3cret-key\r\n") + "abc"));
    CHECK(ReadAll(c.get()).starts_with("HTTP/1.1 200"));
  }
}

TEST_CASE("http server: uploads beyond max_uploads at once get 503",
          "[http-server][media]") {
  HttpServer::Limits limits;
  limits.max_uploads = 1;
  Fixture f(limits);
  UniqueFd first = ConnectTo(f.port());
  REQUIRE(SendAll(first.get(), UploadHead(10) + "12345"));
  REQUIRE(
      testing::WaitUntil([&] { return FilesIn(f.tmp()) == 1; }, seconds(5)));
  UniqueFd second = ConnectTo(f.port());
  REQUIRE(SendAll(second.get(), UploadHead(10) + "12345"));
  std::string answer = ReadAll(second.get());
  CHECK(answer.starts_with("HTTP/1.1 503"));
  CHECK(answer.find("\"unavailable\"") != std::string::npos);
  REQUIRE(SendAll(first.get(), "67890"));
  CHECK(ReadAll(first.get()).starts_with("HTTP/1.1 200"));
  // The slot is free again.
  UniqueFd third = ConnectTo(f.port());
  REQUIRE(SendAll(third.get(), UploadHead(2) + "ok"));
  CHECK(ReadAll(third.get()).starts_with("HTTP/1.1 200"));
}

TEST_CASE("http server: a client cannot name the body file",
          "[http-server][media]") {
  Fixture f;
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(c.get(), UploadHead(2,
                                        "X-Dynoguard-Body-File: /etc/passwd\r\n"
                                        "X-Dynoguard-Body-Bytes: 99\r\n") +
                                 "ab"));
    std::string answer = ReadAll(c.get());
    CHECK(answer.find("\r\n\r\n2 2 ") != std::string::npos);
    CHECK(answer.find(" tmp ") != std::string::npos);
  }
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(c.get(),
                    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "x-dynoguard-body-file: /etc/passwd\r\n"
                    "Content-Length: 2\r\n\r\nhi"));
    std::string answer = ReadAll(c.get());
    CHECK(answer.starts_with("HTTP/1.1 200"));
    CHECK(answer.find("/etc/passwd") == std::string::npos);
  }
}

TEST_CASE("http server: a 16 MB upload does not take 16 MB of memory",
          "[http-server][media][rss]") {
  Fixture f;
  const uint64_t size = 16 << 20;
  std::string chunk(64 * 1024, '\0');
  // Warm up the threads and buffers with a small upload first.
  {
    UniqueFd c = ConnectTo(f.port());
    REQUIRE(SendAll(c.get(), UploadHead(1) + "x"));
    REQUIRE(ReadAll(c.get()).starts_with("HTTP/1.1 200"));
  }
  // Resets VmHWM to the current RSS (Linux >= 4.0).
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const long rss_before = StatusKb("VmRSS");
  UniqueFd c = ConnectTo(f.port());
  REQUIRE(SendAll(c.get(), UploadHead(size)));
  uint64_t h = kFnvStart;
  for (uint64_t sent = 0; sent < size; sent += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = PatternByte(sent + i);
    h = Fnv(h, chunk);
    REQUIRE(SendAll(c.get(), chunk));
  }
  std::string answer = ReadAll(c.get());
  const long hwm_after = StatusKb("VmHWM");
  CHECK(answer.starts_with("HTTP/1.1 200"));
  CHECK(answer.find("\r\n\r\n" + std::to_string(size) + " " +
                    std::to_string(size) + " " + std::to_string(h) + " tmp") !=
        std::string::npos);
  INFO("VmRSS before " << rss_before << " kB, VmHWM after " << hwm_after
                       << " kB");
  REQUIRE(rss_before > 0);
  CHECK(hwm_after - rss_before < 4 * 1024);  // far from 16 MB
  CHECK(testing::WaitUntil([&] { return FilesIn(f.tmp()) == 0; }, seconds(5)));
}

}  // namespace
}  // namespace dynoguard::worker
