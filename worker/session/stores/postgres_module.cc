// dynoguard-postgres.so: the PostgreSQL store (and libpq) as a module the
// worker loads only for SESSION_STORAGE_TYPE=postgres (store_module.h).
#include <memory>
#include <optional>

#include "worker/session/stores/postgres_store.h"
#include "worker/session/stores/store_module.h"

extern "C" void dynoguard_make_session_store(
    const dynoguard::worker::StoreModuleArgs* args,
    std::optional<dynoguard::worker::StoreResult>* out) {
  if (auto status =
          dynoguard::worker::PostgresSessionStore::CheckUrl(args->url);
      !status.ok()) {
    out->emplace(status);
    return;
  }
  dynoguard::worker::PostgresOptions options;
  options.url = args->url;
  options.session_name = args->session_name;
  options.timeout = args->timeout;
  options.log = args->log;
  out->emplace(std::unique_ptr<dynoguard::worker::SessionStore>(
      std::make_unique<dynoguard::worker::PostgresSessionStore>(
          std::move(options), args->post)));
}
