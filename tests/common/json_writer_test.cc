#include "common/json_writer.h"

#include <catch2/catch.hpp>

namespace dynoguard::common {
namespace {

TEST_CASE("json writer: compact, escaped, chained", "[json_writer]") {
  JsonWriter j;
  j.StartObject();
  j.Key("s").String("a\"b\n\x01");
  j.Key("i").Int(-3).Key("u").Uint(18446744073709551615ULL);
  j.Key("d").Double(1.5).Key("b").Bool(true).Key("n").Null();
  j.Key("a").StartArray().Int(1).String("x").EndArray();
  j.Key("raw").RawValue(R"({"k":1})");
  j.EndObject();
  CHECK(j.str() ==
        R"({"s":"a\"b\n\u0001","i":-3,"u":18446744073709551615,"d":1.5,)"
        R"("b":true,"n":null,"a":[1,"x"],"raw":{"k":1}})");
}

TEST_CASE("json writer: string_view keys need no terminator", "[json_writer]") {
  std::string_view key("keyXXX", 3);
  JsonWriter j;
  j.StartObject().Key(key).String(std::string_view("valYYY", 3)).EndObject();
  CHECK(j.view() == R"({"key":"val"})");
}

}  // namespace
}  // namespace dynoguard::common
