// HttpHeaders: case-insensitive lookup and the parsing of libcurl's raw
// header lines.
#include "worker/net/http_headers.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

TEST_CASE("HttpHeaders: lookup ignores case and keeps every value in order",
          "[http_client][http_headers]") {
  HttpHeaders headers{{"Content-Type", "application/json"}};
  headers.Add("Set-Cookie", "a=1");
  headers.Add("set-cookie", "b=2");
  CHECK(headers.Find("content-type") == "application/json");
  CHECK(headers.Find("CONTENT-TYPE") == "application/json");
  CHECK_FALSE(headers.Find("Content-Length").has_value());
  CHECK(headers.Find("Set-Cookie") == "a=1");
  CHECK(headers.FindAll("SET-COOKIE") ==
        std::vector<std::string_view>{"a=1", "b=2"});
  CHECK(headers.Contains("Set-cookie"));
  CHECK(headers.size() == 3);
  CHECK_FALSE(HeaderNameEquals("Content-Type", "Content-Typ"));
}

TEST_CASE("ParseHeaderLine: fields, status lines and junk",
          "[http_client][http_headers]") {
  HttpHeaders headers;
  CHECK(ParseHeaderLine("HTTP/1.1 100 Continue\r\n", headers));
  CHECK(ParseHeaderLine("HTTP/2 200\r\n", headers));
  CHECK_FALSE(ParseHeaderLine("Content-Type:  text/plain \r\n", headers));
  CHECK_FALSE(ParseHeaderLine("X-Empty:\r\n", headers));
  CHECK_FALSE(ParseHeaderLine("X-Colon: a:b\r\n", headers));
  CHECK_FALSE(ParseHeaderLine("\r\n", headers));
  CHECK_FALSE(ParseHeaderLine("no colon here\r\n", headers));
  CHECK_FALSE(ParseHeaderLine(": no name\r\n", headers));
  REQUIRE(headers.size() == 3);
  CHECK(headers.Find("content-type") == "text/plain");
  CHECK(headers.Find("x-empty") == "");
  CHECK(headers.Find("x-colon") == "a:b");
}

}  // namespace
}  // namespace dynoguard::worker
