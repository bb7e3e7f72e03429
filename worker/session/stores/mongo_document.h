// The MongoDB store's document mapping: one document per session in the
// collection "sessions",
//   {_id: <SESSION_NAME>, sequence: <int64>, document: <string>,
//    updatedAt: <date>}
// and the filter and update of the guarded upsert that never replaces a newer
// snapshot. Pure: libbson values in, libbson values out.
#ifndef DYNOGUARD_WORKER_SESSION_STORES_MONGO_DOCUMENT_H_
#define DYNOGUARD_WORKER_SESSION_STORES_MONGO_DOCUMENT_H_

#include <bson/bson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

// Owns a bson_t made by bson_new(), BCON_NEW() or bson_copy(); move-only.
// (Not a std::unique_ptr: bson_t's alignment attribute makes GCC warn about
// it as a template argument.)
class BsonPtr {
 public:
  explicit BsonPtr(bson_t* bson = nullptr) : bson_(bson) {}
  ~BsonPtr() { reset(); }
  BsonPtr(BsonPtr&& other) noexcept : bson_(other.bson_) {
    other.bson_ = nullptr;
  }
  BsonPtr& operator=(BsonPtr&& other) noexcept {
    if (this != &other) {
      reset(other.bson_);
      other.bson_ = nullptr;
    }
    return *this;
  }
  BsonPtr(const BsonPtr&) = delete;
  BsonPtr& operator=(const BsonPtr&) = delete;

  bson_t* get() const { return bson_; }
  bson_t& operator*() const { return *bson_; }
  bson_t* operator->() const { return bson_; }
  explicit operator bool() const { return bson_ != nullptr; }
  void reset(bson_t* bson = nullptr) {
    if (bson_ != nullptr) bson_destroy(bson_);
    bson_ = bson;
  }

 private:
  bson_t* bson_;
};

// The collection every session document lives in.
inline constexpr std::string_view kMongoSessionsCollection = "sessions";
// The database when MONGODB_URI names none.
inline constexpr std::string_view kMongoDefaultDatabase = "dynoguard";

// What one stored session document holds.
struct MongoSessionDocument {
  std::string name;        // _id: SESSION_NAME
  int64_t sequence = 0;    // the snapshot's sequence
  std::string document;    // the snapshot document (snapshot_codec.h)
  int64_t updated_ms = 0;  // updatedAt, ms since the epoch
};

// OK when `name` can be an _id: not empty, valid UTF-8 without NUL.
// InvalidArgument otherwise.
common::Status CheckMongoSessionName(std::string_view name);

// The snapshot's sequence as BSON's int64. InvalidArgument above INT64_MAX.
common::Result<int64_t> MongoSequence(uint64_t sequence);

// {_id: name}: the Load filter.
BsonPtr MongoLoadFilter(std::string_view name);

// {_id: name, sequence: {$lt: sequence}}: the Save filter. With upsert, a
// missing document is inserted; an existing one of a lower sequence is
// updated; an existing one of a higher or equal sequence matches nothing, so
// the upsert's insert hits the _id index: duplicate key 11000.
BsonPtr MongoSaveFilter(std::string_view name, int64_t sequence);

// {$set: {sequence, document, updatedAt: <date now_ms>}}: the Save update.
// InvalidArgument when `document` is not valid UTF-8 (BSON strings are).
common::Result<BsonPtr> MongoSaveUpdate(int64_t sequence,
                                        std::string_view document,
                                        int64_t now_ms);

// Reads a found session document. InvalidArgument (naming the field) when
// _id is not a string, sequence not an int32/int64, document not a string;
// a missing updatedAt reads as 0.
common::Result<MongoSessionDocument> ParseMongoSessionDocument(
    const bson_t& bson);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORES_MONGO_DOCUMENT_H_
