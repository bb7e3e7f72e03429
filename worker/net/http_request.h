// HttpRequest: one outbound HTTP exchange as the HttpClient takes it — method,
// URL, headers, a body (in memory, streamed from a file, or multipart with
// file parts), where the response body goes, and the timeouts.
#ifndef DYNOGUARD_WORKER_NET_HTTP_REQUEST_H_
#define DYNOGUARD_WORKER_NET_HTTP_REQUEST_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/model/sink_answer.h"
#include "worker/net/http_headers.h"

namespace dynoguard::worker {

enum class HttpMethod { kGet, kPost, kPut, kPatch, kDelete, kHead };

// "GET", "POST", …
std::string_view HttpMethodName(HttpMethod method);

// One part of a multipart/form-data body: a text field (`data`) or a file
// streamed from disk (`file_path`, read as the transfer goes; never whole in
// memory).
struct MultipartPart {
  std::string name;          // the form field name
  std::string data;          // the value, when file_path is empty
  std::string file_path;     // non-empty: stream this regular file as the value
  std::string filename;      // the part's filename=; empty: none for data,
                             // the file's base name for a file
  std::string content_type;  // the part's Content-Type; empty: none (text) /
                             // application/octet-stream (file)

  static MultipartPart Field(std::string name, std::string value) {
    MultipartPart part;
    part.name = std::move(name);
    part.data = std::move(value);
    return part;
  }
  static MultipartPart File(std::string name, std::string path,
                            std::string content_type,
                            std::string filename = "") {
    MultipartPart part;
    part.name = std::move(name);
    part.file_path = std::move(path);
    part.content_type = std::move(content_type);
    part.filename = std::move(filename);
    return part;
  }
};

// Where the response body goes.
struct HttpResponseSink {
  // Called once, before the first on_data call, with the final response's
  // status and headers (not those of a 1xx). Return false to abort the
  // transfer (HttpErrorKind::kAborted). Optional.
  std::function<bool(int status, const HttpHeaders& headers)> on_head;
  // Set: the body is handed over chunk by chunk as it arrives (the response's
  // body stays empty) — no cap applies but the caller's own. kContinue: the
  // chunk is taken. kAbort: the transfer stops (HttpErrorKind::kAborted).
  // kPause: the chunk is not taken and the transfer is paused (its socket
  // is not read, the connection held) until HttpClient::Resume; then the
  // same bytes are handed over again from that chunk's first byte (possibly
  // cut into other pieces), and the answers apply anew. A paused transfer still
  // ends at its total_timeout and with Cancel. Unset: the body is collected
  // into HttpResponse::body, up to max_body_bytes. Neither callback may call
  // into the HttpClient (answer kAbort instead).
  std::function<SinkAnswer(std::string_view chunk)> on_data;
};

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  // http:// or https:// only. A query may carry secrets: it never appears in
  // an error message.
  std::string url;
  // Sent as given. Secrets (Authorization) never appear in error messages.
  // An "Expect: 100-continue" wait is turned off unless a header sets Expect.
  HttpHeaders headers;

  // The body: at most one of `body`, `body_file` and `multipart` is used
  // (Start refuses a request with more than one).
  std::string body;       // sent as is (set Content-Type yourself)
  std::string body_file;  // non-empty: stream this regular file
  std::vector<MultipartPart> multipart;  // non-empty: multipart/form-data

  HttpResponseSink sink;
  // The cap on a collected body (no sink.on_data); a larger body fails with
  // kTooLarge. 0: the client's Options::max_body_bytes.
  uint64_t max_body_bytes = 0;

  // Time to set up the connection (DNS, TCP, TLS); 0: the client's default.
  std::chrono::milliseconds connect_timeout{0};
  // Time for the whole exchange, connecting included; 0: the client's default.
  // Both are capped by the client's Options::max_timeout.
  std::chrono::milliseconds total_timeout{0};
  // Set by an owner that cancels this request itself when it stops (a
  // download streamed at its consumer's pace, paused while the consumer
  // catches up): its total_timeout is capped by the client's
  // Options::max_cancelled_on_stop_timeout instead of max_timeout. The
  // connect timeout keeps max_timeout.
  bool cancelled_on_stop = false;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_HTTP_REQUEST_H_
