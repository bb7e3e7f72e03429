#include "worker/net/http_error.h"

#include <curl/curl.h>

namespace dynoguard::worker {

std::string_view HttpErrorKindName(HttpErrorKind kind) {
  switch (kind) {
    case HttpErrorKind::kNone:
      return "none";
    case HttpErrorKind::kResolve:
      return "resolve";
    case HttpErrorKind::kConnect:
      return "connect";
    case HttpErrorKind::kConnectTimeout:
      return "connect_timeout";
    case HttpErrorKind::kTls:
      return "tls";
    case HttpErrorKind::kTimeout:
      return "timeout";
    case HttpErrorKind::kConnectionLost:
      return "connection_lost";
    case HttpErrorKind::kProtocol:
      return "protocol";
    case HttpErrorKind::kTooLarge:
      return "too_large";
    case HttpErrorKind::kBodyFile:
      return "body_file";
    case HttpErrorKind::kAborted:
      return "aborted";
    case HttpErrorKind::kCancelled:
      return "cancelled";
    case HttpErrorKind::kOther:
      return "other";
  }
  return "other";
}

bool HttpErrorNothingSent(HttpErrorKind kind) {
  return kind == HttpErrorKind::kResolve || kind == HttpErrorKind::kConnect ||
         kind == HttpErrorKind::kConnectTimeout;
}

HttpErrorKind ClassifyCurlResult(int curl_code, bool connected) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_OK:
      return HttpErrorKind::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return HttpErrorKind::kResolve;
    case CURLE_COULDNT_CONNECT:
      return HttpErrorKind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      // libcurl reports both timeouts with one code; what differs is whether
      // the connection was up (then the request may have been sent).
      return connected ? HttpErrorKind::kTimeout
                       : HttpErrorKind::kConnectTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      return HttpErrorKind::kTls;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
      return HttpErrorKind::kConnectionLost;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_TOO_MANY_REDIRECTS:
      return HttpErrorKind::kProtocol;
    case CURLE_FILESIZE_EXCEEDED:
      return HttpErrorKind::kTooLarge;
    case CURLE_READ_ERROR:
      return HttpErrorKind::kBodyFile;
    default:
      return HttpErrorKind::kOther;
  }
}

}  // namespace dynoguard::worker
