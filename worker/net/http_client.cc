#include "worker/net/http_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "worker/net/curl_global.h"

namespace dynoguard::worker {

// A file streamed as a request body (raw or one multipart part): read with
// pread at our own offset so that libcurl can rewind it (a redirect, an
// HTTP/2 retry) through the seek callback.
struct FileSource {
  std::string path;
  common::UniqueFd fd;
  curl_off_t size = 0;
  curl_off_t offset = 0;
  std::string error;  // set when a read failed: "read <path>: <strerror>"
};

struct HttpClient::Transfer {
  HttpRequestId id = 0;
  CURL* easy = nullptr;
  CURLM* multi = nullptr;  // set while the easy handle is added to it
  Callback done;
  HttpRequest request;  // owns the body and the sink for libcurl's callbacks
  curl_slist* header_list = nullptr;
  curl_mime* mime = nullptr;
  std::vector<std::unique_ptr<FileSource>> files;
  uint64_t max_body = 0;
  std::string where;  // "GET http://host:port/path", no query
  bool https = false;
  std::vector<std::string> secrets;  // scrubbed from every message
  HttpResponse response;
  bool head_delivered = false;
  bool paused = false;  // the sink answered kPause; waiting for Resume
  HttpErrorKind local_error = HttpErrorKind::kNone;  // set by our callbacks
  std::string local_message;
  HttpClient* client = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (multi != nullptr) curl_multi_remove_handle(multi, easy);
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_mime_free(mime);  // after the easy handle that used it
    curl_slist_free_all(header_list);
  }
};

// One socket libcurl asked us to watch. Freed in its uv_close callback.
struct HttpClient::SocketWatch {
  uv_poll_t poll;
  curl_socket_t fd = CURL_SOCKET_BAD;
  HttpClient* client = nullptr;
};

// The client's own uv handles, freed once both close callbacks ran (the
// client may be gone by then).
struct HttpClient::LoopHandles {
  uv_timer_t timer;
  uv_async_t async;
  int open = 0;
};

namespace {

CURLM* AsMulti(void* multi) { return static_cast<CURLM*>(multi); }

std::string ScrubSecrets(std::string message,
                         const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4)
      continue;  // too short to mean anything, too common to cut
    for (size_t at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at)) {
      message.replace(at, secret.size(), "[redacted]");
    }
  }
  return message;
}

// Checks the URL with libcurl's own parser and describes it for messages as
// scheme://host[:port]/path; the query, fragment and user info are left out
// and collected into `secrets`.
common::Result<std::string> DescribeUrl(const std::string& url,
                                        std::vector<std::string>& secrets) {
  CURLU* u = curl_url();
  if (u == nullptr) return common::Status::Internal("curl_url: out of memory");
  struct Free {
    CURLU* u;
    ~Free() { curl_url_cleanup(u); }
  } free_u{u};
  const CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
  if (rc != CURLUE_OK) {
    return common::Status::InvalidArgument(std::string("url: ") +
                                           curl_url_strerror(rc));
  }
  auto part = [&](CURLUPart which) -> std::string {
    char* value = nullptr;
    if (curl_url_get(u, which, &value, 0) != CURLUE_OK || value == nullptr)
      return "";
    std::string out(value);
    curl_free(value);
    return out;
  };
  const std::string scheme = part(CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return common::Status::InvalidArgument(
        "url: only http and https are supported");
  }
  for (CURLUPart secret_part : {CURLUPART_QUERY, CURLUPART_USER,
                                CURLUPART_PASSWORD, CURLUPART_FRAGMENT}) {
    std::string value = part(secret_part);
    if (!value.empty()) secrets.push_back(std::move(value));
  }
  std::string described = scheme + "://" + part(CURLUPART_HOST);
  const std::string port = part(CURLUPART_PORT);
  if (!port.empty()) described += ":" + port;
  described += part(CURLUPART_PATH);
  return described;
}

bool HasLineBreak(std::string_view s) {
  return s.find('\r') != std::string_view::npos ||
         s.find('\n') != std::string_view::npos ||
         s.find('\0') != std::string_view::npos;
}

// Headers whose values are kept out of every message: Authorization,
// Cookie, X-Master-Key (JSONBin), X-Hub-Signature-256 and the like.
bool IsSecretHeader(std::string_view name) {
  std::string lower(name);
  for (char& c : lower)
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  for (std::string_view word :
       {"auth", "cookie", "key", "token", "secret", "signature"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

common::Result<std::unique_ptr<FileSource>> OpenFileSource(
    const std::string& path) {
  auto source = std::make_unique<FileSource>();
  source->path = path;
  source->fd = common::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!source->fd) {
    return common::Status::InvalidArgument("body file " + path + ": " +
                                           std::strerror(errno));
  }
  struct stat st = {};
  if (::fstat(source->fd.get(), &st) != 0) {
    return common::Status::InvalidArgument("body file " + path + ": " +
                                           std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return common::Status::InvalidArgument("body file " + path +
                                           ": not a regular file");
  }
  source->size = static_cast<curl_off_t>(st.st_size);
  return source;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

// ---------------------------------------------------------------------------
// libcurl's per-transfer callbacks. They run inside curl_multi_socket_action.

namespace {

size_t ReadFile(char* buffer, size_t size, size_t count, void* arg) {
  auto* source = static_cast<FileSource*>(arg);
  const size_t want = size * count;
  for (;;) {
    const ssize_t n = ::pread(source->fd.get(), buffer, want, source->offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      source->error = "read " + source->path + ": " + std::strerror(errno);
      return CURL_READFUNC_ABORT;
    }
    if (n == 0 && source->offset < source->size) {
      source->error =
          "read " + source->path + ": the file shrank while being sent";
      return CURL_READFUNC_ABORT;
    }
    source->offset += n;
    return static_cast<size_t>(n);
  }
}

int SeekFile(void* arg, curl_off_t offset, int origin) {
  auto* source = static_cast<FileSource*>(arg);
  if (origin != SEEK_SET || offset < 0 || offset > source->size)
    return CURL_SEEKFUNC_FAIL;
  source->offset = offset;
  return CURL_SEEKFUNC_OK;
}

}  // namespace

namespace {

size_t OnHeaderLine(char* buffer, size_t size, size_t count, void* arg) {
  auto* headers = static_cast<HttpHeaders*>(arg);
  const std::string_view line(buffer, size * count);
  // A new status line starts a new response (after a 100 Continue or a
  // redirect): only the final response's fields are kept.
  if (ParseHeaderLine(line, *headers)) headers->Clear();
  return size * count;
}

}  // namespace

// ---------------------------------------------------------------------------

common::Result<std::unique_ptr<HttpClient>> HttpClient::Create(
    uv_loop_t* loop, Options options) {
  if (common::Status s = EnsureCurlInitialized(); !s.ok()) return s;
  std::unique_ptr<HttpClient> client(new HttpClient(loop, std::move(options)));
  if (common::Status s = client->Init(); !s.ok()) return s;
  return client;
}

HttpClient::HttpClient(uv_loop_t* loop, Options options)
    : loop_(loop), options_(std::move(options)) {}

common::Status HttpClient::Init() {
  auto* handles = new LoopHandles();
  if (int rc = uv_timer_init(loop_, &handles->timer); rc != 0) {
    delete handles;
    return common::Status::Internal(std::string("uv_timer_init: ") +
                                    uv_strerror(rc));
  }
  handles->open = 1;
  if (int rc = uv_async_init(loop_, &handles->async, &HttpClient::OnAsync);
      rc != 0) {
    closed_ = true;
    post_open_ = false;
    handles->timer.data = handles;
    uv_close(reinterpret_cast<uv_handle_t*>(&handles->timer),
             &HttpClient::OnHandleClosed);
    return common::Status::Internal(std::string("uv_async_init: ") +
                                    uv_strerror(rc));
  }
  handles->open = 2;
  handles->timer.data = this;
  handles->async.data = this;
  handles_ = handles;
  // Nothing waits on the async handle until a Post: it must not keep a loop
  // alive that has nothing else to do.
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles->async));
  return common::Status::Ok();
}

void HttpClient::OnHandleClosed(uv_handle_t* handle) {
  auto* owner = static_cast<LoopHandles*>(handle->data);
  if (--owner->open == 0) delete owner;
}

HttpClient::~HttpClient() { Close(); }

common::Status HttpClient::EnsureMulti() {
  if (multi_ != nullptr) return common::Status::Ok();
  CURLM* multi = curl_multi_init();
  if (multi == nullptr)
    return common::Status::Internal("curl_multi_init failed");
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &HttpClient::OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &HttpClient::OnTimerChange);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options_.max_idle_connections);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    options_.max_host_connections);
  curl_multi_setopt(multi, CURLMOPT_PIPELINING,
                    static_cast<long>(CURLPIPE_MULTIPLEX));
  multi_ = multi;
  return common::Status::Ok();
}

// Drops the multi handle and with it every cached connection. REQUIRES: no
// transfer is added to it.
void HttpClient::ResetMulti() {
  if (multi_ == nullptr) return;
  CURLM* multi = AsMulti(multi_);
  // Sockets still watched (none when idle) stop being polled before libcurl
  // closes them, and no callback reaches us while it tears its connections
  // down.
  std::vector<SocketWatch*> left;
  for (auto& [watch, fd] : watches_) left.push_back(watch);
  watches_.clear();
  for (SocketWatch* watch : left) {
    uv_poll_stop(&watch->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll),
             [](uv_handle_t* h) { delete static_cast<SocketWatch*>(h->data); });
  }
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, nullptr);
  curl_multi_cleanup(multi);
  multi_ = nullptr;
  if (handles_ != nullptr) uv_timer_stop(&handles_->timer);
}

void HttpClient::MaybeResetIdleMulti() {
  if (!reset_when_idle_ || !transfers_.empty() || dispatching_ > 0 ||
      curl_depth_ > 0)
    return;
  reset_when_idle_ = false;
  ResetMulti();
}

bool HttpClient::CloseIdleConnections() {
  reset_when_idle_ = true;
  MaybeResetIdleMulti();
  return !reset_when_idle_;
}

common::Result<HttpRequestId> HttpClient::Start(HttpRequest request,
                                                Callback done) {
  if (curl_depth_ > 0) {
    return common::Status::Internal(
        "HttpClient::Start called from a sink callback");
  }
  if (closed_) return common::Status::Unavailable("http client closed");

  auto transfer = std::make_unique<Transfer>();
  transfer->client = this;
  auto where = DescribeUrl(request.url, transfer->secrets);
  if (!where.ok()) return where.status();
  transfer->where = std::string(HttpMethodName(request.method)) + " " + *where;
  const bool https = where->rfind("https:", 0) == 0;
  transfer->https = https;

  const int bodies = (request.body.empty() ? 0 : 1) +
                     (request.body_file.empty() ? 0 : 1) +
                     (request.multipart.empty() ? 0 : 1);
  if (bodies > 1) {
    return common::Status::InvalidArgument(
        "request: set one of body, body_file and multipart, not several");
  }
  if (bodies > 0 && (request.method == HttpMethod::kGet ||
                     request.method == HttpMethod::kHead)) {
    return common::Status::InvalidArgument(
        "request: a GET or HEAD request has no body");
  }
  for (const auto& [name, value] : request.headers.fields()) {
    if (name.empty() || HasLineBreak(name) ||
        name.find(':') != std::string::npos ||
        name.find(' ') != std::string::npos || HasLineBreak(value)) {
      return common::Status::InvalidArgument(
          "request: invalid header field name or value");
    }
    if (IsSecretHeader(name)) {
      transfer->secrets.push_back(value);
      const size_t space =
          value.find(' ');  // "Bearer <token>": the token alone too
      if (space != std::string::npos)
        transfer->secrets.push_back(value.substr(space + 1));
    }
  }

  if (common::Status s = EnsureMulti(); !s.ok()) return s;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return common::Status::Internal("curl_easy_init failed");
  transfer->easy = easy;
  transfer->request = std::move(request);
  HttpRequest& req = transfer->request;

  // Timeouts: always explicit, never above the ceiling.
  auto clamp = [](std::chrono::milliseconds asked,
                  std::chrono::milliseconds fallback,
                  std::chrono::milliseconds ceiling) {
    const std::chrono::milliseconds t = asked.count() > 0 ? asked : fallback;
    return std::max<long>(1, static_cast<long>(std::min(t, ceiling).count()));
  };
  const long connect_ms = clamp(req.connect_timeout, options_.connect_timeout,
                                options_.max_timeout);
  const long total_ms =
      clamp(req.total_timeout, options_.total_timeout,
            req.cancelled_on_stop ? options_.max_cancelled_on_stop_timeout
                                  : options_.max_timeout);
  transfer->max_body =
      req.max_body_bytes > 0 ? req.max_body_bytes : options_.max_body_bytes;

  curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty())
    curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, total_ms);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  // Over TLS, wait for a connection being set up that may turn out to speak
  // HTTP/2 rather than open a second one. Not over plain http, which is
  // HTTP/1.1 here: there the wait would queue requests behind a hung one.
  if (https) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->errbuf);
  if (!req.headers.Contains("User-Agent")) {
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer->response.headers);
  curl_easy_setopt(
      easy, CURLOPT_WRITEFUNCTION,
      +[](char* data, size_t size, size_t count, void* arg) -> size_t {
        return static_cast<Transfer*>(arg)->client->OnBody(
            static_cast<Transfer*>(arg), std::string_view(data, size * count));
      });
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  if (req.sink.on_data == nullptr) {
    // Refused from Content-Length before any byte when it announces too much.
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(transfer->max_body));
  }

  // Headers. libcurl's own "Expect: 100-continue" (for bodies above 1 MB)
  // costs a round trip or a second's wait on servers that ignore it.
  curl_slist* list = nullptr;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next != nullptr) list = next;
    return next != nullptr;
  };
  bool headers_ok = true;
  if (!req.headers.Contains("Expect")) headers_ok &= append("Expect:");
  for (const auto& [name, value] : req.headers.fields()) {
    // "Name;" is libcurl's way to send a header with an empty value.
    headers_ok &= append(value.empty() ? name + ";" : name + ": " + value);
  }
  transfer->header_list = list;
  if (!headers_ok)
    return common::Status::Internal("curl_slist_append: out of memory");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);

  // Method and body.
  const char* custom = nullptr;
  switch (req.method) {
    case HttpMethod::kGet:
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
      break;
    case HttpMethod::kHead:
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
      break;
    case HttpMethod::kPost:
      break;
    case HttpMethod::kPut:
    case HttpMethod::kPatch:
    case HttpMethod::kDelete:
      custom = HttpMethodName(req.method).data();
      break;
  }
  const bool has_body_method =
      req.method != HttpMethod::kGet && req.method != HttpMethod::kHead;
  if (!req.multipart.empty()) {
    curl_mime* mime = curl_mime_init(easy);
    transfer->mime = mime;
    if (mime == nullptr)
      return common::Status::Internal("curl_mime_init failed");
    for (const MultipartPart& spec : req.multipart) {
      if (spec.name.empty()) {
        return common::Status::InvalidArgument(
            "request: a multipart part without a name");
      }
      curl_mimepart* part = curl_mime_addpart(mime);
      if (part == nullptr)
        return common::Status::Internal("curl_mime_addpart failed");
      curl_mime_name(part, spec.name.c_str());
      if (!spec.file_path.empty()) {
        auto source = OpenFileSource(spec.file_path);
        if (!source.ok()) return source.status();
        FileSource* raw = source->get();
        transfer->files.push_back(std::move(source).value());
        curl_mime_data_cb(part, raw->size, &ReadFile, &SeekFile, nullptr, raw);
        const std::string filename =
            spec.filename.empty() ? BaseName(spec.file_path) : spec.filename;
        curl_mime_filename(part, filename.c_str());
        curl_mime_type(part, spec.content_type.empty()
                                 ? "application/octet-stream"
                                 : spec.content_type.c_str());
      } else {
        curl_mime_data(part, spec.data.data(), spec.data.size());
        if (!spec.filename.empty())
          curl_mime_filename(part, spec.filename.c_str());
        if (!spec.content_type.empty())
          curl_mime_type(part, spec.content_type.c_str());
      }
    }
    curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
  } else if (!req.body_file.empty()) {
    auto source = OpenFileSource(req.body_file);
    if (!source.ok()) return source.status();
    FileSource* raw = source->get();
    transfer->files.push_back(std::move(source).value());
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, raw->size);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &ReadFile);
    curl_easy_setopt(easy, CURLOPT_READDATA, raw);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &SeekFile);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, raw);
  } else if (has_body_method &&
             (req.method != HttpMethod::kDelete || !req.body.empty())) {
    // POSTFIELDS points into the request the transfer owns: no copy.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
  }
  if (custom != nullptr) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, custom);

  const HttpRequestId id = next_id_++;
  transfer->id = id;
  transfer->done = std::move(done);
  if (CURLMcode rc = curl_multi_add_handle(AsMulti(multi_), easy);
      rc != CURLM_OK) {
    return common::Status::Internal(std::string("curl_multi_add_handle: ") +
                                    curl_multi_strerror(rc));
  }
  transfer->multi = AsMulti(multi_);
  transfers_.emplace(id, std::move(transfer));
  return id;
}

size_t HttpClient::OnBody(Transfer* transfer, std::string_view chunk) {
  HttpResponseSink& sink = transfer->request.sink;
  // Already stopped (a redelivery after Resume failed, see Resume): libcurl
  // may still have bytes to hand over; none reaches the sink.
  if (transfer->local_error != HttpErrorKind::kNone)
    return CURL_WRITEFUNC_ERROR;
  if (!transfer->head_delivered) {
    transfer->head_delivered = true;
    if (sink.on_head) {
      long status = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
      if (!sink.on_head(static_cast<int>(status), transfer->response.headers)) {
        transfer->local_error = HttpErrorKind::kAborted;
        transfer->local_message = "the response sink stopped the transfer";
        return CURL_WRITEFUNC_ERROR;
      }
    }
  }
  if (sink.on_data) {
    switch (sink.on_data(chunk)) {
      case SinkAnswer::kContinue:
        return chunk.size();
      case SinkAnswer::kPause:
        // libcurl keeps the chunk and hands it over again after
        // curl_easy_pause(CURLPAUSE_CONT) (Resume).
        transfer->paused = true;
        return CURL_WRITEFUNC_PAUSE;
      case SinkAnswer::kAbort:
        break;
    }
    transfer->local_error = HttpErrorKind::kAborted;
    transfer->local_message = "the response sink stopped the transfer";
    return CURL_WRITEFUNC_ERROR;
  }
  std::string& body = transfer->response.body;
  if (chunk.size() > transfer->max_body ||
      body.size() > transfer->max_body - chunk.size()) {
    transfer->local_error = HttpErrorKind::kTooLarge;
    transfer->local_message =
        "response body above " + std::to_string(transfer->max_body) + " bytes";
    return CURL_WRITEFUNC_ERROR;
  }
  body.append(chunk);
  return chunk.size();
}

bool HttpClient::Resume(HttpRequestId id) {
  if (curl_depth_ > 0) return false;
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return false;
  Transfer* transfer = it->second.get();
  if (!transfer->paused) return true;
  transfer->paused = false;
  // curl_easy_pause hands the kept chunk to the write callback from within
  // (which may pause again): it counts as a libcurl call.
  ++curl_depth_;
  const CURLcode rc = curl_easy_pause(transfer->easy, CURLPAUSE_CONT);
  --curl_depth_;
  if (rc != CURLE_OK && transfer->local_error == HttpErrorKind::kNone) {
    // The redelivery failed inside curl_easy_pause, which libcurl does not
    // turn into the transfer's result: Finish reports it (and OnBody refuses
    // whatever else comes).
    transfer->local_error = HttpErrorKind::kAborted;
    transfer->local_message = std::string("resume: ") + curl_easy_strerror(rc);
  }
  // curl_easy_pause asks for a timeout of 0 (run now) through the timer
  // callback; start the timer ourselves too, so the transfer is driven from
  // the loop even when it did not (its socket is not readable: the bytes may
  // already sit in libcurl's buffers).
  if (handles_ != nullptr)
    uv_timer_start(&handles_->timer, &HttpClient::OnTimer, 0, 0);
  return true;
}

size_t HttpClient::paused() const {
  return static_cast<size_t>(
      std::count_if(transfers_.begin(), transfers_.end(),
                    [](const auto& entry) { return entry.second->paused; }));
}

bool HttpClient::Cancel(HttpRequestId id) {
  if (curl_depth_ > 0) return false;
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return false;
  std::unique_ptr<Transfer> transfer = std::move(it->second);
  transfers_.erase(it);
  FinishCancelled(std::move(transfer));
  MaybeResetIdleMulti();
  return true;
}

void HttpClient::CancelAll() {
  if (curl_depth_ > 0) return;
  std::vector<std::unique_ptr<Transfer>> cancelled;
  cancelled.reserve(transfers_.size());
  for (auto& [id, transfer] : transfers_)
    cancelled.push_back(std::move(transfer));
  transfers_.clear();
  std::sort(cancelled.begin(), cancelled.end(),
            [](const auto& a, const auto& b) { return a->id < b->id; });
  // Every handle leaves the multi before the first callback runs: a callback
  // may Close() the client, which frees the multi handle.
  for (auto& transfer : cancelled) {
    if (transfer->multi != nullptr) {
      curl_multi_remove_handle(transfer->multi, transfer->easy);
      transfer->multi = nullptr;
    }
  }
  for (auto& transfer : cancelled) FinishCancelled(std::move(transfer));
  MaybeResetIdleMulti();
}

void HttpClient::FinishCancelled(std::unique_ptr<Transfer> transfer) {
  Callback done = std::move(transfer->done);
  HttpResponse response;
  response.error.kind = HttpErrorKind::kCancelled;
  response.error.message = "cancelled: " + transfer->where;
  transfer.reset();  // removes the easy handle from the multi, frees it
  if (done) done(std::move(response));
}

void HttpClient::ProcessCompletions() {
  ++dispatching_;
  int left = 0;
  while (multi_ != nullptr) {
    CURLMsg* msg = curl_multi_info_read(AsMulti(multi_), &left);
    if (msg == nullptr) break;
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;
    Transfer* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
    if (raw == nullptr) continue;
    auto it = transfers_.find(raw->id);
    if (it == transfers_.end()) continue;
    std::unique_ptr<Transfer> transfer = std::move(it->second);
    transfers_.erase(it);
    Finish(std::move(transfer), code);
  }
  --dispatching_;
  MaybeResetIdleMulti();
}

void HttpClient::Finish(std::unique_ptr<Transfer> transfer, int curl_code) {
  CURL* easy = transfer->easy;
  HttpResponse response = std::move(transfer->response);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  if (version == CURL_HTTP_VERSION_2_0) {
    response.http_version = "2";
  } else if (version == CURL_HTTP_VERSION_1_1) {
    response.http_version = "1.1";
  } else if (version == CURL_HTTP_VERSION_1_0) {
    response.http_version = "1.0";
  }
  curl_off_t total_us = 0;
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
  response.total_time = std::chrono::microseconds(total_us);

  const auto code = static_cast<CURLcode>(curl_code);
  HttpErrorKind kind = HttpErrorKind::kNone;
  std::string detail;
  if (transfer->local_error != HttpErrorKind::kNone) {
    // Also with CURLE_OK: a failed redelivery on Resume.
    kind = transfer->local_error;
    detail = transfer->local_message;
  } else if (code != CURLE_OK) {
    std::string file_error;
    for (const auto& file : transfer->files) {
      if (!file->error.empty()) file_error = file->error;
    }
    // Connected: the request may have reached the server. Conservative:
    // bytes of a request sent, or TCP (and TLS for https) up.
    curl_off_t connect_us = 0;
    curl_off_t appconnect_us = 0;
    long request_size = 0;
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &appconnect_us);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
    const bool connected =
        request_size > 0 ||
        (connect_us > 0 && (!transfer->https || appconnect_us > 0));
    kind = file_error.empty() ? ClassifyCurlResult(code, connected)
                              : HttpErrorKind::kBodyFile;
    if (!file_error.empty()) {
      detail = file_error;
    } else if (code == CURLE_FILESIZE_EXCEEDED) {
      detail = "response body above " + std::to_string(transfer->max_body) +
               " bytes";
    } else {
      detail = transfer->errbuf[0] != '\0' ? transfer->errbuf
                                           : curl_easy_strerror(code);
    }
  }
  if (kind != HttpErrorKind::kNone) {
    response.error.kind = kind;
    response.error.message =
        ScrubSecrets(std::string(HttpErrorKindName(kind)) + ": " +
                         transfer->where + ": " + detail,
                     transfer->secrets);
  } else if (!transfer->head_delivered && transfer->request.sink.on_head) {
    // No body came: the head is handed over now (its answer changes nothing).
    transfer->head_delivered = true;
    (void)transfer->request.sink.on_head(response.status, response.headers);
  }
  Callback done = std::move(transfer->done);
  transfer.reset();  // removes the easy handle from the multi, frees it
  if (done) done(std::move(response));
}

bool HttpClient::Post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(post_mu_);
  if (!post_open_ || handles_ == nullptr) return false;
  posted_.push_back(std::move(task));
  // Under the lock: Close() takes it before it closes the async handle.
  uv_async_send(&handles_->async);
  return true;
}

void HttpClient::RunPosted() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) {
    if (closed_) break;
    task();
  }
}

void HttpClient::Close() {
  if (closed_) return;
  assert(curl_depth_ == 0 && "HttpClient::Close called from a sink callback");
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    post_open_ = false;
    posted_.clear();
  }
  CancelAll();
  ResetMulti();
  LoopHandles* handles = std::exchange(handles_, nullptr);
  if (handles == nullptr) return;
  handles->timer.data = handles;
  handles->async.data = handles;
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->timer),
           &HttpClient::OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->async),
           &HttpClient::OnHandleClosed);
}

// ---------------------------------------------------------------------------
// libcurl's multi callbacks and the uv handles that drive it.

int HttpClient::OnSocket(void* /*easy*/, int fd, int what, void* client_arg,
                         void* watch_arg) {
  auto* client = static_cast<HttpClient*>(client_arg);
  auto* watch = static_cast<SocketWatch*>(watch_arg);
  if (what == CURL_POLL_REMOVE) {
    if (watch != nullptr) {
      client->watches_.erase(watch);
      curl_multi_assign(AsMulti(client->multi_), fd, nullptr);
      uv_poll_stop(&watch->poll);
      uv_close(
          reinterpret_cast<uv_handle_t*>(&watch->poll),
          [](uv_handle_t* h) { delete static_cast<SocketWatch*>(h->data); });
    }
    return 0;
  }
  if (watch == nullptr) {
    watch = new SocketWatch();
    watch->fd = fd;
    watch->client = client;
    if (uv_poll_init_socket(client->loop_, &watch->poll, fd) != 0) {
      delete watch;
      return -1;  // libcurl fails the transfers on this socket
    }
    watch->poll.data = watch;
    client->watches_.emplace(watch, fd);
    curl_multi_assign(AsMulti(client->multi_), fd, watch);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  if (events == 0) {
    uv_poll_stop(&watch->poll);
  } else {
    uv_poll_start(&watch->poll, events, &HttpClient::OnPoll);
  }
  return 0;
}

int HttpClient::OnTimerChange(void* /*multi*/, long timeout_ms,
                              void* client_arg) {
  auto* client = static_cast<HttpClient*>(client_arg);
  if (client->handles_ == nullptr) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&client->handles_->timer);
  } else {
    // 0 means "now": the timer fires on this loop iteration's timer phase or
    // the next one, never from inside this libcurl call.
    uv_timer_start(&client->handles_->timer, &HttpClient::OnTimer,
                   static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpClient::OnPoll(uv_poll_t* poll, int status, int events) {
  auto* watch = static_cast<SocketWatch*>(poll->data);
  HttpClient* client = watch->client;
  if (client->multi_ == nullptr) return;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  ++client->curl_depth_;
  curl_multi_socket_action(AsMulti(client->multi_), watch->fd, flags, &running);
  --client->curl_depth_;
  client->ProcessCompletions();
}

void HttpClient::OnTimer(uv_timer_t* timer) {
  auto* client = static_cast<HttpClient*>(timer->data);
  if (client->multi_ == nullptr) return;
  int running = 0;
  ++client->curl_depth_;
  curl_multi_socket_action(AsMulti(client->multi_), CURL_SOCKET_TIMEOUT, 0,
                           &running);
  --client->curl_depth_;
  client->ProcessCompletions();
}

void HttpClient::OnAsync(uv_async_t* async) {
  static_cast<HttpClient*>(async->data)->RunPosted();
}

}  // namespace dynoguard::worker
