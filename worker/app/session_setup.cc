#include "worker/app/session_setup.h"

#include <algorithm>
#include <string>
#include <utility>

#include "worker/session/snapshot_codec.h"
#include "worker/session/stores/file_store.h"
#include "worker/session/stores/jsonbin_store.h"
#include "worker/session/stores/store_module.h"

namespace dynoguard::worker {

using common::Config;
using common::Result;
using common::SessionStorageKind;
using common::Status;
using std::chrono::milliseconds;

bool SessionNeedsHttp(const Config& config) {
  return config.session_backup &&
         config.session_storage == SessionStorageKind::kJsonBin;
}

namespace {

// One store call's budget: a third of the stop timeout (the final backup
// runs after the send in flight, within WORKER_STOP_TIMEOUT_S), 1–10 s.
milliseconds StoreTimeout(const Config& config) {
  return std::clamp<milliseconds>(
      std::chrono::duration_cast<milliseconds>(config.worker_stop_timeout) / 3,
      milliseconds(1000), milliseconds(10000));
}

Result<std::unique_ptr<SessionStore>> MakeRemoteStore(const Config& config,
                                                      const common::Logger& log,
                                                      HttpClient* http,
                                                      PostToLoop post) {
  const milliseconds timeout = StoreTimeout(config);
  switch (config.session_storage) {
    case SessionStorageKind::kFile:
      return std::unique_ptr<SessionStore>();
    case SessionStorageKind::kJsonBin: {
      if (http == nullptr) {
        return Status::Internal("session: the JSONBin store needs the client");
      }
      JsonBinOptions o;
      o.base_url = config.jsonbin_base_url;
      o.master_key = config.jsonbin_master_key.Reveal();
      o.access_key = config.jsonbin_api_key.Reveal();
      o.bin_id = config.jsonbin_bin_id;
      o.session_name = config.session_name;
      o.timeout = timeout;
      o.log = &log;
      o.post = post;
      return std::unique_ptr<SessionStore>(
          std::make_unique<JsonBinSessionStore>(*http, std::move(o)));
    }
    case SessionStorageKind::kPostgres:
    case SessionStorageKind::kMongoDb: {
      const bool postgres =
          config.session_storage == SessionStorageKind::kPostgres;
      StoreModuleArgs args;
      args.url =
          postgres ? config.database_url.Reveal() : config.mongodb_uri.Reveal();
      args.session_name = config.session_name;
      args.timeout = timeout;
      args.log = &log;
      args.post = std::move(post);
      return LoadStoreModule(postgres ? "postgres" : "mongodb", args);
    }
  }
  return std::unique_ptr<SessionStore>();
}

}  // namespace

Result<std::unique_ptr<SessionManager>> MakeSessionManager(
    const Config& config, const common::Logger& log, uv_loop_t* loop,
    HttpClient* http, Gateway& gateway, PostToLoop post,
    std::function<int64_t()> now_ms) {
  SessionManager::Options o;
  o.name = config.session_name;
  o.transport = std::string(gateway.transport().name());
  o.storage = std::string(ToString(config.session_storage));
  if (!config.session_encryption_key.empty()) {
    auto key = ParseSnapshotKey(config.session_encryption_key.Reveal());
    if (!key.ok()) return key.status();
    o.key = key.value();
  }
  o.max_bytes = config.session_max_bytes;
  o.backup_enabled = config.session_backup;
  o.autosave_period =
      std::chrono::duration_cast<milliseconds>(config.session_autosave);
  // JSONBin asks for 5–10 requests a minute: one write per 6 s at most.
  if (config.session_storage == SessionStorageKind::kJsonBin) {
    o.remote_policy.min_interval = milliseconds(6000);
  }
  o.restore_timeout = StoreTimeout(config) + milliseconds(2000);
  o.marker_path = config.data_dir + "/session.local";
  o.now_ms = std::move(now_ms);

  SessionSources sources;
  sources.queue = &gateway.queue();
  sources.inbox = &gateway.inbox();
  sources.outbox = gateway.outbox();
  Gateway* g = &gateway;
  sources.connection = [g] {
    SessionStatus s = g->Session();
    ConnectionFacts f;
    f.state = std::string(ToString(s.state));
    f.reason = s.reason;
    f.last_heartbeat_ms = s.last_heartbeat_ms;
    f.last_inbound_ms = s.last_inbound_ms;
    f.last_outbound_ms = s.last_outbound_ms;
    return f;
  };

  auto file = std::make_unique<FileSessionStore>(
      FileSessionStore::PathIn(config.data_dir), post,
      [](std::string_view doc) -> std::optional<uint64_t> {
        auto header = ReadSnapshotHeader(doc);
        if (!header.ok()) return std::nullopt;
        return header->sequence;
      });
  std::unique_ptr<SessionStore> remote;
  if (config.session_backup) {
    auto made = MakeRemoteStore(config, log, http, post);
    if (!made.ok()) return made.status();
    remote = std::move(made.value());
  }
  return std::make_unique<SessionManager>(
      loop, std::move(o), std::move(sources), std::move(file),
      std::move(remote), std::move(post), log);
}

}  // namespace dynoguard::worker
