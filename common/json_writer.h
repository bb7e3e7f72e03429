// JsonWriter: compact JSON into a string, with string_view keys and values
// and chaining — the one writer for the HTTP API's bodies, errors, /health and
// JSON log lines. Strings are escaped by RapidJSON; they must be valid UTF-8
// (common/utf8.h), which every stored text is.
#ifndef DYNOGUARD_COMMON_JSON_WRITER_H_
#define DYNOGUARD_COMMON_JSON_WRITER_H_

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace dynoguard::common {

// Not thread-safe. Calls must form one JSON value (RapidJSON asserts in debug
// builds).
class JsonWriter {
 public:
  JsonWriter() : writer_(buffer_) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& Key(std::string_view key) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    return *this;
  }
  JsonWriter& String(std::string_view value) {
    writer_.String(value.data(),
                   static_cast<rapidjson::SizeType>(value.size()));
    return *this;
  }
  JsonWriter& Int(int64_t value) {
    writer_.Int64(value);
    return *this;
  }
  JsonWriter& Uint(uint64_t value) {
    writer_.Uint64(value);
    return *this;
  }
  JsonWriter& Double(double value) {
    writer_.Double(value);
    return *this;
  }
  JsonWriter& Bool(bool value) {
    writer_.Bool(value);
    return *this;
  }
  JsonWriter& Null() {
    writer_.Null();
    return *this;
  }
  // Already-serialized JSON (e.g. a stored template object) as one value.
  JsonWriter& RawValue(std::string_view json) {
    writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  JsonWriter& StartObject() {
    writer_.StartObject();
    return *this;
  }
  JsonWriter& EndObject() {
    writer_.EndObject();
    return *this;
  }
  JsonWriter& StartArray() {
    writer_.StartArray();
    return *this;
  }
  JsonWriter& EndArray() {
    writer_.EndArray();
    return *this;
  }

  // The RapidJSON writer, for Value::Accept.
  rapidjson::Writer<rapidjson::StringBuffer>& raw() { return writer_; }

  // The text written so far.
  std::string str() const {
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }
  std::string_view view() const {
    return std::string_view(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_JSON_WRITER_H_
