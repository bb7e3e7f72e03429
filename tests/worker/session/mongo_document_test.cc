#include "worker/session/stores/mongo_document.h"

#include <catch2/catch.hpp>
#include <limits>
#include <string>

namespace dynoguard::worker {
namespace {

std::string Json(const bson_t* bson) {
  size_t length = 0;
  char* json = bson_as_canonical_extended_json(bson, &length);
  std::string out(json, length);
  bson_free(json);
  return out;
}

BsonPtr FromJson(const std::string& json) {
  bson_error_t error;
  BsonPtr out(bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                                 static_cast<ssize_t>(json.size()), &error));
  REQUIRE(out);
  return out;
}

TEST_CASE("mongodb: the load filter is the session's _id", "[mongodb]") {
  CHECK(Json(MongoLoadFilter("default").get()) == R"({ "_id" : "default" })");
}

TEST_CASE("mongodb: the save filter guards by the sequence", "[mongodb]") {
  CHECK(
      Json(MongoSaveFilter("eu-1", 42).get()) ==
      R"({ "_id" : "eu-1", "sequence" : { "$lt" : { "$numberLong" : "42" } } })");
}

TEST_CASE("mongodb: the save update sets sequence, document and updatedAt",
          "[mongodb]") {
  auto update = MongoSaveUpdate(7, R"({"v":1})", 1764590400000);
  REQUIRE(update.ok());
  CHECK(Json(update->get()) ==
        R"({ "$set" : { "sequence" : { "$numberLong" : "7" }, "document" : )"
        R"("{\"v\":1}", "updatedAt" : { "$date" : { "$numberLong" : )"
        R"("1764590400000" } } } })");
}

TEST_CASE("mongodb: a document that is not UTF-8 is refused", "[mongodb]") {
  auto update = MongoSaveUpdate(1, std::string("\xff\xfe", 2), 0);
  REQUIRE_FALSE(update.ok());
  CHECK(update.status().code() == common::Status::Code::kInvalidArgument);
}

TEST_CASE("mongodb: sequences above INT64_MAX are refused", "[mongodb]") {
  CHECK(MongoSequence(5).ok());
  CHECK(*MongoSequence(std::numeric_limits<int64_t>::max()) ==
        std::numeric_limits<int64_t>::max());
  auto too_big = MongoSequence(uint64_t{1} << 63);
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().code() == common::Status::Code::kInvalidArgument);
}

TEST_CASE("mongodb: session names must be non-empty UTF-8", "[mongodb]") {
  CHECK(CheckMongoSessionName("default").ok());
  CHECK(CheckMongoSessionName("résumé-1").ok());
  CHECK_FALSE(CheckMongoSessionName("").ok());
  CHECK_FALSE(CheckMongoSessionName(std::string("a\0b", 3)).ok());
  CHECK_FALSE(CheckMongoSessionName("\xc3").ok());
}

TEST_CASE("mongodb: a stored session document parses", "[mongodb]") {
  auto doc = FromJson(
      R"({"_id":"default","sequence":{"$numberLong":"9"},"document":"{}",)"
      R"("updatedAt":{"$date":{"$numberLong":"1000"}}})");
  auto parsed = ParseMongoSessionDocument(*doc);
  REQUIRE(parsed.ok());
  CHECK(parsed->name == "default");
  CHECK(parsed->sequence == 9);
  CHECK(parsed->document == "{}");
  CHECK(parsed->updated_ms == 1000);

  // An int32 sequence (written by a shell) reads too; updatedAt is optional.
  auto small = FromJson(R"({"_id":"a","sequence":3,"document":"x"})");
  auto parsed_small = ParseMongoSessionDocument(*small);
  REQUIRE(parsed_small.ok());
  CHECK(parsed_small->sequence == 3);
  CHECK(parsed_small->updated_ms == 0);
}

TEST_CASE("mongodb: a malformed stored document is a clear error",
          "[mongodb]") {
  for (
      const char* json : {
          R"({"_id":1,"sequence":1,"document":"x"})",
          R"({"_id":"a","document":"x"})",
          R"({"_id":"a","sequence":"1","document":"x"})",
          R"({"_id":"a","sequence":1})",
          R"({"_id":"a","sequence":1,"document":{"$binary":{"base64":"AA==","subType":"00"}}})",
      }) {
    INFO(json);
    auto parsed = ParseMongoSessionDocument(*FromJson(json));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == common::Status::Code::kInvalidArgument);
    CHECK(parsed.status().message().rfind("mongodb load: ", 0) == 0);
  }
}

}  // namespace
}  // namespace dynoguard::worker
