#include "worker/session/stores/mongo_document.h"

#include <limits>

namespace dynoguard::worker {
namespace {

void AppendUtf8(bson_t* bson, const char* key, std::string_view value) {
  bson_append_utf8(bson, key, -1, value.data(), static_cast<int>(value.size()));
}

}  // namespace

common::Status CheckMongoSessionName(std::string_view name) {
  if (name.empty()) {
    return common::Status::InvalidArgument("mongodb: SESSION_NAME is empty");
  }
  if (!bson_utf8_validate(name.data(), name.size(), /*allow_null=*/false)) {
    return common::Status::InvalidArgument(
        "mongodb: SESSION_NAME is not valid UTF-8");
  }
  return common::Status::Ok();
}

common::Result<int64_t> MongoSequence(uint64_t sequence) {
  if (sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return common::Status::InvalidArgument(
        "mongodb: the snapshot sequence does not fit BSON's int64");
  }
  return static_cast<int64_t>(sequence);
}

BsonPtr MongoLoadFilter(std::string_view name) {
  BsonPtr filter(bson_new());
  AppendUtf8(filter.get(), "_id", name);
  return filter;
}

BsonPtr MongoSaveFilter(std::string_view name, int64_t sequence) {
  BsonPtr filter(bson_new());
  AppendUtf8(filter.get(), "_id", name);
  bson_t lt;
  bson_append_document_begin(filter.get(), "sequence", -1, &lt);
  bson_append_int64(&lt, "$lt", -1, sequence);
  bson_append_document_end(filter.get(), &lt);
  return filter;
}

common::Result<BsonPtr> MongoSaveUpdate(int64_t sequence,
                                        std::string_view document,
                                        int64_t now_ms) {
  if (!bson_utf8_validate(document.data(), document.size(),
                          /*allow_null=*/false)) {
    return common::Status::InvalidArgument(
        "mongodb save: the session document is not valid UTF-8 text");
  }
  BsonPtr update(bson_new());
  bson_t set;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  bson_append_int64(&set, "sequence", -1, sequence);
  AppendUtf8(&set, "document", document);
  bson_append_date_time(&set, "updatedAt", -1, now_ms);
  bson_append_document_end(update.get(), &set);
  return update;
}

common::Result<MongoSessionDocument> ParseMongoSessionDocument(
    const bson_t& bson) {
  MongoSessionDocument out;
  bson_iter_t it;
  if (!bson_iter_init_find(&it, &bson, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
    return common::Status::InvalidArgument(
        "mongodb load: the stored session has no string _id");
  }
  uint32_t length = 0;
  const char* text = bson_iter_utf8(&it, &length);
  out.name.assign(text, length);

  if (!bson_iter_init_find(&it, &bson, "sequence") ||
      !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
    return common::Status::InvalidArgument(
        "mongodb load: the stored session '" + out.name +
        "' has no integer sequence");
  }
  out.sequence = bson_iter_as_int64(&it);

  if (!bson_iter_init_find(&it, &bson, "document") ||
      !BSON_ITER_HOLDS_UTF8(&it)) {
    return common::Status::InvalidArgument(
        "mongodb load: the stored session '" + out.name +
        "' has no string document");
  }
  text = bson_iter_utf8(&it, &length);
  out.document.assign(text, length);

  if (bson_iter_init_find(&it, &bson, "updatedAt") &&
      BSON_ITER_HOLDS_DATE_TIME(&it)) {
    out.updated_ms = bson_iter_date_time(&it);
  }
  return out;
}

}  // namespace dynoguard::worker
