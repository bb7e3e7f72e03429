// HttpError: libcurl's result codes mapped to the kinds callers decide on.
#include "worker/net/http_error.h"

#include <curl/curl.h>

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

TEST_CASE("ClassifyCurlResult: each failure gets its kind",
          "[http_client][http_error]") {
  CHECK(ClassifyCurlResult(CURLE_OK, true) == HttpErrorKind::kNone);
  CHECK(ClassifyCurlResult(CURLE_COULDNT_RESOLVE_HOST, false) ==
        HttpErrorKind::kResolve);
  CHECK(ClassifyCurlResult(CURLE_COULDNT_CONNECT, false) ==
        HttpErrorKind::kConnect);
  CHECK(ClassifyCurlResult(CURLE_OPERATION_TIMEDOUT, false) ==
        HttpErrorKind::kConnectTimeout);
  CHECK(ClassifyCurlResult(CURLE_OPERATION_TIMEDOUT, true) ==
        HttpErrorKind::kTimeout);
  CHECK(ClassifyCurlResult(CURLE_PEER_FAILED_VERIFICATION, true) ==
        HttpErrorKind::kTls);
  CHECK(ClassifyCurlResult(CURLE_SSL_CONNECT_ERROR, true) ==
        HttpErrorKind::kTls);
  CHECK(ClassifyCurlResult(CURLE_PARTIAL_FILE, true) ==
        HttpErrorKind::kConnectionLost);
  CHECK(ClassifyCurlResult(CURLE_RECV_ERROR, true) ==
        HttpErrorKind::kConnectionLost);
  CHECK(ClassifyCurlResult(CURLE_GOT_NOTHING, true) ==
        HttpErrorKind::kConnectionLost);
  CHECK(ClassifyCurlResult(CURLE_HTTP2_STREAM, true) ==
        HttpErrorKind::kProtocol);
  CHECK(ClassifyCurlResult(CURLE_WEIRD_SERVER_REPLY, true) ==
        HttpErrorKind::kProtocol);
  CHECK(ClassifyCurlResult(CURLE_FILESIZE_EXCEEDED, true) ==
        HttpErrorKind::kTooLarge);
  CHECK(ClassifyCurlResult(CURLE_READ_ERROR, true) == HttpErrorKind::kBodyFile);
  CHECK(ClassifyCurlResult(CURLE_OUT_OF_MEMORY, true) == HttpErrorKind::kOther);
}

TEST_CASE("HttpErrorNothingSent: only failures before the connection",
          "[http_client][http_error]") {
  CHECK(HttpErrorNothingSent(HttpErrorKind::kResolve));
  CHECK(HttpErrorNothingSent(HttpErrorKind::kConnect));
  CHECK(HttpErrorNothingSent(HttpErrorKind::kConnectTimeout));
  CHECK_FALSE(HttpErrorNothingSent(HttpErrorKind::kTimeout));
  CHECK_FALSE(HttpErrorNothingSent(HttpErrorKind::kTls));
  CHECK_FALSE(HttpErrorNothingSent(HttpErrorKind::kConnectionLost));
  CHECK_FALSE(HttpErrorNothingSent(HttpErrorKind::kCancelled));
}

TEST_CASE("HttpErrorKindName: stable names", "[http_client][http_error]") {
  CHECK(HttpErrorKindName(HttpErrorKind::kConnectTimeout) == "connect_timeout");
  CHECK(HttpErrorKindName(HttpErrorKind::kTooLarge) == "too_large");
  CHECK(HttpErrorKindName(HttpErrorKind::kConnectionLost) == "connection_lost");
  CHECK(HttpErrorKindName(HttpErrorKind::kCancelled) == "cancelled");
}

}  // namespace
}  // namespace dynoguard::worker
