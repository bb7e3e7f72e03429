#include "common/utf8.h"

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::common {
namespace {

TEST_CASE("utf8: well-formed text is valid", "[utf8]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("hello"));
  CHECK(IsValidUtf8(std::string("a\0b", 3)));
  CHECK(IsValidUtf8("h\xC3\xA9llo"));      // é
  CHECK(IsValidUtf8("\xE2\x82\xAC"));      // €
  CHECK(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, below surrogates
  CHECK(IsValidUtf8("\xEE\x80\x80"));      // U+E000, above them
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));  // 😀
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST_CASE("utf8: surrogates, overlong forms and broken sequences are not",
          "[utf8]") {
  for (const char* bad : {
           "\xED\xB0\x80",              // U+DC00: a lone low surrogate
           "\xED\xA0\x80",              // U+D800: a lone high surrogate
           "\xED\xA0\xBD\xED\xB8\x80",  // a surrogate pair encoded (CESU-8)
           "\xC0\xAF",                  // overlong '/'
           "\xE0\x80\xAF",              // overlong
           "\xF0\x80\x80\xAF",          // overlong
           "\xF4\x90\x80\x80",          // above U+10FFFF
           "\xF5\x80\x80\x80",          // lead byte out of range
           "\x80",                      // stray continuation
           "a\xC3",                     // truncated
           "\xE2\x82",                  // truncated
           "\xE2\x28\xA1",              // bad continuation
           "\xFF",
       }) {
    INFO(std::string(bad));
    CHECK_FALSE(IsValidUtf8(bad));
  }
}

}  // namespace
}  // namespace dynoguard::common
