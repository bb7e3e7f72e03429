#include "worker/session/snapshot_json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <optional>
#include <utility>

#include "common/json_writer.h"
#include "worker/model/outbound_message.h"

namespace dynoguard::worker {
namespace {

using common::JsonWriter;
using common::Result;
using common::Status;

// ---- Writing ---------------------------------------------------------------

void WriteMessage(JsonWriter& w, const OutboundMessage& m) {
  w.StartObject();
  w.Key("id").String(m.id);
  w.Key("to").String(m.to);
  w.Key("type").String(m.type);
  w.Key("content").String(m.content_json);
  w.Key("text").String(m.text);
  w.Key("template").String(m.template_json);
  w.Key("replyTo").String(m.reply_to);
  w.Key("idempotencyKey").String(m.idempotency_key);
  w.Key("status").String(ToString(m.status));
  w.Key("attempts").Int(m.attempts);
  w.Key("providerId").String(m.provider_id);
  w.Key("providerStatus").String(m.provider_status);
  if (m.error) {
    w.Key("error").StartObject();
    w.Key("code").String(m.error->code);
    w.Key("message").String(m.error->message);
    w.Key("retryable").Bool(m.error->retryable);
    w.EndObject();
  }
  w.Key("nextAttemptAt").Int(m.next_attempt_ms);
  w.Key("createdAt").Int(m.created_ms);
  w.Key("updatedAt").Int(m.updated_ms);
  w.EndObject();
}

// The snapshot's own names (a stored format: not tied to ToString's).
std::string_view SourceName(InboxSource source) {
  return source == InboxSource::kSandbox ? "sandbox" : "webhook";
}

void WriteInbox(JsonWriter& w, const InboxRow& row) {
  w.StartObject();
  w.Key("seq").Int(row.seq);
  w.Key("source").String(SourceName(row.source));
  w.Key("body").String(row.body);
  w.Key("receivedAt").Int(row.received_ms);
  w.EndObject();
}

void WriteEvent(JsonWriter& w, const StoredEvent& e) {
  w.StartObject();
  w.Key("event").StartObject();
  w.Key("id").String(e.event.id);
  w.Key("type").String(e.event.type);
  w.Key("chat").String(e.event.chat);
  w.Key("timestamp").Int(e.event.timestamp_ms);
  w.Key("json").String(e.event.json);
  w.EndObject();
  w.Key("attempts").Int(e.attempts);
  w.Key("nextAttemptAt").Int(e.next_attempt_ms);
  if (e.first_failure_ms) w.Key("firstFailureAt").Int(*e.first_failure_ms);
  w.Key("lastError").String(e.last_error);
  w.Key("createdAt").Int(e.created_ms);
  w.Key("updatedAt").Int(e.updated_ms);
  w.EndObject();
}

void WriteSeen(JsonWriter& w, const SeenKey& s) {
  w.StartObject();
  w.Key("key").String(s.key);
  w.Key("at").Int(s.at_ms);
  w.EndObject();
}

void WriteWindow(JsonWriter& w, const ContactWindow& c) {
  w.StartObject();
  w.Key("waId").String(c.wa_id);
  w.Key("lastInbound").Int(c.last_inbound_ms);
  w.EndObject();
}

void WriteConnection(JsonWriter& w, const ConnectionFacts& c) {
  w.StartObject();
  w.Key("state").String(c.state);
  w.Key("reason").String(c.reason);
  if (c.last_heartbeat_ms) w.Key("lastHeartbeat").Int(*c.last_heartbeat_ms);
  if (c.last_inbound_ms) w.Key("lastInbound").Int(*c.last_inbound_ms);
  if (c.last_outbound_ms) w.Key("lastOutbound").Int(*c.last_outbound_ms);
  w.EndObject();
}

template <typename T, typename WriteOne>
void WriteArray(JsonWriter& w, std::string_view key, const std::vector<T>& v,
                WriteOne write_one) {
  w.Key(key).StartArray();
  for (const T& item : v) write_one(w, item);
  w.EndArray();
}

template <typename T, typename WriteOne>
std::vector<size_t> SizesOf(const std::vector<T>& v, WriteOne write_one) {
  std::vector<size_t> sizes;
  sizes.reserve(v.size());
  for (const T& item : v) {
    JsonWriter w;
    write_one(w, item);
    sizes.push_back(w.view().size() + 1);  // and its comma
  }
  return sizes;
}

// ---- Reading ---------------------------------------------------------------

// The fields of one JSON object; the first error is kept in *error and every
// later call is a no-op that returns false.
class Fields {
 public:
  Fields(const rapidjson::Value& object, std::string path, Status* error)
      : object_(object), path_(std::move(path)), error_(error) {}

  bool String(const char* key, std::string* out) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return false;
    if (!v->IsString()) return Fail(key, "must be a string");
    out->assign(v->GetString(), v->GetStringLength());
    return true;
  }
  bool Int64(const char* key, int64_t* out) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return false;
    if (!v->IsInt64()) return Fail(key, "must be an integer");
    *out = v->GetInt64();
    return true;
  }
  bool Int(const char* key, int* out) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return false;
    if (!v->IsInt()) return Fail(key, "must be a 32-bit integer");
    *out = v->GetInt();
    return true;
  }
  bool Uint64(const char* key, uint64_t* out) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return false;
    if (!v->IsUint64()) return Fail(key, "must be an unsigned integer");
    *out = v->GetUint64();
    return true;
  }
  bool Bool(const char* key, bool* out) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return false;
    if (!v->IsBool()) return Fail(key, "must be true or false");
    *out = v->GetBool();
    return true;
  }
  // Absent or null → nullopt.
  bool OptionalInt64(const char* key, std::optional<int64_t>* out) {
    if (!error_->ok()) return false;
    auto it = object_.FindMember(key);
    if (it == object_.MemberEnd() || it->value.IsNull()) {
      out->reset();
      return true;
    }
    if (!it->value.IsInt64()) return Fail(key, "must be an integer or null");
    *out = it->value.GetInt64();
    return true;
  }
  // The member when present and not null; nullptr otherwise (also on error).
  const rapidjson::Value* OptionalObject(const char* key) {
    if (!error_->ok()) return nullptr;
    auto it = object_.FindMember(key);
    if (it == object_.MemberEnd() || it->value.IsNull()) return nullptr;
    if (!it->value.IsObject()) {
      Fail(key, "must be an object or null");
      return nullptr;
    }
    return &it->value;
  }
  const rapidjson::Value* Object(const char* key) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->IsObject()) {
      Fail(key, "must be an object");
      return nullptr;
    }
    return v;
  }
  const rapidjson::Value* Array(const char* key) {
    const rapidjson::Value* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->IsArray()) {
      Fail(key, "must be an array");
      return nullptr;
    }
    return v;
  }
  bool ok() const { return error_->ok(); }
  // The fields of `object`, member `key` of this one; sharing its error.
  Fields Nested(const rapidjson::Value& object, std::string_view key) const {
    return Fields(object, Path(key), error_);
  }
  bool Fail(std::string_view key, std::string_view what) {
    if (error_->ok()) {
      *error_ = Status::InvalidArgument("session snapshot: field " + Path(key) +
                                        " " + std::string(what));
    }
    return false;
  }
  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

 private:
  const rapidjson::Value* Find(const char* key) {
    if (!error_->ok()) return nullptr;
    auto it = object_.FindMember(key);
    if (it == object_.MemberEnd()) {
      Fail(key, "is missing");
      return nullptr;
    }
    return &it->value;
  }

  const rapidjson::Value& object_;
  const std::string path_;
  Status* const error_;
};

std::optional<InboxSource> ParseSource(std::string_view text) {
  if (text == "webhook") return InboxSource::kWebhook;
  if (text == "sandbox") return InboxSource::kSandbox;
  return std::nullopt;
}

void ReadMessage(Fields& f, OutboundMessage* m) {
  std::string status;
  f.String("id", &m->id) && f.String("to", &m->to) &&
      f.String("type", &m->type) && f.String("content", &m->content_json) &&
      f.String("text", &m->text) && f.String("template", &m->template_json) &&
      f.String("replyTo", &m->reply_to) &&
      f.String("idempotencyKey", &m->idempotency_key) &&
      f.String("status", &status) && f.Int("attempts", &m->attempts) &&
      f.String("providerId", &m->provider_id) &&
      f.String("providerStatus", &m->provider_status) &&
      f.Int64("nextAttemptAt", &m->next_attempt_ms) &&
      f.Int64("createdAt", &m->created_ms) &&
      f.Int64("updatedAt", &m->updated_ms);
  if (!f.ok()) return;
  std::optional<MessageStatus> parsed = ParseMessageStatus(status);
  if (!parsed) {
    f.Fail("status", "is not a known message status");
    return;
  }
  m->status = *parsed;
  if (const rapidjson::Value* e = f.OptionalObject("error")) {
    Fields ef = f.Nested(*e, "error");
    ProviderError error;
    if (ef.String("code", &error.code) &&
        ef.String("message", &error.message) &&
        ef.Bool("retryable", &error.retryable)) {
      m->error = std::move(error);
    }
  }
}

void ReadInbox(Fields& f, InboxRow* row) {
  std::string source;
  if (!(f.Int64("seq", &row->seq) && f.String("source", &source) &&
        f.String("body", &row->body) &&
        f.Int64("receivedAt", &row->received_ms))) {
    return;
  }
  std::optional<InboxSource> parsed = ParseSource(source);
  if (!parsed) {
    f.Fail("source", "must be \"webhook\" or \"sandbox\"");
    return;
  }
  row->source = *parsed;
}

void ReadEvent(Fields& f, StoredEvent* e) {
  if (const rapidjson::Value* event = f.Object("event")) {
    Fields ef = f.Nested(*event, "event");
    ef.String("id", &e->event.id) && ef.String("type", &e->event.type) &&
        ef.String("chat", &e->event.chat) &&
        ef.Int64("timestamp", &e->event.timestamp_ms) &&
        ef.String("json", &e->event.json);
  }
  f.Int("attempts", &e->attempts) &&
      f.Int64("nextAttemptAt", &e->next_attempt_ms) &&
      f.OptionalInt64("firstFailureAt", &e->first_failure_ms) &&
      f.String("lastError", &e->last_error) &&
      f.Int64("createdAt", &e->created_ms) &&
      f.Int64("updatedAt", &e->updated_ms);
}

void ReadSeen(Fields& f, SeenKey* s) {
  f.String("key", &s->key) && f.Int64("at", &s->at_ms);
}

void ReadWindow(Fields& f, ContactWindow* c) {
  f.String("waId", &c->wa_id) && f.Int64("lastInbound", &c->last_inbound_ms);
}

void ReadConnection(Fields& f, ConnectionFacts* c) {
  f.String("state", &c->state) && f.String("reason", &c->reason) &&
      f.OptionalInt64("lastHeartbeat", &c->last_heartbeat_ms) &&
      f.OptionalInt64("lastInbound", &c->last_inbound_ms) &&
      f.OptionalInt64("lastOutbound", &c->last_outbound_ms);
}

// The items of array `key` of `f`, each an object read by `read_one`.
template <typename T, typename ReadOne>
void ReadArray(Fields& f, const char* key, std::vector<T>* out, Status* error,
               ReadOne read_one) {
  const rapidjson::Value* array = f.Array(key);
  if (array == nullptr) return;
  out->reserve(array->Size());
  for (rapidjson::SizeType i = 0; i < array->Size() && error->ok(); ++i) {
    std::string path = std::string(key) + "[" + std::to_string(i) + "]";
    const rapidjson::Value& item = (*array)[i];
    if (!item.IsObject()) {
      *error = Status::InvalidArgument("session snapshot: field " + path +
                                       " must be an object");
      return;
    }
    Fields item_fields(item, std::move(path), error);
    T value;
    read_one(item_fields, &value);
    if (error->ok()) out->push_back(std::move(value));
  }
}

}  // namespace

namespace {

std::string WriteState(const SessionState& s, bool with_sequence_and_time) {
  JsonWriter w;
  w.StartObject();
  w.Key("name").String(s.name);
  if (with_sequence_and_time) {
    w.Key("sequence").Uint(s.sequence);
    w.Key("savedAt").Int(s.saved_ms);
  }
  w.Key("transport").String(s.transport);
  WriteArray(w, "pending", s.pending, WriteMessage);
  WriteArray(w, "awaitingStatus", s.awaiting_status, WriteMessage);
  WriteArray(w, "inbox", s.inbox, WriteInbox);
  WriteArray(w, "outbox", s.outbox, WriteEvent);
  WriteArray(w, "seen", s.seen, WriteSeen);
  WriteArray(w, "windows", s.windows, WriteWindow);
  w.Key("connection");
  WriteConnection(w, s.connection);
  w.Key("counters").StartObject();
  for (const auto& [name, value] : s.counters) w.Key(name).Int(value);
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace

std::string SessionStateToJson(const SessionState& state) {
  return WriteState(state, /*with_sequence_and_time=*/true);
}

std::string SessionContentToJson(const SessionState& state) {
  return WriteState(state, /*with_sequence_and_time=*/false);
}

std::string MessageToJson(const OutboundMessage& message) {
  JsonWriter w;
  WriteMessage(w, message);
  return w.str();
}

EntrySizes JsonEntrySizes(const SessionState& s) {
  EntrySizes sizes;
  sizes.awaiting_status = SizesOf(s.awaiting_status, WriteMessage);
  sizes.inbox = SizesOf(s.inbox, WriteInbox);
  sizes.outbox = SizesOf(s.outbox, WriteEvent);
  sizes.seen = SizesOf(s.seen, WriteSeen);
  sizes.windows = SizesOf(s.windows, WriteWindow);
  return sizes;
}

common::Result<SessionState> SessionStateFromJson(std::string_view json) {
  rapidjson::Document doc;
  // Iterative: no recursion, whatever the nesting of a crafted payload.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return Status::InvalidArgument(
        std::string("session snapshot: the state is not valid JSON (") +
        rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
        std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) {
    return Status::InvalidArgument(
        "session snapshot: the state is not a JSON object");
  }
  Status error;
  Fields f(doc, "", &error);
  SessionState s;
  f.String("name", &s.name) && f.Uint64("sequence", &s.sequence) &&
      f.Int64("savedAt", &s.saved_ms) && f.String("transport", &s.transport);
  ReadArray(f, "pending", &s.pending, &error, ReadMessage);
  ReadArray(f, "awaitingStatus", &s.awaiting_status, &error, ReadMessage);
  ReadArray(f, "inbox", &s.inbox, &error, ReadInbox);
  ReadArray(f, "outbox", &s.outbox, &error, ReadEvent);
  ReadArray(f, "seen", &s.seen, &error, ReadSeen);
  ReadArray(f, "windows", &s.windows, &error, ReadWindow);
  if (const rapidjson::Value* c = f.Object("connection")) {
    Fields cf = f.Nested(*c, "connection");
    ReadConnection(cf, &s.connection);
  }
  if (const rapidjson::Value* counters = f.Object("counters")) {
    for (auto it = counters->MemberBegin();
         it != counters->MemberEnd() && error.ok(); ++it) {
      if (!it->value.IsInt64()) {
        // Not the counter's name: it could be anything.
        error = Status::InvalidArgument(
            "session snapshot: field counters must hold integers only");
        break;
      }
      s.counters[std::string(it->name.GetString(),
                             it->name.GetStringLength())] =
          it->value.GetInt64();
    }
  }
  if (!error.ok()) return error;
  return s;
}

}  // namespace dynoguard::worker
