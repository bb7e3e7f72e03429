// MongoSessionStore: the session snapshot in MongoDB (SESSION_STORAGE_TYPE=
// mongodb, MONGODB_URI; MongoDB Atlas or any server of wire version 6+), one
// document per SESSION_NAME in the collection "sessions" of the URI's
// database (default "dynoguard"):
//   {_id: <SESSION_NAME>, sequence: <int64>, document: <string>,
//    updatedAt: <date>}                                  (mongo_document.h)
// Save is an upsert guarded by the sequence, so a newer snapshot is never
// replaced. libmongoc blocks, so every driver call runs on the store's own
// StoreThread; answers come back on the loop through PostToLoop.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_MONGO_STORE_H_
#define DYNOGUARD_WORKER_SESSION_STORES_MONGO_STORE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "worker/session/session_store.h"
#include "worker/session/store_thread.h"

struct _mongoc_client_t;
struct _mongoc_collection_t;
struct _mongoc_uri_t;

namespace dynoguard::worker {

struct MongoOptions {
  // MONGODB_URI: "mongodb://…" or "mongodb+srv://…" (Atlas). Its database
  // (the path) names the database; none: "dynoguard". Secret: never logged.
  std::string uri;
  // SESSION_NAME: the document's _id.
  std::string session_name;
  // serverSelectionTimeoutMS, connectTimeoutMS and socketTimeoutMS, unless
  // the URI sets them itself. A call against a server that is down answers
  // Unavailable after about this long (one connect attempt); against one
  // that stops answering, after this long per blocked network operation.
  // Default: 10 s (below WORKER_STOP_TIMEOUT_S).
  std::chrono::milliseconds timeout{10000};
  // Debug lines (client made, client dropped after a network error); may be
  // null. Must outlive the store.
  const common::Logger* log = nullptr;
};

// The SessionStore contract (session_store.h), plus:
//  - Load finds {_id: SESSION_NAME}; nullopt when there is none.
//  - Save(document, sequence) runs update_one({_id, sequence: {$lt:
//    sequence}}, {$set: {sequence, document, updatedAt}}, upsert: true).
//    A stored document of a higher or equal sequence makes the insert hit
//    the _id index (duplicate key 11000): FailedPrecondition, the stored
//    one kept. A sequence above INT64_MAX or a document that is not UTF-8:
//    InvalidArgument.
//  - Errors (mongo_error.h): server selection, network, timeout →
//    Unavailable; authentication → PermissionDenied naming MONGODB_URI; a
//    bad URI → InvalidArgument (every call answers it). Messages start with
//    "mongodb" and never hold the URI or its password.
//  - After a network error the client is dropped, and the next call connects
//    afresh (so a server that is back is used at once, without the driver's
//    5-second cooldown for a server that failed).
// mongoc_init() runs once per process (std::call_once), when the first store
// is made or CheckUri is first called: a worker on another store never loads
// libmongoc's state.
// mongoc_cleanup() is never called: it may run only once, after every
// libmongoc object of the process is gone, and libmongoc cannot be initialised
// again afterwards; the memory it would free is reachable until exit, where the
// system takes it back anyway.
//
// Thread-safety: as SessionStore: every method on the loop thread. The driver
// objects are touched only on the store's thread.
class MongoSessionStore : public SessionStore {
 public:
  MongoSessionStore(MongoOptions options, PostToLoop post);
  // Joins the store's thread (waiting for a call in flight) if Stop did not.
  ~MongoSessionStore() override;
  MongoSessionStore(const MongoSessionStore&) = delete;
  MongoSessionStore& operator=(const MongoSessionStore&) = delete;

  // OK when `uri` parses as a MongoDB URI; else InvalidArgument (one line,
  // without the password). Pure; for checking MONGODB_URI at start.
  static common::Status CheckUri(std::string_view uri);

  std::string_view kind() const override { return "mongodb"; }
  void Load(LoadDone done) override;
  void Save(std::string document, uint64_t sequence, SaveDone done) override;
  void Stop(std::function<void()> done) override;

  // "<database>.sessions" (empty with a bad URI); for logs.
  const std::string& ns() const { return ns_; }

 private:
  using LoadResult = common::Result<std::optional<std::string>>;

  // On the store's thread.
  // Makes the client if there is none; `action` ("load", "save") names the
  // call in its errors.
  common::Status EnsureClient(std::string_view action);
  void DropClient();
  LoadResult DoLoad();
  common::Status DoSave(const std::string& document, uint64_t sequence);
  // Drops the client after an Unavailable, so the next call reconnects.
  void AfterError(const common::Status& status);

  // Constant after construction.
  const MongoOptions options_;
  const PostToLoop post_;
  const std::vector<std::string> secrets_;  // parts of the URI never printed
  common::Status uri_status_;               // a bad URI, answered to all
  std::string database_;
  std::string ns_;
  struct UriDeleter {
    void operator()(_mongoc_uri_t* uri) const;
  };
  std::unique_ptr<_mongoc_uri_t, UriDeleter> uri_;  // with the timeouts

  // Set by Stop on the loop, read on the store's thread: jobs not started
  // answer Unavailable.
  std::atomic<bool> stopping_{false};
  bool stop_called_ = false;  // loop thread only

  // Store thread only.
  _mongoc_client_t* client_ = nullptr;
  _mongoc_collection_t* collection_ = nullptr;

  StoreThread thread_;  // last: started once the members above exist
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_MONGO_STORE_H_
