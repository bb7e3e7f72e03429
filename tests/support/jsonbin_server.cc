#include "tests/support/jsonbin_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>

namespace dynoguard::testing {

namespace {

constexpr char kPrefix[] = "/v3";

// `text` as a JSON string literal.
std::string JsonString(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string MessageJson(std::string_view message) {
  return R"({"message":)" + JsonString(message) + "}";
}

void Error(httplib::Response& response, int status, std::string_view message) {
  response.status = status;
  response.set_content(MessageJson(message), "application/json");
}

bool IsBinId(const std::string& id) {
  return id.size() == 24 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string NowIso() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return text;
}

// Shuts down every accepted connection of this process on local `port`:
// cpp-httplib would keep an idle keep-alive connection (and Stop with it)
// for up to 5 s. The same scan as graph_api_server.cc's.
void ShutdownAccepted(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0' && fd != dirfd(dir))
      fds.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  for (int fd : fds) {
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t local_len = sizeof(local);
    socklen_t peer_len = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != port)
      continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0)
      shutdown(fd, SHUT_RDWR);
  }
}

std::optional<std::string> Header(const httplib::Request& request,
                                  const char* name) {
  if (!request.has_header(name)) return std::nullopt;
  return request.get_header_value(name);
}

}  // namespace

JsonBinServer::JsonBinServer(Options options)
    : options_(std::move(options)),
      max_record_bytes_(options_.max_record_bytes) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(8); };
  auto route = [this](JsonBinRoute r) {
    return [this, r](const httplib::Request& request,
                     httplib::Response& response) {
      Handle(r, request, response);
    };
  };
  server_->Post(R"(/v3/b/?)", route(JsonBinRoute::kCreate));
  server_->Get(R"(/v3/b/([^/]+)(?:/([^/]+))?)", route(JsonBinRoute::kRead));
  server_->Put(R"(/v3/b/([^/]+))", route(JsonBinRoute::kUpdate));
  for (const char* any : {".*"}) {
    server_->Get(any, route(JsonBinRoute::kOther));
    server_->Post(any, route(JsonBinRoute::kOther));
    server_->Put(any, route(JsonBinRoute::kOther));
    server_->Delete(any, route(JsonBinRoute::kOther));
  }
  port_ = server_->bind_to_any_port("127.0.0.1");
  REQUIRE(port_ > 0);
  httplib::Server* raw = server_.get();
  thread_ = std::thread([raw] {
    // A write to a connection the client closed must give EPIPE, not kill
    // the test process.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    raw->listen_after_bind();
  });
  // stop() only works once the accept loop runs.
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

JsonBinServer::~JsonBinServer() { Stop(); }

std::string JsonBinServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + kPrefix;
}

void JsonBinServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_->stop();
  ShutdownAccepted(port_);
  if (thread_.joinable()) thread_.join();
  server_.reset();  // joins the handler threads
}

void JsonBinServer::FailNext(int count, JsonBinAnswer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < count; ++i) scripted_.push_back(answer);
}

void JsonBinServer::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = delay;
}

void JsonBinServer::SetQuotaExhausted(bool exhausted) {
  std::lock_guard<std::mutex> lock(mu_);
  quota_exhausted_ = exhausted;
}

void JsonBinServer::SetMaxRecordBytes(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_record_bytes_ = bytes;
}

void JsonBinServer::SetIgnoreBinMeta(bool ignore) {
  std::lock_guard<std::mutex> lock(mu_);
  ignore_bin_meta_ = ignore;
}

std::string JsonBinServer::NewId() {
  return fmt::format("{:024x}", next_id_++);
}

std::string JsonBinServer::AddBin(std::string record, bool is_private) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = NewId();
  bins_[id] = Bin{std::move(record), is_private, "", NowIso()};
  return id;
}

std::optional<std::string> JsonBinServer::Record(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bins_.find(id);
  if (it == bins_.end()) return std::nullopt;
  return it->second.record;
}

size_t JsonBinServer::bin_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bins_.size();
}

std::vector<JsonBinRequest> JsonBinServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t JsonBinServer::count(JsonBinRoute route) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(
      requests_.begin(), requests_.end(),
      [route](const JsonBinRequest& r) { return r.route == route; }));
}

std::string JsonBinServer::last_body() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.empty() ? "" : requests_.back().body;
}

size_t JsonBinServer::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

bool JsonBinServer::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void JsonBinServer::Handle(JsonBinRoute route, const httplib::Request& request,
                           httplib::Response& response) {
  JsonBinRequest record;
  record.route = route;
  record.method = request.method;
  record.path = request.path;
  record.master_key = Header(request, "X-Master-Key");
  record.access_key = Header(request, "X-Access-Key");
  record.content_type = request.get_header_value("Content-Type");
  record.bin_private = Header(request, "X-Bin-Private");
  record.bin_name = Header(request, "X-Bin-Name");
  record.bin_meta = Header(request, "X-Bin-Meta");
  record.body = request.body;
  size_t index = 0;
  std::chrono::milliseconds delay{0};
  std::optional<JsonBinAnswer> scripted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = requests_.size();
    requests_.push_back(std::move(record));
    ++pending_;
    delay = delay_;
    if (!scripted_.empty()) {
      scripted = std::move(scripted_.front());
      scripted_.pop_front();
    }
  }
  if (delay.count() > 0) Sleep(delay);
  if (scripted) {
    Error(response, scripted->status, scripted->message);
    if (!scripted->retry_after.empty())
      response.set_header("Retry-After", scripted->retry_after);
  } else {
    const std::string id =
        request.matches.size() > 1 ? request.matches[1].str() : "";
    Serve(route, request, id, response);
  }
  std::lock_guard<std::mutex> lock(mu_);
  requests_[index].status = response.status;
  --pending_;
}

void JsonBinServer::Serve(JsonBinRoute route, const httplib::Request& request,
                          const std::string& id, httplib::Response& response) {
  if (route == JsonBinRoute::kOther) {
    Error(response, 404, "Route not found!");
    return;
  }
  if (route == JsonBinRoute::kRead && request.matches.size() > 2 &&
      request.matches[2].matched) {
    const std::string version = request.matches[2].str();
    if (version != "latest" &&
        !std::all_of(version.begin(), version.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      Error(response, 400, "Invalid Bin Version provided");
      return;
    }
  }
  const bool writes = route != JsonBinRoute::kRead;
  if (writes &&
      request.get_header_value("Content-Type").rfind("application/json", 0) !=
          0) {
    Error(response, 400,
          "You need to pass Content-Type set to application/json");
    return;
  }
  if (route != JsonBinRoute::kCreate && !IsBinId(id)) {
    Error(response, 400, "Invalid Bin Id provided");
    return;
  }
  const auto master = Header(request, "X-Master-Key");
  const auto access = Header(request, "X-Access-Key");
  bool authorized = false;
  if (master) {
    if (*master != options_.master_key) {
      Error(response, 401, "Invalid X-Master-Key provided");
      return;
    }
    authorized = true;
  } else if (access) {
    if (*access != options_.access_key) {
      Error(response, 401, "Invalid X-Access-Key provided");
      return;
    }
    authorized = true;
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (quota_exhausted_) {
    Error(response, 403,
          "Requests exhausted. You can buy additional requests at "
          "https://jsonbin.io/pricing");
    return;
  }
  if (route == JsonBinRoute::kCreate && !authorized) {
    Error(response, 401, "You need to pass X-Master-Key in the header");
    return;
  }
  Bin* bin = nullptr;
  if (route != JsonBinRoute::kCreate) {
    auto it = bins_.find(id);
    if (it == bins_.end()) {
      Error(response, 404,
            "Bin not found or it doesn't belong to your account");
      return;
    }
    bin = &it->second;
    if (bin->is_private && !authorized) {
      Error(response, 401,
            route == JsonBinRoute::kRead
                ? "You need to pass X-Master-Key in the header to read a "
                  "private bin"
                : "You need to pass X-Master-Key in the header to update a "
                  "private bin");
      return;
    }
  }

  if (route == JsonBinRoute::kRead) {
    const bool meta =
        ignore_bin_meta_ || request.get_header_value("X-Bin-Meta") != "false";
    if (!meta) {
      response.set_content(bin->record, "application/json");
      return;
    }
    response.set_content(
        fmt::format(R"({{"record":{},"metadata":{{"id":"{}","private":{},)"
                    R"("createdAt":"{}"}}}})",
                    bin->record, id, bin->is_private, bin->created_at),
        "application/json");
    return;
  }

  // Create and update: the body is the record.
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(request.body.data(),
                                            request.body.size());
  if (request.body.empty() ||
      (!doc.HasParseError() && ((doc.IsObject() && doc.ObjectEmpty()) ||
                                (doc.IsArray() && doc.Empty())))) {
    Error(response, 400, "Bin cannot be blank");
    return;
  }
  if (doc.HasParseError() || !(doc.IsObject() || doc.IsArray())) {
    Error(response, 400, "Invalid JSON. Please try again");
    return;
  }
  if (request.body.size() > max_record_bytes_) {
    Error(
        response, 403,
        fmt::format("Bin size limit exceeded: a record can be at most {} "
                    "bytes on your plan. Upgrade at https://jsonbin.io/pricing",
                    max_record_bytes_));
    return;
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  std::string compact(buffer.GetString(), buffer.GetSize());

  if (route == JsonBinRoute::kCreate) {
    const auto private_header = Header(request, "X-Bin-Private");
    const bool is_private = !private_header || *private_header != "false";
    std::string name = request.get_header_value("X-Bin-Name");
    if (name.size() > 128) {
      Error(response, 400, "X-Bin-Name cannot be longer than 128 characters");
      return;
    }
    std::string new_id = NewId();
    Bin created{compact, is_private, name, NowIso()};
    const std::string name_json =
        name.empty() ? "" : R"(,"name":)" + JsonString(name);
    response.set_content(
        fmt::format(R"({{"record":{},"metadata":{{"id":"{}","createdAt":"{}",)"
                    R"("private":{}{}}}}})",
                    compact, new_id, created.created_at, is_private, name_json),
        "application/json");
    bins_[new_id] = std::move(created);
    return;
  }
  bin->record = compact;
  response.set_content(
      fmt::format(
          R"({{"record":{},"metadata":{{"parentId":"{}","private":{}}}}})",
          compact, id, bin->is_private),
      "application/json");
}

}  // namespace dynoguard::testing
