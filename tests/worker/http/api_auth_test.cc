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

}  // namespace
}  // namespace dynoguard::worker
