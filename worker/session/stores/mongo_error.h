// How a libmongoc failure reads for the session manager: one Status whose code
// says what to do (retry later, fix MONGODB_URI, keep the newer snapshot) and
// whose one-line message names the store and never carries the URI's
// password. Pure: a function of the driver's bson_error_t and the URI text.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_MONGO_ERROR_H_
#define DYNOGUARD_WORKER_SESSION_STORES_MONGO_ERROR_H_

#include <bson/bson.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynoguard::worker {

// The parts of a MongoDB URI that must never be printed: the whole URI (its
// options may hold credentials too), the user info ("user:password",
// percent-encoded as written) and the password alone (as written and
// percent-decoded), longest first.
// Works on malformed URIs too (a bad URI's error must not leak its password).
// Parts under 4 characters are left out (they would scrub ordinary words).
std::vector<std::string> MongoUriSecrets(std::string_view uri);

// `message` with every occurrence of each of `secrets` replaced by
// "[redacted]".
std::string ScrubMongoSecrets(std::string message,
                              const std::vector<std::string>& secrets);

// The Status for a failed driver call; `action` says what failed ("load",
// "save", "connect"), `error` is what libmongoc reported (error API version
// 2). Codes:
//  - Unavailable: server selection failed (server down, DNS, TLS handshake,
//    connection refused), a network error or timeout, a server that is
//    shutting down, not primary or otherwise busy.
//  - PermissionDenied: authentication failed (SASL/SCRAM, the server's
//    AuthenticationFailed 18 or Atlas's 8000), not authorized (13); the
//    message names MONGODB_URI.
//  - FailedPrecondition: duplicate key 11000 (the guarded upsert met a
//    document of this _id with a sequence not lower than ours).
//  - InvalidArgument: anything else the server or driver refused (a
//    document too large, a bad option, an unsupported server version).
// The message is "mongodb <action>: <what> (<driver message>)", scrubbed of
// `secrets`.
common::Status ClassifyMongoError(const bson_error_t& error,
                                  std::string_view action,
                                  const std::vector<std::string>& secrets);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_MONGO_ERROR_H_
