#include "worker/http/api_auth.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using common::Redacted;

TEST_CASE("auth: with a key, a Bearer token or X-Api-Key must match",
          "[api_auth]") {
  Redacted key("s3cret-key");
  CHECK(CheckAuth(key, "Bearer s3cret-key", "", "203.0.113.7") ==
        AuthResult::kAllowed);
  CHECK(CheckAuth(key, "bearer  s3cret-key ", "", "203.0.113.7") ==
        AuthResult::kAllowed);
  CHECK(CheckAuth(key, "", "s3cret-key", "203.0.113.7") ==
        AuthResult::kAllowed);
  CHECK(CheckAuth(key, "Bearer wrong", "s3cret-key", "203.0.113.7") ==
        AuthResult::kAllowed);
}

TEST_CASE("auth: with a key, missing or wrong credentials are unauthorized",
          "[api_auth]") {
  Redacted key("s3cret-key");
  CHECK(CheckAuth(key, "", "", "127.0.0.1") == AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "Bearer s3cret-ke", "", "127.0.0.1") ==
        AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "Bearer s3cret-key-and-more", "", "127.0.0.1") ==
        AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "Basic s3cret-key", "", "127.0.0.1") ==
        AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "s3cret-key", "", "127.0.0.1") ==
        AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "Bearer ", "", "127.0.0.1") ==
        AuthResult::kUnauthorized);
  CHECK(CheckAuth(key, "", "wrong", "127.0.0.1") == AuthResult::kUnauthorized);
}

TEST_CASE("auth: without a key, loopback clients only", "[api_auth]") {
  Redacted none;
  for (const char* addr :
       {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    INFO(addr);
    CHECK(CheckAuth(none, "", "", addr) == AuthResult::kAllowed);
  }
  for (const char* addr : {"10.0.0.1", "203.0.113.7", "::ffff:10.0.0.1",
                           "2001:db8::1", "", "localhost", "128.0.0.1"}) {
    INFO(addr);
    CHECK(CheckAuth(none, "Bearer anything", "anything", addr) ==
          AuthResult::kForbidden);
  }
}

TEST_CASE("auth: secret comparison is exact", "[api_auth]") {
  CHECK(SecretEquals("abc", "abc"));
  CHECK_FALSE(SecretEquals("abc", "abd"));
  CHECK_FALSE(SecretEquals("abc", "abcd"));
  CHECK_FALSE(SecretEquals("", "abc"));
}

CallerInfo Local(std::string_view host = "127.0.0.1:3000",
                 std::string_view origin = "") {
  CallerInfo caller;
  caller.remote_addr = "127.0.0.1";
  caller.host = host;
  caller.origin = origin;
  return caller;
}

TEST_CASE("auth: without a key, a plain loopback request is allowed",
          "[api_auth]") {
  Redacted none;
  CHECK(Authorize(none, "127.0.0.1", Local()).result == AuthResult::kAllowed);
  CHECK(Authorize(none, "127.0.0.1", Local("")).result ==
        AuthResult::kAllowed);  // HTTP/1.0 without Host
  CHECK(Authorize(none, "127.0.0.1",
                  Local("localhost:3000", "http://localhost:3000"))
            .result == AuthResult::kAllowed);
}

TEST_CASE(
    "auth: without a key, a proxied request is forbidden and says to "
    "set API_KEY",
    "[api_auth]") {
  Redacted none;
  CallerInfo caller = Local();
  caller.has_proxy_header = true;
  AuthDecision decision = Authorize(none, "127.0.0.1", caller);
  CHECK(decision.result == AuthResult::kForbidden);
  CHECK(decision.message.find("set API_KEY") != std::string::npos);
  CHECK(decision.message.find("X-Forwarded-For") != std::string::npos);
}

TEST_CASE("auth: without a key, a foreign Origin is forbidden", "[api_auth]") {
  Redacted none;
  for (const char* origin :
       {"http://evil.example", "null", "https://127.0.0.1:3000",
        "http://127.0.0.1:3001", "http://localhost:3000"}) {
    INFO(origin);
    AuthDecision decision =
        Authorize(none, "127.0.0.1", Local("127.0.0.1:3000", origin));
    CHECK(decision.result == AuthResult::kForbidden);
    CHECK(decision.message.find("Origin") != std::string::npos);
  }
  CHECK(Authorize(none, "127.0.0.1",
                  Local("127.0.0.1:3000", "HTTP://127.0.0.1:3000"))
            .result == AuthResult::kAllowed);
  // No Host to compare with: any Origin is foreign.
  CHECK(
      Authorize(none, "127.0.0.1", Local("", "http://127.0.0.1:3000")).result ==
      AuthResult::kForbidden);
}

TEST_CASE(
    "auth: without a key, a non-loopback Host is forbidden (DNS "
    "rebinding)",
    "[api_auth]") {
  Redacted none;
  for (const char* host : {"evil.example", "evil.example:3000", "10.0.0.1:3000",
                           "localhost.evil.example"}) {
    INFO(host);
    AuthDecision decision = Authorize(none, "127.0.0.1", Local(host));
    CHECK(decision.result == AuthResult::kForbidden);
    CHECK(decision.message.find("Host") != std::string::npos);
  }
  // The configured HOST is local too.
  CHECK(Authorize(none, "gateway.lan", Local("gateway.lan:3000")).result ==
        AuthResult::kAllowed);
}

TEST_CASE("auth: with a key, proxies, Origin and Host do not matter",
          "[api_auth]") {
  Redacted key("k");
  CallerInfo caller = Local("evil.example", "http://evil.example");
  caller.has_proxy_header = true;
  caller.remote_addr = "203.0.113.7";
  caller.authorization = "Bearer k";
  CHECK(Authorize(key, "127.0.0.1", caller).result == AuthResult::kAllowed);
  caller.authorization = "";
  AuthDecision refused = Authorize(key, "127.0.0.1", caller);
  CHECK(refused.result == AuthResult::kUnauthorized);
  CHECK(!refused.message.empty());
}

TEST_CASE("auth: local Host names", "[api_auth]") {
  for (const char* host :
       {"localhost", "LOCALHOST:80", "localhost.", "app.localhost:3000",
        "127.0.0.1", "127.1.2.3:8080", "[::1]", "[::1]:3000"}) {
    INFO(host);
    CHECK(IsLocalHost(host, "0.0.0.0"));
  }
  for (const char* host : {"", "0.0.0.0", "example.com", "[2001:db8::1]:80",
                           "127.0.0.1.nip.io", "localhostx"}) {
    INFO(host);
    CHECK_FALSE(IsLocalHost(host, "0.0.0.0"));
  }
  CHECK(IsLocalHost("Box.Lan:3000", "box.lan"));
  CHECK_FALSE(IsLocalHost("0.0.0.0:3000", "0.0.0.0"));
}

TEST_CASE("auth: JSON content types", "[api_auth]") {
  for (const char* type :
       {"application/json", "Application/JSON",
        "application/json; charset=utf-8", "application/json;charset=UTF-8",
        "application/vnd.api+json"}) {
    INFO(type);
    CHECK(IsJsonContentType(type));
  }
  for (const char* type :
       {"", "text/plain", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/+json", "text/json",
        "application/jsonx"}) {
    INFO(type);
    CHECK_FALSE(IsJsonContentType(type));
  }
}

}  // namespace
}  // namespace dynoguard::worker
