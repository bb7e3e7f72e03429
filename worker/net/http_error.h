// HttpError: why an HTTP exchange produced no complete response — a kind the
// caller decides on (retry, pause, fail) and a one-line message for logs. An
// HTTP status of 4xx/5xx is a complete response, not an HttpError.
#ifndef DYNOGUARD_WORKER_NET_HTTP_ERROR_H_
#define DYNOGUARD_WORKER_NET_HTTP_ERROR_H_

#include <string>
#include <string_view>

namespace dynoguard::worker {

enum class HttpErrorKind {
  kNone,  // a complete response arrived (any HTTP status)
  // Nothing was sent to the server for these three: safe to retry any request.
  kResolve,         // the host name did not resolve
  kConnect,         // the TCP connection was refused or the host unreachable
  kConnectTimeout,  // no connection (TCP + TLS) within connect_timeout
  kTls,             // TLS handshake or certificate verification failed
  kTimeout,  // connected, but total_timeout passed before the response ended
  kConnectionLost,  // the server closed or reset the connection mid-exchange
  kProtocol,   // a reply that is not HTTP, or an HTTP/2 stream/framing error
  kTooLarge,   // the response body went above the request's max_body_bytes
  kBodyFile,   // the request's body file could not be read
  kAborted,    // the response sink asked to stop (returned false)
  kCancelled,  // Cancel(), CancelAll() or the client's Close()
  kOther,      // anything else libcurl reports (out of memory, …)
};

// "none", "resolve", "connect", "connect_timeout", "tls", "timeout",
// "connection_lost", "protocol", "too_large", "body_file", "aborted",
// "cancelled", "other": stable names for logs and metrics.
std::string_view HttpErrorKindName(HttpErrorKind kind);

// True for the kinds where the request certainly never reached the server
// (kResolve, kConnect, kConnectTimeout): a non-idempotent call can be retried
// without risk of doing it twice.
bool HttpErrorNothingSent(HttpErrorKind kind);

struct HttpError {
  HttpErrorKind kind = HttpErrorKind::kNone;
  // One line: "<kind>: <what happened>" with the origin and path of the URL
  // (never its query, user info nor any request header). Empty for kNone.
  std::string message;

  bool ok() const { return kind == HttpErrorKind::kNone; }
};

// Maps libcurl's result code (a CURLcode, passed as int so that this header
// does not include curl.h) to a kind. `connected` says whether the connection
// (TCP and, for https, TLS) was established, which tells a connect timeout
// from a total timeout. Pure.
HttpErrorKind ClassifyCurlResult(int curl_code, bool connected);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_NET_HTTP_ERROR_H_
