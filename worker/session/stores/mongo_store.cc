#include "worker/session/stores/mongo_store.h"

#include <mongoc/mongoc.h>

#include <chrono>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>

#include "worker/session/stores/mongo_document.h"
#include "worker/session/stores/mongo_error.h"

namespace dynoguard::worker {
namespace {

// libmongoc's global state (SSL, SASL, handshake data) is set up once per
// process, and only when a MongoDB store is made (a worker on another store
// never pays for it).
void InitMongocOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // libmongoc's own log lines (its default handler prints every level to
    // stderr) bypass the worker's format and its secret scrubbing, and may
    // quote URI options. Every failure that matters comes back through
    // bson_error_t, classified and scrubbed (mongo_error.h), and is logged by
    // the session manager; so the driver's lines are dropped.
    mongoc_log_set_handler(
        [](mongoc_log_level_t, const char*, const char*, void*) {}, nullptr);
  });
}

int32_t TimeoutMs(std::chrono::milliseconds timeout) {
  int64_t ms = timeout.count();
  if (ms < 1) ms = 1;
  if (ms > std::numeric_limits<int32_t>::max()) {
    ms = std::numeric_limits<int32_t>::max();
  }
  return static_cast<int32_t>(ms);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

common::Status UriError(const bson_error_t& error,
                        const std::vector<std::string>& secrets) {
  return common::Status::InvalidArgument(
      "mongodb: MONGODB_URI is not a valid MongoDB URI (" +
      ScrubMongoSecrets(error.message, secrets) + ")");
}

}  // namespace

void MongoSessionStore::UriDeleter::operator()(_mongoc_uri_t* uri) const {
  mongoc_uri_destroy(uri);
}

common::Status MongoSessionStore::CheckUri(std::string_view uri) {
  InitMongocOnce();
  bson_error_t error;
  mongoc_uri_t* parsed =
      mongoc_uri_new_with_error(std::string(uri).c_str(), &error);
  if (parsed == nullptr) return UriError(error, MongoUriSecrets(uri));
  mongoc_uri_destroy(parsed);
  return common::Status::Ok();
}

MongoSessionStore::MongoSessionStore(MongoOptions options, PostToLoop post)
    : options_(std::move(options)),
      post_(std::move(post)),
      secrets_(MongoUriSecrets(options_.uri)),
      thread_("mongo-store") {
  InitMongocOnce();
  uri_status_ = CheckMongoSessionName(options_.session_name);
  if (!uri_status_.ok()) return;
  bson_error_t error;
  uri_.reset(mongoc_uri_new_with_error(options_.uri.c_str(), &error));
  if (!uri_) {
    uri_status_ = UriError(error, secrets_);
    return;
  }
  const int32_t timeout_ms = TimeoutMs(options_.timeout);
  for (const char* option :
       {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, MONGOC_URI_CONNECTTIMEOUTMS,
        MONGOC_URI_SOCKETTIMEOUTMS}) {
    if (!mongoc_uri_has_option(uri_.get(), option)) {
      mongoc_uri_set_option_as_int32(uri_.get(), option, timeout_ms);
    }
  }
  if (!mongoc_uri_has_option(uri_.get(), MONGOC_URI_APPNAME)) {
    mongoc_uri_set_appname(uri_.get(), "dynoguard");
  }
  const char* database = mongoc_uri_get_database(uri_.get());
  database_ = (database != nullptr && database[0] != '\0')
                  ? std::string(database)
                  : std::string(kMongoDefaultDatabase);
  ns_ = database_ + "." + std::string(kMongoSessionsCollection);
}

MongoSessionStore::~MongoSessionStore() {
  thread_.Join();
  DropClient();  // the thread is gone: nothing else touches the client
}

void MongoSessionStore::Load(LoadDone done) {
  auto job = [this, done]() mutable {
    LoadResult result = stopping_ ? LoadResult(common::Status::Unavailable(
                                        "mongodb load: the store is stopping"))
                                  : DoLoad();
    if (!result.ok()) AfterError(result.status());
    post_([done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  };
  if (!thread_.Submit(std::move(job))) {
    post_([done] {
      done(common::Status::Unavailable("mongodb load: the store is stopped"));
    });
  }
}

void MongoSessionStore::Save(std::string document, uint64_t sequence,
                             SaveDone done) {
  auto job = [this, document = std::move(document), sequence, done]() {
    common::Status status =
        stopping_
            ? common::Status::Unavailable("mongodb save: the store is stopping")
            : DoSave(document, sequence);
    if (!status.ok()) AfterError(status);
    post_([done, status = std::move(status)]() { done(status); });
  };
  if (!thread_.Submit(std::move(job))) {
    post_([done] {
      done(common::Status::Unavailable("mongodb save: the store is stopped"));
    });
  }
}

void MongoSessionStore::Stop(std::function<void()> done) {
  if (stop_called_) {
    post_(std::move(done));
    return;
  }
  stop_called_ = true;
  stopping_ = true;
  // The last job: after the call in flight and the queued ones (answered
  // Unavailable), the client goes on its own thread; then the loop joins the
  // thread, which has nothing left to run, and reports.
  auto report = std::make_shared<std::function<void()>>(std::move(done));
  bool submitted = thread_.Submit([this, report] {
    DropClient();
    post_([this, report] {
      thread_.Join();
      (*report)();
    });
  });
  thread_.Stop();
  if (!submitted) post_([report] { (*report)(); });
}

common::Status MongoSessionStore::EnsureClient(std::string_view action) {
  if (!uri_status_.ok()) return uri_status_;
  if (client_ != nullptr) return common::Status::Ok();
  bson_error_t error;
  client_ = mongoc_client_new_from_uri_with_error(uri_.get(), &error);
  if (client_ == nullptr) {
    // mongodb+srv:// resolves here; a bad TLS option fails here too.
    return ClassifyMongoError(error, action, secrets_);
  }
  mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
  collection_ = mongoc_client_get_collection(
      client_, database_.c_str(),
      std::string(kMongoSessionsCollection).c_str());
  if (options_.log != nullptr) {
    options_.log->Debug("mongodb-client", {{"ns", ns_}});
  }
  return common::Status::Ok();
}

void MongoSessionStore::DropClient() {
  if (collection_ != nullptr) mongoc_collection_destroy(collection_);
  collection_ = nullptr;
  if (client_ != nullptr) mongoc_client_destroy(client_);
  client_ = nullptr;
}

void MongoSessionStore::AfterError(const common::Status& status) {
  if (status.code() != common::Status::Code::kUnavailable) return;
  if (client_ == nullptr) return;
  DropClient();
  if (options_.log != nullptr) {
    options_.log->Debug("mongodb-client-dropped", {{"ns", ns_}});
  }
}

MongoSessionStore::LoadResult MongoSessionStore::DoLoad() {
  if (common::Status status = EnsureClient("load"); !status.ok()) {
    return status;
  }
  BsonPtr filter = MongoLoadFilter(options_.session_name);
  BsonPtr opts(BCON_NEW("limit", BCON_INT64(1)));
  mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(
      collection_, filter.get(), opts.get(), nullptr);
  const bson_t* found = nullptr;
  LoadResult result = std::optional<std::string>();
  if (mongoc_cursor_next(cursor, &found)) {
    auto parsed = ParseMongoSessionDocument(*found);
    if (!parsed.ok()) {
      result = parsed.status();
    } else {
      result = std::optional<std::string>(std::move(parsed->document));
    }
  } else {
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) {
      result = ClassifyMongoError(error, "load", secrets_);
    }
  }
  mongoc_cursor_destroy(cursor);
  return result;
}

common::Status MongoSessionStore::DoSave(const std::string& document,
                                         uint64_t sequence) {
  auto seq = MongoSequence(sequence);
  if (!seq.ok()) return seq.status();
  auto update = MongoSaveUpdate(*seq, document, NowMs());
  if (!update.ok()) return update.status();
  if (common::Status status = EnsureClient("save"); !status.ok()) {
    return status;
  }
  BsonPtr filter = MongoSaveFilter(options_.session_name, *seq);
  BsonPtr opts(BCON_NEW("upsert", BCON_BOOL(true)));
  bson_t reply;
  bson_error_t error;
  bool ok = mongoc_collection_update_one(
      collection_, filter.get(), update->get(), opts.get(), &reply, &error);
  common::Status status;
  if (!ok) {
    status = ClassifyMongoError(error, "save", secrets_);
  } else {
    // Matched nothing and inserted nothing: only a server that ignored the
    // upsert does that; the stored snapshot was not replaced.
    bson_iter_t it;
    int64_t matched = 0;
    int64_t upserted = 0;
    if (bson_iter_init_find(&it, &reply, "matchedCount")) {
      matched = bson_iter_as_int64(&it);
    }
    if (bson_iter_init_find(&it, &reply, "upsertedCount")) {
      upserted = bson_iter_as_int64(&it);
    }
    if (matched == 0 && upserted == 0) {
      status = common::Status::FailedPrecondition(
          "mongodb save: the server matched and inserted nothing; the stored "
          "snapshot was kept");
    }
  }
  bson_destroy(&reply);
  return status;
}

}  // namespace dynoguard::worker
