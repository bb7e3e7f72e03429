// Store modules: the PostgreSQL and MongoDB stores live in shared modules
// (dynoguard-postgres.so, dynoguard-mongodb.so, installed beside the worker)
// that the worker loads only when SESSION_STORAGE_TYPE names them. Linking
// libpq and libmongoc (with ICU, SASL, snappy, libmongocrypt) into the
// worker itself would add ~3.5 MB to every worker's idle RSS, the sandbox's
// included, for stores most configurations never use.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_STORE_MODULE_H_
#define DYNOGUARD_WORKER_SESSION_STORES_STORE_MODULE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/status.h"
#include "worker/session/session_store.h"

namespace dynoguard::worker {

// What a module's factory gets: the store's options.
struct StoreModuleArgs {
  std::string url;  // DATABASE_URL or MONGODB_URI (a secret)
  std::string session_name;
  std::chrono::milliseconds timeout{10000};
  const common::Logger* log = nullptr;
  PostToLoop post;
};

using StoreResult = common::Result<std::unique_ptr<SessionStore>>;

// The entry point every module exports (C linkage, so dlsym finds it by this
// name): fills `*out` with the store, or the error (InvalidArgument for a
// URL it refuses).
using MakeStoreFunction = void (*)(const StoreModuleArgs* args,
                                   std::optional<StoreResult>* out);
inline constexpr char kMakeStoreSymbol[] = "dynoguard_make_session_store";

// "dynoguard-postgres.so" for "postgres", "dynoguard-mongodb.so" for
// "mongodb".
std::string StoreModuleFile(std::string_view kind);

// Loads the module of `kind` ("postgres", "mongodb") from the worker's own
// directory (then ../lib/dynoguard beside it) and makes the store. The
// module stays loaded for the life of the process. Errors: Internal naming
// the file and dlopen's message when it is missing or broken (a broken
// installation), or the factory's error.
StoreResult LoadStoreModule(std::string_view kind, const StoreModuleArgs& args);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_STORE_MODULE_H_
