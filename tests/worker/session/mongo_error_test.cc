#include "worker/session/stores/mongo_error.h"

#include <mongoc/mongoc.h>

#include <catch2/catch.hpp>
#include <cstring>

namespace dynoguard::worker {
namespace {

using Code = common::Status::Code;

bson_error_t Error(uint32_t domain, uint32_t code, const char* message) {
  bson_error_t error;
  std::memset(&error, 0, sizeof(error));
  error.domain = domain;
  error.code = code;
  std::strncpy(error.message, message, sizeof(error.message) - 1);
  return error;
}

TEST_CASE("mongodb: the secrets of a URI are its user info and password",
          "[mongodb]") {
  auto secrets = MongoUriSecrets(
      "mongodb+srv://dg-user:p%40ss%2Fw0rd@cluster0.ab12c.mongodb.net/"
      "sessions?retryWrites=true&w=majority");
  auto has = [&](const std::string& s) {
    return std::find(secrets.begin(), secrets.end(), s) != secrets.end();
  };
  CHECK(has("dg-user:p%40ss%2Fw0rd"));
  CHECK(has("p%40ss%2Fw0rd"));
  CHECK(has("p@ss/w0rd"));  // decoded, as the driver may print it
  CHECK(
      has("mongodb+srv://dg-user:p%40ss%2Fw0rd@cluster0.ab12c.mongodb.net/"
          "sessions?retryWrites=true&w=majority"));
  // Longest first, so the whole URI is scrubbed before its parts.
  for (size_t i = 1; i < secrets.size(); ++i) {
    CHECK(secrets[i - 1].size() >= secrets[i].size());
  }

  CHECK(MongoUriSecrets("mongodb://127.0.0.1:27017/dynoguard") ==
        std::vector<std::string>{"mongodb://127.0.0.1:27017/dynoguard"});
  CHECK(MongoUriSecrets("").empty());
  // A malformed URI (unencoded '@' and '/' in the password) still hides it.
  auto bad = MongoUriSecrets("mongodb://u:pa@ss/word@host/db");
  std::string scrubbed = ScrubMongoSecrets(
      "bad uri mongodb://u:pa@ss/word@host/db and pa@ss/word", bad);
  CHECK(scrubbed.find("pa@ss/word") == std::string::npos);
}

TEST_CASE("mongodb: scrubbing replaces every occurrence", "[mongodb]") {
  CHECK(ScrubMongoSecrets("a hunter22 b hunter22", {"hunter22"}) ==
        "a [redacted] b [redacted]");
  CHECK(ScrubMongoSecrets("nothing here", {"hunter22"}) == "nothing here");
}

TEST_CASE("mongodb: driver errors map to the store's status codes",
          "[mongodb]") {
  const std::vector<std::string> secrets = {"hunter22"};
  struct Case {
    uint32_t domain;
    uint32_t code;
    const char* message;
    Code expected;
  };
  const Case cases[] = {
      {MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
       "No suitable servers found (`serverSelectionTryOnce` set): [connection "
       "refused calling hello on '127.0.0.1:27017']",
       Code::kUnavailable},
      {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET,
       "Failed to read 4 bytes: socket error or timeout", Code::kUnavailable},
      {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_NAME_RESOLUTION,
       "Failed to resolve 'cluster0.example.net'", Code::kUnavailable},
      {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
       "Failed to connect to target host: 127.0.0.1:1", Code::kUnavailable},
      {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE,
       "Authentication failed.", Code::kPermissionDenied},
      {MONGOC_ERROR_SERVER, 18, "Authentication failed.",
       Code::kPermissionDenied},
      {MONGOC_ERROR_SERVER, 8000, "bad auth : Authentication failed.",
       Code::kPermissionDenied},
      {MONGOC_ERROR_SERVER, 13,
       "not authorized on dynoguard to execute command { update: ... }",
       Code::kPermissionDenied},
      {MONGOC_ERROR_SERVER, 11000,
       "E11000 duplicate key error collection: dynoguard.sessions index: "
       "_id_ dup key: { _id: \"default\" }",
       Code::kFailedPrecondition},
      {MONGOC_ERROR_COLLECTION, 11000, "E11000 duplicate key error",
       Code::kFailedPrecondition},
      {MONGOC_ERROR_SERVER, 10107, "not primary", Code::kUnavailable},
      {MONGOC_ERROR_SERVER, 91, "The server is in quiesce mode",
       Code::kUnavailable},
      {MONGOC_ERROR_WRITE_CONCERN, 64, "waiting for replication timed out",
       Code::kUnavailable},
      {MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_BAD_WIRE_VERSION,
       "Server at 127.0.0.1:27017 reports wire version 2",
       Code::kInvalidArgument},
      {MONGOC_ERROR_SERVER, 10334, "BSONObj size: 17000000 is invalid",
       Code::kInvalidArgument},
      {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_TOO_BIG,
       "Document 0 is too large", Code::kInvalidArgument},
      {MONGOC_ERROR_COMMAND, MONGOC_ERROR_COMMAND_INVALID_ARG,
       "Invalid \"upsert\"", Code::kInvalidArgument},
  };
  for (const Case& c : cases) {
    common::Status status =
        ClassifyMongoError(Error(c.domain, c.code, c.message), "save", secrets);
    INFO(c.domain << "/" << c.code << ": " << status.message());
    CHECK(status.code() == c.expected);
    CHECK(status.message().rfind("mongodb save: ", 0) == 0);
    CHECK(status.message().find(c.message) != std::string::npos);
  }
  common::Status auth = ClassifyMongoError(
      Error(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE,
            "Authentication failed."),
      "load", secrets);
  CHECK(auth.message().find("MONGODB_URI") != std::string::npos);
}

TEST_CASE("mongodb: an error message never carries the password", "[mongodb]") {
  auto secrets = MongoUriSecrets("mongodb://dg:hunter22@db.example.net/x");
  common::Status status = ClassifyMongoError(
      Error(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
            "Failed to connect: mongodb://dg:hunter22@db.example.net/x"),
      "load", secrets);
  CHECK(status.code() == Code::kUnavailable);
  CHECK(status.message().find("hunter22") == std::string::npos);
  CHECK(status.message().find("[redacted]") != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker
