// HttpClient against real servers on 127.0.0.1: a cpp-httplib server in a
// thread for well-behaved exchanges, raw sockets for servers that never
// answer, drop the connection or never accept. The client's libuv loop runs
// on the test thread until a condition holds (with a generous deadline).
#include "worker/net/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"
#include "tests/support/wait.h"
#include "worker/net/curl_global.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::TestLoop;

using std::chrono::milliseconds;

constexpr int kRequests = 50;

std::unique_ptr<HttpClient> MakeClient(uv_loop_t* loop,
                                       HttpClient::Options options = {}) {
  auto client = HttpClient::Create(loop, std::move(options));
  REQUIRE(client.ok());
  return std::move(client).value();
}

// A cpp-httplib server on 127.0.0.1 with the routes the tests use. It records
// the client ports it saw (one per TCP connection) and what was uploaded.
class TestServer {
 public:
  // Plain http; or https with `tls` (an httplib::SSLServer).
  explicit TestServer(std::unique_ptr<httplib::Server> server =
                          std::make_unique<httplib::Server>(),
                      std::string scheme = "http")
      : server_(std::move(server)), scheme_(std::move(scheme)) {
    REQUIRE(server_->is_valid());
    server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_->set_keep_alive_max_count(1000);
    server_->Get(
        "/hello", [this](const httplib::Request& req, httplib::Response& res) {
          Seen(req);
          res.set_header("X-Test", "yes");
          res.set_content("hello " + req.get_param_value("i"), "text/plain");
        });
    server_->Post(
        "/echo", [this](const httplib::Request& req, httplib::Response& res) {
          Seen(req);
          res.set_header("X-Got-Content-Type",
                         req.get_header_value("Content-Type"));
          res.set_header("X-Got-Auth", req.get_header_value("Authorization"));
          res.set_header("X-Got-Method", req.method);
          res.status = 201;
          res.set_content(req.body, "application/json");
        });
    server_->Put("/echo",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   Seen(req);
                   res.set_header("X-Got-Method", req.method);
                   res.set_content(req.body, "application/json");
                 });
    server_->Delete(
        "/echo", [this](const httplib::Request& req, httplib::Response& res) {
          Seen(req);
          res.set_header("X-Got-Method", req.method);
          res.status = 204;
        });
    server_->Get("/late",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   Seen(req);
                   std::this_thread::sleep_for(
                       milliseconds(std::stoi(req.get_param_value("ms"))));
                   res.set_content("late", "text/plain");
                 });
    server_->Get("/big", [this](const httplib::Request& req,
                                httplib::Response& res) {
      Seen(req);
      res.set_content(std::string(std::stoul(req.get_param_value("n")), 'x'),
                      "text/plain");
    });
    // Chunked transfer encoding: no Content-Length, 4 KiB chunks of a known
    // pattern.
    server_->Get("/chunked", [this](const httplib::Request& req,
                                    httplib::Response& res) {
      Seen(req);
      const size_t total = std::stoul(req.get_param_value("n"));
      res.set_chunked_content_provider(
          "application/octet-stream",
          [total](size_t offset, httplib::DataSink& sink) {
            if (offset >= total) {
              sink.done();
              return true;
            }
            std::string chunk(std::min<size_t>(4096, total - offset), '\0');
            for (size_t i = 0; i < chunk.size(); ++i) {
              chunk[i] = static_cast<char>((offset + i) % 251);
            }
            return sink.write(chunk.data(), chunk.size());
          });
    });
    server_->Post(
        "/upload", [this](const httplib::Request& req, httplib::Response& res) {
          Seen(req);
          std::lock_guard<std::mutex> lock(mu_);
          uploaded_content_type_ = req.get_header_value("Content-Type");
          if (req.is_multipart_form_data()) {
            const auto file = req.get_file_value("file");
            uploaded_file_ = file.content;
            uploaded_filename_ = file.filename;
            uploaded_part_type_ = file.content_type;
            uploaded_field_ = req.get_file_value("messaging_product").content;
          } else {
            uploaded_file_ = req.body;
          }
          res.set_content("{\"id\":\"media-1\"}", "application/json");
        });
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    REQUIRE(testing::WaitUntil([this] { return server_->is_running(); },
                               milliseconds(5000)));
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }

  std::string Url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  // How many distinct TCP connections the requests so far came over.
  size_t connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return client_ports_.size();
  }
  std::set<int> client_ports() {
    std::lock_guard<std::mutex> lock(mu_);
    return client_ports_;
  }
  template <typename F>
  auto Locked(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f(*this);
  }

  std::string uploaded_file_;
  std::string uploaded_filename_;
  std::string uploaded_part_type_;
  std::string uploaded_field_;
  std::string uploaded_content_type_;

 private:
  void Seen(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mu_);
    client_ports_.insert(req.remote_port);
  }

  std::unique_ptr<httplib::Server> server_;
  std::string scheme_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::set<int> client_ports_;
};

// A raw TCP server for misbehaviour: kSilent accepts and never answers;
// kDropMidBody reads the request head, sends a head announcing 1000 bytes
// and 10 of them, then closes.
class RawServer {
 public:
  enum class Behaviour { kSilent, kDropMidBody };

  explicit RawServer(Behaviour behaviour) : behaviour_(behaviour) {
    listen_fd_ =
        common::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listen_fd_);
    const int one = 1;
    ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr),
                   sizeof(addr)) == 0);
    REQUIRE(::listen(listen_fd_.get(), 64) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr),
                          &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const { return accepted_; }

 private:
  void Serve() {
    std::vector<common::UniqueFd> held;
    while (!stop_) {
      pollfd pfd = {listen_fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      common::UniqueFd conn(
          ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      ++accepted_;
      if (behaviour_ == Behaviour::kDropMidBody) {
        std::string head;
        char buffer[4096];
        while (head.find("\r\n\r\n") == std::string::npos && !stop_) {
          pollfd cfd = {conn.get(), POLLIN, 0};
          if (::poll(&cfd, 1, 20) <= 0) continue;
          const ssize_t n = ::read(conn.get(), buffer, sizeof(buffer));
          if (n <= 0) break;
          head.append(buffer, static_cast<size_t>(n));
        }
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            "1000\r\n\r\n"
            "0123456789";
        (void)!::write(conn.get(), reply.data(), reply.size());
        continue;  // closed here, 990 bytes short
      }
      held.push_back(std::move(conn));
    }
  }

  const Behaviour behaviour_;
  common::UniqueFd listen_fd_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
};

// A self-signed certificate for 127.0.0.1 (P-256 key, SAN IP:127.0.0.1),
// written as PEM to `cert_path` and `key_path`: the CA a TLS test trusts.
void WriteSelfSignedCertificate(const std::string& cert_path,
                                const std::string& key_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* cert = X509_new();
  REQUIRE(cert != nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const char* ext :
       {"subjectAltName=IP:127.0.0.1", "basicConstraints=critical,CA:TRUE"}) {
    const std::string spec(ext);
    const size_t eq = spec.find('=');
    X509_EXTENSION* e = X509V3_EXT_conf(
        nullptr, &ctx, spec.substr(0, eq).c_str(), spec.substr(eq + 1).c_str());
    REQUIRE(e != nullptr);
    X509_add_ext(cert, e, -1);
    X509_EXTENSION_free(e);
  }
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  FILE* out = std::fopen(cert_path.c_str(), "w");
  REQUIRE(out != nullptr);
  PEM_write_X509(out, cert);
  std::fclose(out);
  out = std::fopen(key_path.c_str(), "w");
  REQUIRE(out != nullptr);
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A TestServer over TLS with a fresh self-signed certificate in `dir`.
std::unique_ptr<TestServer> TlsServer(const testing::TempDir& dir) {
  WriteSelfSignedCertificate(dir.File("cert.pem"), dir.File("key.pem"));
  return std::make_unique<TestServer>(
      std::make_unique<httplib::SSLServer>(dir.File("cert.pem").c_str(),
                                           dir.File("key.pem").c_str()),
      "https");
}

// Starts `request` and runs the loop until its callback ran.
HttpResponse Fetch(TestLoop& loop, HttpClient& client, HttpRequest request,
                   milliseconds timeout = milliseconds(10000)) {
  std::optional<HttpResponse> got;
  auto id = client.Start(std::move(request),
                         [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(id.ok());
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }, timeout));
  return std::move(*got);
}

HttpRequest Get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.connect_timeout = milliseconds(2000);
  request.total_timeout = milliseconds(5000);
  return request;
}

std::string RandomBytes(size_t n) {
  std::mt19937 rng(42);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  REQUIRE(out.good());
}

TEST_CASE("HttpClient: GET returns status, case-insensitive headers and body",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  CHECK(CurlInitialized());

  HttpResponse response = Fetch(loop, *client, Get(server.Url("/hello?i=1")));
  REQUIRE(response.ok());
  CHECK(response.status == 200);
  CHECK(response.body == "hello 1");
  CHECK(response.headers.Find("x-test") == "yes");
  CHECK(response.headers.Find("X-TEST") == "yes");
  CHECK(response.headers.Find("content-type") == "text/plain");
  CHECK_FALSE(response.headers.Find("x-missing").has_value());
  CHECK(response.http_version == "1.1");  // plain http: no HTTP/2
  CHECK(response.total_time.count() > 0);
  CHECK(client->in_flight() == 0);
}

TEST_CASE("HttpClient: POST sends headers and a JSON body, PUT and DELETE too",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());

  HttpRequest post = Get(server.Url("/echo"));
  post.method = HttpMethod::kPost;
  post.headers.Add("Content-Type", "application/json");
  post.headers.Add("Authorization", "Bearer secret-token-123");
  post.body = R"({"messaging_product":"whatsapp","to":"15551234567"})";
  HttpResponse response = Fetch(loop, *client, post);
  REQUIRE(response.ok());
  CHECK(response.status == 201);
  CHECK(response.body == post.body);
  CHECK(response.headers.Find("X-Got-Content-Type") == "application/json");
  CHECK(response.headers.Find("X-Got-Auth") == "Bearer secret-token-123");
  CHECK(response.headers.Find("X-Got-Method") == "POST");

  HttpRequest put = Get(server.Url("/echo"));
  put.method = HttpMethod::kPut;
  put.body = "{}";
  response = Fetch(loop, *client, put);
  REQUIRE(response.ok());
  CHECK(response.headers.Find("X-Got-Method") == "PUT");
  CHECK(response.body == "{}");

  HttpRequest del = Get(server.Url("/echo"));
  del.method = HttpMethod::kDelete;
  int head_status = 0;
  del.sink.on_head = [&](int status, const HttpHeaders&) {
    head_status = status;  // no body: handed over at the end
    return true;
  };
  del.sink.on_data = [](std::string_view) { return SinkAnswer::kContinue; };
  response = Fetch(loop, *client, del);
  REQUIRE(response.ok());
  CHECK(response.status == 204);
  CHECK(head_status == 204);
  CHECK(response.headers.Find("X-Got-Method") == "DELETE");
}

TEST_CASE("HttpClient: a sink callback cannot call into the client",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  std::optional<common::Status> nested;
  HttpRequest request = Get(server.Url("/big?n=10"));
  request.sink.on_data = [&](std::string_view) {
    auto r = client->Start(Get(server.Url("/hello")), [](HttpResponse) {});
    nested = r.ok() ? common::Status::Ok() : r.status();
    return SinkAnswer::kContinue;
  };
  HttpResponse response = Fetch(loop, *client, request);
  REQUIRE(response.ok());
  REQUIRE(nested.has_value());
  CHECK(nested->code() == common::Status::Code::kInternal);
  CHECK(client->in_flight() == 0);
}

TEST_CASE("HttpClient: a collected body above the cap fails with too_large",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());

  HttpRequest fits = Get(server.Url("/big?n=1000"));
  fits.max_body_bytes = 1000;
  HttpResponse response = Fetch(loop, *client, fits);
  REQUIRE(response.ok());
  CHECK(response.body.size() == 1000);

  SECTION("announced by Content-Length") {
    HttpRequest big = Get(server.Url("/big?n=5000"));
    big.max_body_bytes = 1000;
    response = Fetch(loop, *client, big);
    CHECK(response.error.kind == HttpErrorKind::kTooLarge);
    CHECK(response.error.message.find("too_large") == 0);
  }
  SECTION("found while reading a chunked body") {
    HttpRequest big = Get(server.Url("/chunked?n=50000"));
    big.max_body_bytes = 10000;
    response = Fetch(loop, *client, big);
    CHECK(response.error.kind == HttpErrorKind::kTooLarge);
    CHECK(response.status == 200);
    CHECK(response.body.size() <= 10000);
  }
  SECTION("the client's default cap") {
    HttpClient::Options options;
    options.max_body_bytes = 100;
    auto small = MakeClient(loop.get(), options);
    response = Fetch(loop, *small, Get(server.Url("/big?n=101")));
    CHECK(response.error.kind == HttpErrorKind::kTooLarge);
  }
}

TEST_CASE(
    "HttpClient: a streamed download arrives in chunks, no cap, no body kept",
    "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  HttpClient::Options options;
  options.max_body_bytes = 1000;  // does not apply to a streaming sink
  auto client = MakeClient(loop.get(), options);

  constexpr size_t kTotal = 300000;
  std::string received;
  int chunks = 0;
  int head_status = 0;
  std::string head_type;
  HttpRequest request = Get(server.Url("/chunked?n=" + std::to_string(kTotal)));
  request.sink.on_head = [&](int status, const HttpHeaders& headers) {
    CHECK(chunks == 0);
    head_status = status;
    head_type = std::string(headers.Find("Content-Type").value_or(""));
    return true;
  };
  request.sink.on_data = [&](std::string_view chunk) {
    ++chunks;
    received.append(chunk);
    return SinkAnswer::kContinue;
  };
  HttpResponse response = Fetch(loop, *client, request);
  REQUIRE(response.ok());
  CHECK(response.body.empty());
  CHECK(head_status == 200);
  CHECK(head_type == "application/octet-stream");
  REQUIRE(received.size() == kTotal);
  CHECK(chunks > 1);
  bool pattern_ok = true;
  for (size_t i = 0; i < kTotal; ++i) {
    if (received[i] != static_cast<char>(i % 251)) pattern_ok = false;
  }
  CHECK(pattern_ok);

  SECTION("a sink that says stop aborts the transfer") {
    HttpRequest stop = Get(server.Url("/chunked?n=100000"));
    stop.sink.on_data = [](std::string_view) { return SinkAnswer::kAbort; };
    response = Fetch(loop, *client, stop);
    CHECK(response.error.kind == HttpErrorKind::kAborted);
  }
}

// A sink that pauses on every `every`-th chunk it is handed for the first
// time, and a timer that resumes the transfer `after` later (a sink may not
// call into the client).
struct PausingSink {
  HttpClient* client = nullptr;
  HttpRequestId id = 0;
  int every = 3;
  std::string received;
  std::string refused;  // the chunk last answered kPause
  int calls = 0;
  int pauses = 0;
  int redelivered_same_start = 0;
  bool waiting_redelivery = false;
  uv_timer_t timer{};

  SinkAnswer OnData(std::string_view chunk) {
    ++calls;
    if (waiting_redelivery) {
      waiting_redelivery = false;
      // The bytes refused come again first (the pieces may be cut anew).
      const size_t common = std::min(chunk.size(), refused.size());
      if (chunk.substr(0, common) ==
          std::string_view(refused).substr(0, common))
        ++redelivered_same_start;
    } else if (calls % every == 0) {
      ++pauses;
      refused = std::string(chunk);
      waiting_redelivery = true;
      uv_timer_start(
          &timer,
          [](uv_timer_t* t) {
            auto* self = static_cast<PausingSink*>(t->data);
            CHECK(self->client->paused() == 1);
            CHECK(self->client->Resume(self->id));
          },
          20, 0);
      return SinkAnswer::kPause;
    }
    received.append(chunk);
    return SinkAnswer::kContinue;
  }
};

TEST_CASE(
    "HttpClient: a paused transfer resumes with the refused chunk, nothing "
    "lost or repeated",
    "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(10000));
  auto client = MakeClient(loop.get());
  PausingSink sink;
  sink.client = client.get();
  REQUIRE(uv_timer_init(loop.get(), &sink.timer) == 0);
  sink.timer.data = &sink;

  constexpr size_t kTotal = 400000;
  HttpRequest request = Get(server.Url("/chunked?n=" + std::to_string(kTotal)));
  request.sink.on_data = [&](std::string_view chunk) {
    return sink.OnData(chunk);
  };
  std::optional<HttpResponse> got;
  auto id = client->Start(std::move(request),
                          [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(id.ok());
  sink.id = *id;
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  REQUIRE(got->ok());
  CHECK(sink.pauses > 3);
  CHECK(sink.redelivered_same_start == sink.pauses);
  REQUIRE(sink.received.size() == kTotal);
  bool pattern_ok = true;
  for (size_t i = 0; i < kTotal; ++i) {
    if (sink.received[i] != static_cast<char>(i % 251)) pattern_ok = false;
  }
  CHECK(pattern_ok);
  CHECK_FALSE(client->Resume(*id));  // ended: nothing to resume
  uv_close(reinterpret_cast<uv_handle_t*>(&sink.timer), nullptr);
}

TEST_CASE(
    "HttpClient: a paused transfer still ends at its total timeout, with "
    "Cancel, and keeps its connection through CloseIdleConnections",
    "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(10000));
  auto client = MakeClient(loop.get());
  bool paused_once = false;
  size_t bytes = 0;
  HttpRequest request = Get(server.Url("/chunked?n=300000"));
  request.sink.on_data = [&](std::string_view chunk) {
    if (!paused_once) {
      paused_once = true;
      return SinkAnswer::kPause;
    }
    bytes += chunk.size();
    return SinkAnswer::kContinue;
  };
  std::optional<HttpResponse> got;

  SECTION("the total timeout") {
    request.total_timeout = milliseconds(300);
    REQUIRE(client
                ->Start(std::move(request),
                        [&](HttpResponse r) { got = std::move(r); })
                .ok());
    REQUIRE(loop.RunUntil([&] { return got.has_value(); }, milliseconds(5000)));
    CHECK(got->error.kind == HttpErrorKind::kTimeout);
    CHECK(bytes == 0);
  }
  SECTION("Cancel") {
    auto id = client->Start(std::move(request),
                            [&](HttpResponse r) { got = std::move(r); });
    REQUIRE(id.ok());
    REQUIRE(loop.RunUntil([&] { return client->paused() == 1; }));
    CHECK(client->Cancel(*id));
    REQUIRE(got.has_value());
    CHECK(got->error.kind == HttpErrorKind::kCancelled);
    CHECK(client->paused() == 0);
  }
  SECTION("CloseIdleConnections waits for it") {
    auto id = client->Start(std::move(request),
                            [&](HttpResponse r) { got = std::move(r); });
    REQUIRE(id.ok());
    REQUIRE(loop.RunUntil([&] { return client->paused() == 1; }));
    CHECK_FALSE(client->CloseIdleConnections());  // deferred: not idle
    CHECK(client->Resume(*id));
    REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
    REQUIRE(got->ok());
    CHECK(bytes == 300000);
  }
}

TEST_CASE("HttpClient: a multipart upload streams a file part byte for byte",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  testing::TempDir dir;
  auto client = MakeClient(loop.get());
  const std::string contents = RandomBytes(700 * 1024 + 17);
  const std::string path = dir.File("photo.jpg");
  WriteFile(path, contents);

  HttpRequest request = Get(server.Url("/upload"));
  request.method = HttpMethod::kPost;
  request.headers.Add("Authorization", "Bearer t0ken");
  request.multipart.push_back(
      MultipartPart::Field("messaging_product", "whatsapp"));
  request.multipart.push_back(MultipartPart::File("file", path, "image/jpeg"));
  HttpResponse response = Fetch(loop, *client, request);
  REQUIRE(response.ok());
  CHECK(response.status == 200);
  CHECK(response.body == R"({"id":"media-1"})");
  server.Locked([&](TestServer& s) {
    CHECK(s.uploaded_content_type_.rfind("multipart/form-data; boundary=", 0) ==
          0);
    CHECK(s.uploaded_field_ == "whatsapp");
    CHECK(s.uploaded_filename_ == "photo.jpg");
    CHECK(s.uploaded_part_type_ == "image/jpeg");
    CHECK(s.uploaded_file_.size() == contents.size());
    CHECK(s.uploaded_file_ == contents);
    return 0;
  });
}

TEST_CASE("HttpClient: a raw body file is streamed byte for byte",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  testing::TempDir dir;
  auto client = MakeClient(loop.get());
  const std::string contents = RandomBytes(2 * 1024 * 1024 + 3);
  const std::string path = dir.File("blob.bin");
  WriteFile(path, contents);

  HttpRequest request = Get(server.Url("/upload"));
  request.method = HttpMethod::kPost;
  request.headers.Add("Content-Type", "application/octet-stream");
  request.body_file = path;
  HttpResponse response = Fetch(loop, *client, request);
  REQUIRE(response.ok());
  server.Locked([&](TestServer& s) {
    CHECK(s.uploaded_file_.size() == contents.size());
    CHECK(s.uploaded_file_ == contents);
    return 0;
  });
}

TEST_CASE("HttpClient: requests that cannot be sent are refused at Start",
          "[http_client]") {
  TestLoop loop(milliseconds(5000));
  testing::TempDir dir;
  auto client = MakeClient(loop.get());
  bool called = false;
  auto start = [&](HttpRequest request) {
    return client->Start(std::move(request),
                         [&](HttpResponse) { called = true; });
  };

  auto r = start(Get("ftp://127.0.0.1/file"));
  CHECK(r.status().code() == common::Status::Code::kInvalidArgument);
  r = start(Get("not a url"));
  CHECK(r.status().code() == common::Status::Code::kInvalidArgument);

  HttpRequest missing = Get("http://127.0.0.1:1/upload");
  missing.method = HttpMethod::kPost;
  missing.body_file = dir.File("nope.bin");
  r = start(missing);
  CHECK(r.status().code() == common::Status::Code::kInvalidArgument);
  CHECK(r.status().message().find("nope.bin") != std::string::npos);

  HttpRequest directory = missing;
  directory.body_file = dir.path();
  r = start(directory);
  CHECK(r.status().message().find("not a regular file") != std::string::npos);

  HttpRequest two_bodies = missing;
  two_bodies.body_file.clear();
  two_bodies.body = "x";
  two_bodies.multipart.push_back(MultipartPart::Field("a", "b"));
  r = start(two_bodies);
  CHECK(r.status().code() == common::Status::Code::kInvalidArgument);

  HttpRequest get_with_body = Get("http://127.0.0.1:1/");
  get_with_body.body = "x";
  CHECK_FALSE(start(get_with_body).ok());

  HttpRequest injected = Get("http://127.0.0.1:1/");
  injected.headers.Add("X-A", "b\r\nX-Injected: 1");
  CHECK_FALSE(start(injected).ok());

  loop.Settle();
  CHECK_FALSE(called);
  CHECK(client->in_flight() == 0);
}

TEST_CASE("HttpClient: a closed port gives a connect error", "[http_client]") {
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  const int port = testing::FreePort();
  HttpRequest request = Get("http://127.0.0.1:" + std::to_string(port) +
                            "/v21.0/123/messages?access_token=hunter2secret");
  request.headers.Add("Authorization", "Bearer hunter3secret");
  HttpResponse response = Fetch(loop, *client, request);
  CHECK(response.error.kind == HttpErrorKind::kConnect);
  CHECK(HttpErrorNothingSent(response.error.kind));
  CHECK(response.status == 0);
  CHECK(response.error.message.find("connect: GET http://127.0.0.1:") == 0);
  CHECK(response.error.message.find("/v21.0/123/messages") !=
        std::string::npos);
  CHECK(response.error.message.find("hunter2secret") == std::string::npos);
  CHECK(response.error.message.find("access_token") == std::string::npos);
  CHECK(response.error.message.find("hunter3secret") == std::string::npos);
}

TEST_CASE("HttpClient: https to a plain http server fails with a TLS error",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  HttpResponse response = Fetch(
      loop, *client,
      Get("https://127.0.0.1:" + std::to_string(server.port()) + "/hello"));
  CHECK(response.error.kind == HttpErrorKind::kTls);
}

TEST_CASE("HttpClient: https verifies the server's certificate",
          "[http_client]") {
  testing::TempDir dir;
  auto server = TlsServer(dir);
  TestLoop loop(milliseconds(5000));

  SECTION("trusted: the exchange works and reuses its connection") {
    HttpClient::Options options;
    options.ca_file = dir.File("cert.pem");
    auto client = MakeClient(loop.get(), options);
    for (int i = 0; i < 3; ++i) {
      HttpResponse response = Fetch(
          loop, *client, Get(server->Url("/hello?i=" + std::to_string(i))));
      INFO(response.error.message);
      REQUIRE(response.ok());
      CHECK(response.body == "hello " + std::to_string(i));
    }
    CHECK(server->connections() == 1);
    CHECK(client->CloseIdleConnections());
  }
  SECTION("not trusted: a TLS error") {
    auto client = MakeClient(loop.get());
    HttpResponse response = Fetch(loop, *client, Get(server->Url("/hello")));
    CHECK(response.error.kind == HttpErrorKind::kTls);
  }
  SECTION("trusted, but issued for another name: a TLS error") {
    HttpClient::Options options;
    options.ca_file = dir.File("cert.pem");
    auto client = MakeClient(loop.get(), options);
    HttpResponse response = Fetch(
        loop, *client,
        Get("https://localhost:" + std::to_string(server->port()) + "/hello"));
    CHECK(response.error.kind == HttpErrorKind::kTls);
  }
}

TEST_CASE("HttpClient: HTTP/2 where the server offers it (nghttpd over TLS)",
          "[http_client]") {
  // Debian's nghttp2-server (scripts/setup.sh installs it with the test
  // dependencies): a real HTTP/2 server, ALPN h2 over TLS.
  const std::string nghttpd = "/usr/sbin/nghttpd";
  if (::access(nghttpd.c_str(), X_OK) != 0) {
    WARN("nghttpd missing (apt-get install nghttp2-server): HTTP/2 skipped");
    return;
  }
  testing::TempDir dir;
  WriteSelfSignedCertificate(dir.File("cert.pem"), dir.File("key.pem"));
  REQUIRE(::mkdir(dir.File("htdocs").c_str(), 0700) == 0);
  {
    std::ofstream out(dir.File("htdocs/hello.txt"));
    out << "hello over h2";
  }
  const int port = testing::FreePort();
  testing::SpawnOptions spawn;
  spawn.args = {"--address=127.0.0.1", "--htdocs=" + dir.File("htdocs"),
                std::to_string(port), dir.File("key.pem"),
                dir.File("cert.pem")};
  spawn.log_path = dir.File("nghttpd.log");
  auto server = testing::Process::Spawn(nghttpd, spawn);
  REQUIRE(server.ok());
  REQUIRE(testing::WaitUntil([&] { return testing::Connect(port); },
                             milliseconds(10000)));

  TestLoop loop(milliseconds(5000));
  HttpClient::Options options;
  options.ca_file = dir.File("cert.pem");
  auto client = MakeClient(loop.get(), options);
  for (int i = 0; i < 2; ++i) {
    HttpResponse response =
        Fetch(loop, *client,
              Get("https://127.0.0.1:" + std::to_string(port) + "/hello.txt"));
    INFO(response.error.message);
    REQUIRE(response.ok());
    CHECK(response.status == 200);
    CHECK(response.http_version == "2");
    CHECK(response.body == "hello over h2");
  }
}

TEST_CASE("HttpClient: a server that never answers hits the total timeout",
          "[http_client]") {
  RawServer server(RawServer::Behaviour::kSilent);
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());

  HttpRequest request = Get(server.Url("/slow"));
  request.total_timeout = milliseconds(300);
  HttpResponse response = Fetch(loop, *client, request);
  CHECK(response.error.kind == HttpErrorKind::kTimeout);
  CHECK_FALSE(HttpErrorNothingSent(response.error.kind));
  CHECK(server.accepted() >= 1);

  SECTION("a timeout above the client's ceiling is lowered to it") {
    HttpClient::Options options;
    options.max_timeout = milliseconds(300);
    auto capped = MakeClient(loop.get(), options);
    HttpRequest slow = Get(server.Url("/slow"));
    slow.total_timeout = std::chrono::seconds(60);
    response = Fetch(loop, *capped, slow, milliseconds(20000));
    CHECK(response.error.kind == HttpErrorKind::kTimeout);
  }
}

TEST_CASE("HttpClient: a request its owner cancels on stop has its own ceiling",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(10000));
  HttpClient::Options options;
  options.max_timeout = milliseconds(300);
  HttpRequest late = Get(server.Url("/late?ms=900"));
  late.total_timeout = milliseconds(5000);

  SECTION("not lowered to max_timeout") {
    auto client = MakeClient(loop.get(), options);
    late.cancelled_on_stop = true;
    HttpResponse response = Fetch(loop, *client, late);
    INFO(response.error.message);
    REQUIRE(response.ok());
    CHECK(response.body == "late");
  }
  SECTION("lowered to max_cancelled_on_stop_timeout") {
    options.max_cancelled_on_stop_timeout = milliseconds(300);
    auto client = MakeClient(loop.get(), options);
    late.cancelled_on_stop = true;
    HttpResponse response = Fetch(loop, *client, late);
    CHECK(response.error.kind == HttpErrorKind::kTimeout);
  }
  SECTION("without the mark, lowered to max_timeout") {
    auto client = MakeClient(loop.get(), options);
    HttpResponse response = Fetch(loop, *client, late);
    CHECK(response.error.kind == HttpErrorKind::kTimeout);
  }
}

TEST_CASE("HttpClient: a server that never accepts hits the connect timeout",
          "[http_client]") {
  // A listening socket with a backlog of 0 that never accepts: once one
  // connection fills its accept queue the kernel drops further SYNs.
  common::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof(addr)) == 0);
  REQUIRE(::listen(listener.get(), 0) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr),
                        &len) == 0);
  std::vector<common::UniqueFd> fillers;
  for (int i = 0; i < 3; ++i) {
    common::UniqueFd fd(
        ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(std::move(fd));
  }
  REQUIRE(testing::WaitUntil(
      [&] {
        pollfd pfd = {fillers[0].get(), POLLOUT, 0};
        return ::poll(&pfd, 1, 0) == 1;
      },
      milliseconds(2000)));

  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  HttpRequest request = Get(
      "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/never");
  request.connect_timeout = milliseconds(300);
  request.total_timeout = milliseconds(3000);
  HttpResponse response = Fetch(loop, *client, request);
  CHECK(response.error.kind == HttpErrorKind::kConnectTimeout);
  CHECK(HttpErrorNothingSent(response.error.kind));
}

TEST_CASE("HttpClient: a connection dropped mid-response is an error",
          "[http_client]") {
  RawServer server(RawServer::Behaviour::kDropMidBody);
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  HttpResponse response = Fetch(loop, *client, Get(server.Url("/media")));
  CHECK(response.error.kind == HttpErrorKind::kConnectionLost);
  CHECK(response.status == 200);
}

TEST_CASE("HttpClient: 50 concurrent requests all complete on one loop",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  HttpClient::Options options;
  size_t max_connections = kRequests;
  SECTION("one connection each") {}
  SECTION("at most 4 connections: the others wait their turn in libcurl") {
    options.max_host_connections = 4;
    max_connections = 4;
  }
  auto client = MakeClient(loop.get(), options);
  std::vector<std::optional<HttpResponse>> responses(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    // cpp-httplib listens with a small backlog: of 50 connects at once some
    // may see their SYN dropped and retried a second or three later.
    HttpRequest request = Get(server.Url("/hello?i=" + std::to_string(i)));
    request.connect_timeout = milliseconds(10000);
    request.total_timeout = milliseconds(15000);
    auto id = client->Start(
        std::move(request),
        [&responses, i](HttpResponse r) { responses[i] = std::move(r); });
    REQUIRE(id.ok());
  }
  CHECK(client->in_flight() == kRequests);
  REQUIRE(loop.RunUntil(
      [&] {
        return std::all_of(responses.begin(), responses.end(),
                           [](const auto& r) { return r.has_value(); });
      },
      milliseconds(30000)));
  for (int i = 0; i < kRequests; ++i) {
    INFO(responses[i]->error.message);
    REQUIRE(responses[i]->ok());
    CHECK(responses[i]->body == "hello " + std::to_string(i));
  }
  CHECK(client->in_flight() == 0);
  CHECK(server.connections() <= max_connections);
}

TEST_CASE("HttpClient: sequential requests reuse one connection",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  for (int i = 0; i < 10; ++i) {
    HttpResponse response =
        Fetch(loop, *client, Get(server.Url("/hello?i=" + std::to_string(i))));
    REQUIRE(response.ok());
  }
  CHECK(server.connections() < 10);
  CHECK(server.connections() == 1);
}

TEST_CASE("HttpClient: Cancel and CancelAll run the callbacks with cancelled",
          "[http_client]") {
  RawServer server(RawServer::Behaviour::kSilent);
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  std::vector<std::optional<HttpResponse>> responses(3);
  std::vector<HttpRequestId> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = client->Start(
        Get(server.Url("/slow")),
        [&responses, i](HttpResponse r) { responses[i] = std::move(r); });
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  REQUIRE(loop.RunUntil([&] { return server.accepted() == 3; }));

  REQUIRE(client->Cancel(ids[1]));
  REQUIRE(responses[1].has_value());  // before Cancel returned
  CHECK(responses[1]->error.kind == HttpErrorKind::kCancelled);
  CHECK_FALSE(responses[0].has_value());
  CHECK(client->in_flight() == 2);
  CHECK_FALSE(client->Cancel(ids[1]));
  CHECK_FALSE(client->Cancel(12345));

  client->CancelAll();
  CHECK(client->in_flight() == 0);
  for (const auto& response : responses) {
    REQUIRE(response.has_value());
    CHECK(response->error.kind == HttpErrorKind::kCancelled);
  }

  SECTION("the client still works after cancelling") {
    TestServer good;
    HttpResponse response = Fetch(loop, *client, Get(good.Url("/hello?i=7")));
    REQUIRE(response.ok());
    CHECK(response.body == "hello 7");
    // Before `good` goes: its keep-alive thread would wait out its timeout.
    CHECK(client->CloseIdleConnections());
  }
}

TEST_CASE(
    "HttpClient: destroyed with requests in flight, callbacks get cancelled",
    "[http_client]") {
  RawServer server(RawServer::Behaviour::kSilent);
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  int cancelled = 0;
  int other = 0;
  for (int i = 0; i < 5; ++i) {
    auto id = client->Start(Get(server.Url("/slow")), [&](HttpResponse r) {
      (r.error.kind == HttpErrorKind::kCancelled ? cancelled : other) += 1;
    });
    REQUIRE(id.ok());
  }
  REQUIRE(loop.RunUntil([&] { return server.accepted() == 5; }));
  client.reset();
  CHECK(cancelled == 5);
  CHECK(other == 0);
  // ~TestLoop checks that every handle of the client was closed and freed.
}

TEST_CASE("HttpClient: a callback may close the client", "[http_client]") {
  RawServer silent(RawServer::Behaviour::kSilent);
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  std::vector<HttpErrorKind> kinds;
  auto closing = [&](HttpResponse r) {
    kinds.push_back(r.error.kind);
    client->Close();
  };
  auto record = [&](HttpResponse r) { kinds.push_back(r.error.kind); };

  SECTION("from a completion callback, with others in flight") {
    for (int i = 0; i < 3; ++i) {
      REQUIRE(client->Start(Get(silent.Url("/slow")), record).ok());
    }
    REQUIRE(client->Start(Get(server.Url("/hello")), closing).ok());
    REQUIRE(loop.RunUntil([&] { return kinds.size() == 4; }));
    CHECK(kinds[0] == HttpErrorKind::kNone);
    CHECK(kinds[1] == HttpErrorKind::kCancelled);
    CHECK(kinds[3] == HttpErrorKind::kCancelled);
  }
  SECTION("from the first of several cancelled callbacks") {
    REQUIRE(client->Start(Get(silent.Url("/slow")), closing).ok());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(client->Start(Get(silent.Url("/slow")), record).ok());
    }
    REQUIRE(loop.RunUntil([&] { return silent.accepted() == 4; }));
    client->CancelAll();  // the first callback closes the client
    REQUIRE(kinds.size() == 4);
    for (HttpErrorKind kind : kinds) CHECK(kind == HttpErrorKind::kCancelled);
  }
  CHECK(client->closed());
  CHECK(client->in_flight() == 0);
}

TEST_CASE("HttpClient: Close refuses new requests and Post", "[http_client]") {
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  client->Close();
  CHECK(client->closed());
  auto r = client->Start(Get("http://127.0.0.1:1/"), [](HttpResponse) {});
  CHECK(r.status().code() == common::Status::Code::kUnavailable);
  CHECK_FALSE(client->Post([] {}));
  client->Close();  // idempotent
}

TEST_CASE("HttpClient: CloseIdleConnections closes the kept connections",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  REQUIRE(Fetch(loop, *client, Get(server.Url("/hello?i=1"))).ok());
  REQUIRE(Fetch(loop, *client, Get(server.Url("/hello?i=2"))).ok());
  CHECK(server.connections() == 1);

  CHECK(client->CloseIdleConnections());
  REQUIRE(Fetch(loop, *client, Get(server.Url("/hello?i=3"))).ok());
  CHECK(server.connections() == 2);  // the next request needed a new one

  SECTION("with a request in flight it waits for the last one to finish") {
    std::optional<HttpResponse> got;
    REQUIRE(client
                ->Start(Get(server.Url("/hello?i=4")),
                        [&](HttpResponse r) { got = std::move(r); })
                .ok());
    CHECK_FALSE(client->CloseIdleConnections());
    REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
    REQUIRE(got->ok());
    const size_t before = server.connections();
    REQUIRE(Fetch(loop, *client, Get(server.Url("/hello?i=5"))).ok());
    CHECK(server.connections() == before + 1);
  }
  SECTION("called from a completion callback") {
    std::optional<HttpResponse> got;
    REQUIRE(client
                ->Start(Get(server.Url("/hello?i=6")),
                        [&](HttpResponse r) {
                          got = std::move(r);
                          client->CloseIdleConnections();
                        })
                .ok());
    REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
    const size_t before = server.connections();
    REQUIRE(Fetch(loop, *client, Get(server.Url("/hello?i=7"))).ok());
    CHECK(server.connections() == before + 1);
  }
}

TEST_CASE("HttpClient: a completion callback can start the next request",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  std::vector<std::string> bodies;
  std::function<void(int)> chain = [&](int i) {
    REQUIRE(client
                ->Start(Get(server.Url("/hello?i=" + std::to_string(i))),
                        [&, i](HttpResponse r) {
                          bodies.push_back(r.body);
                          if (i < 4) chain(i + 1);
                        })
                .ok());
  };
  chain(0);
  REQUIRE(loop.RunUntil([&] { return bodies.size() == 5; }));
  CHECK(bodies.back() == "hello 4");
  CHECK(server.connections() == 1);
}

TEST_CASE("HttpClient: Post runs a task from another thread on the loop",
          "[http_client]") {
  TestServer server;
  TestLoop loop(milliseconds(5000));
  auto client = MakeClient(loop.get());
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::optional<HttpResponse> got;
  bool on_loop_thread = false;
  std::thread poster([&] {
    CHECK(client->Post([&] {
      on_loop_thread = std::this_thread::get_id() == loop_thread;
      REQUIRE(client
                  ->Start(Get(server.Url("/hello?i=9")),
                          [&](HttpResponse r) { got = std::move(r); })
                  .ok());
    }));
  });
  poster.join();
  REQUIRE(loop.RunUntil([&] { return got.has_value(); }));
  CHECK(on_loop_thread);
  REQUIRE(got->ok());
  CHECK(got->body == "hello 9");
}

}  // namespace
}  // namespace dynoguard::worker
