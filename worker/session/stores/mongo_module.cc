// dynoguard-mongodb.so: the MongoDB store (and libmongoc) as a module the
// worker loads only for SESSION_STORAGE_TYPE=mongodb (store_module.h).
#include <memory>
#include <optional>

#include "worker/session/stores/mongo_store.h"
#include "worker/session/stores/store_module.h"

extern "C" void dynoguard_make_session_store(
    const dynoguard::worker::StoreModuleArgs* args,
    std::optional<dynoguard::worker::StoreResult>* out) {
  if (auto status = dynoguard::worker::MongoSessionStore::CheckUri(args->url);
      !status.ok()) {
    out->emplace(status);  // InvalidArgument naming MONGODB_URI
    return;
  }
  dynoguard::worker::MongoOptions options;
  options.uri = args->url;
  options.session_name = args->session_name;
  options.timeout = args->timeout;
  options.log = args->log;
  out->emplace(std::unique_ptr<dynoguard::worker::SessionStore>(
      std::make_unique<dynoguard::worker::MongoSessionStore>(std::move(options),
                                                             args->post)));
}
