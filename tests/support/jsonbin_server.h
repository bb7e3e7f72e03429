// JsonBinServer: a local stand-in for JSONBin's v3 API for tests, on
// 127.0.0.1 (ephemeral port), on its own thread, following the documented
// contract (https://jsonbin.io/api-reference, bins):
//   POST /v3/b                 create: the body is the record; headers
//        Content-Type: application/json (else 400), X-Master-Key or
//        X-Access-Key, X-Bin-Private (default true), X-Bin-Name (1–128) →
//        200 {"record":…,"metadata":{"id","createdAt","private"[,"name"]}}
//   GET  /v3/b/{id}[/latest|/{version}]  read → {"record":…,"metadata":
//        {"id","private","createdAt"}}, or the record alone with
//        X-Bin-Meta: false
//   PUT  /v3/b/{id}            update → {"record":…,"metadata":{"parentId",
//        "private"}}
// Errors are {"message":"…"} with JSONBin's documented texts: 400 "Invalid
// Bin Id provided" (an id that is not 24 hex digits), "Bin cannot be blank",
// "Invalid JSON", the Content-Type one; 401 "You need to pass X-Master-Key
// in the header…" (private bin, no key) and "Invalid X-Master-Key provided"
// / "Invalid X-Access-Key provided"; 403 "Requests exhausted…" (quota) and
// the record size cap; 404 "Bin not found or it doesn't belong to your
// account". Bins live in memory; private ones need a key for everything,
// public ones can be read without.
//
// Injectable: the next N answers of any route (429 with Retry-After, 5xx, …),
// a delay before every answer (cut short by Stop), the quota exhausted, the
// record size cap. Every request is recorded with the headers that matter.
//
// Thread-safe: every method may be called from any thread while requests are
// served.
#ifndef DYNOGUARD_TESTS_SUPPORT_JSONBIN_SERVER_H_
#define DYNOGUARD_TESTS_SUPPORT_JSONBIN_SERVER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace dynoguard::testing {

enum class JsonBinRoute {
  kCreate,  // POST /v3/b
  kRead,    // GET /v3/b/{id}…
  kUpdate,  // PUT /v3/b/{id}
  kOther,   // anything else (404 "Route not found")
};

// One request as received and how it was answered.
struct JsonBinRequest {
  JsonBinRoute route = JsonBinRoute::kOther;
  std::string method;
  std::string path;
  std::optional<std::string> master_key;  // X-Master-Key as sent
  std::optional<std::string> access_key;  // X-Access-Key as sent
  std::string content_type;
  std::optional<std::string> bin_private;  // X-Bin-Private
  std::optional<std::string> bin_name;     // X-Bin-Name
  std::optional<std::string> bin_meta;     // X-Bin-Meta
  std::string body;
  int status = 0;  // answered; 0 while pending
};

// A scripted answer for the next request, whatever its route.
struct JsonBinAnswer {
  int status = 500;
  std::string message = "Internal Server Error";  // {"message": …}
  std::string retry_after;  // a Retry-After header when not empty
};

class JsonBinServer {
 public:
  struct Options {
    std::string master_key = "$2a$10$TestMasterKeyN0tAR3alOne.abcdefghijklmno";
    std::string access_key = "$2a$10$TestAccessKeyN0tAR3alOne.abcdefghijklmn";
    // The record size cap (the free plan's is 100 KB, paid ones 1 MB and
    // more). Default: 1 MiB.
    size_t max_record_bytes = 1024 * 1024;
  };

  // Starts serving; REQUIREs (Catch2) that the port could be bound.
  explicit JsonBinServer(Options options);
  JsonBinServer() : JsonBinServer(Options{}) {}
  // Stops and joins.
  ~JsonBinServer();
  JsonBinServer(const JsonBinServer&) = delete;
  JsonBinServer& operator=(const JsonBinServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/v3": JSONBIN_BASE_URL.
  std::string base_url() const;
  const Options& options() const { return options_; }

  // Stops serving (listening socket and open connections closed, pending
  // delays end). Idempotent.
  void Stop();

  // The next `count` requests (any route) get `answer`.
  void FailNext(int count, JsonBinAnswer answer);
  // Every request waits `delay` before its answer. Default: none.
  void SetDelay(std::chrono::milliseconds delay);
  // true: every request answers 403 "Requests exhausted…".
  void SetQuotaExhausted(bool exhausted);
  void SetMaxRecordBytes(size_t bytes);
  // true: reads answer {record, metadata} even with X-Bin-Meta: false (as
  // a server that does not honour the header would). Default: false.
  void SetIgnoreBinMeta(bool ignore);

  // Adds a bin as if made on the dashboard; returns its id (24 hex digits).
  std::string AddBin(std::string record, bool is_private = true);
  // A bin's record as stored (compact JSON), nullopt when unknown.
  std::optional<std::string> Record(const std::string& id) const;
  size_t bin_count() const;

  std::vector<JsonBinRequest> requests() const;
  size_t count(JsonBinRoute route) const;
  // The body of the last request received ("" when none).
  std::string last_body() const;
  // Requests received whose answer has not been sent yet (delayed).
  size_t pending() const;

 private:
  struct Bin {
    std::string record;
    bool is_private = true;
    std::string name;
    std::string created_at;
  };

  void Handle(JsonBinRoute route, const httplib::Request& request,
              httplib::Response& response);
  // The answer for `request` when nothing is scripted.
  void Serve(JsonBinRoute route, const httplib::Request& request,
             const std::string& id, httplib::Response& response);
  bool Sleep(std::chrono::milliseconds delay);
  std::string NewId();

  const Options options_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                  // guarded by mu_
  std::deque<JsonBinAnswer> scripted_;     // guarded by mu_
  std::chrono::milliseconds delay_{0};     // guarded by mu_
  bool quota_exhausted_ = false;           // guarded by mu_
  size_t max_record_bytes_;                // guarded by mu_
  bool ignore_bin_meta_ = false;           // guarded by mu_
  std::map<std::string, Bin> bins_;        // guarded by mu_
  std::vector<JsonBinRequest> requests_;   // guarded by mu_
  size_t pending_ = 0;                     // guarded by mu_
  uint64_t next_id_ = 0x65f0a1b2c3d4e5f6;  // guarded by mu_

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_JSONBIN_SERVER_H_
