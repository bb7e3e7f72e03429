#include "worker/inbound/cloud/webhook_parser.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

#include "worker/outbound/message_request.h"

namespace dynoguard::worker {

namespace {

using common::Result;
using common::Status;
using rapidjson::Value;

constexpr std::string_view kMediaTypes[] = {"image", "document", "audio",
                                            "video", "sticker"};

// The largest Unix time in seconds we accept (year 9999): keeps * 1000 in
// range.
constexpr int64_t kMaxTimestampS = 253402300799;

Status Bad(const std::string& where, std::string_view what) {
  return Status::InvalidArgument("webhook " + where + ": " + std::string(what));
}

std::string Index(const std::string& where, const char* name, size_t i) {
  return where + (where.empty() ? "" : ".") + name + "[" + std::to_string(i) +
         "]";
}

std::string Field(const std::string& where, const char* name) {
  return where + "." + name;
}

std::string Str(const Value& value) {
  return std::string(value.GetString(), value.GetStringLength());
}

// A required string member.
Status RequireString(const Value& object, const char* name,
                     const std::string& where, std::string& out) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) {
    return Bad(Field(where, name), "missing");
  }
  if (!it->value.IsString()) return Bad(Field(where, name), "not a string");
  out = Str(it->value);
  return Status::Ok();
}

// An optional string member; a member of another type is ignored.
std::optional<std::string> OptionalString(const Value& object,
                                          const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return Str(it->value);
}

// An optional object member: nullptr when absent or null; an error when of
// another type.
Result<const Value*> OptionalObject(const Value& object, const char* name,
                                    const std::string& where) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) {
    return static_cast<const Value*>(nullptr);
  }
  if (!it->value.IsObject()) return Bad(Field(where, name), "not an object");
  return &it->value;
}

Result<const Value*> OptionalArray(const Value& object, const char* name,
                                   const std::string& where) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) {
    return static_cast<const Value*>(nullptr);
  }
  if (!it->value.IsArray()) return Bad(Field(where, name), "not an array");
  return &it->value;
}

// "timestamp": Unix seconds as a string of digits (Meta's form) or a number.
Result<int64_t> TimestampMs(const Value& object, const std::string& where) {
  std::string at = Field(where, "timestamp");
  auto it = object.FindMember("timestamp");
  if (it == object.MemberEnd() || it->value.IsNull()) return Bad(at, "missing");
  int64_t seconds = 0;
  if (it->value.IsString()) {
    std::string_view text(it->value.GetString(), it->value.GetStringLength());
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return Bad(at, "not Unix seconds");
    }
  } else if (it->value.IsInt64()) {
    seconds = it->value.GetInt64();
  } else {
    return Bad(at, "not Unix seconds");
  }
  if (seconds < 0 || seconds > kMaxTimestampS) return Bad(at, "out of range");
  return seconds * 1000;
}

std::string Compact(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool IsMediaType(std::string_view type) {
  for (std::string_view media : kMediaTypes) {
    if (media == type) return true;
  }
  return false;
}

// The type's own object, required for the types whose content we read.
Result<const Value*> TypeObject(const Value& message, const std::string& type,
                                const std::string& where) {
  Result<const Value*> object = OptionalObject(message, type.c_str(), where);
  if (!object.ok()) return object.status();
  if (*object == nullptr) return Bad(Field(where, type.c_str()), "missing");
  return object;
}

Status ReadContent(const Value& message, const std::string& where,
                   WebhookMessage& out) {
  const std::string& type = out.type;
  if (type == "location") {
    // The summary is its name, else its address (Meta sends either, both or
    // neither); the coordinates travel in raw_json. Nothing here is
    // required, so a location of another shape is kept without text.
    auto it = message.FindMember("location");
    if (it != message.MemberEnd() && it->value.IsObject()) {
      out.message.text = OptionalString(it->value, "name").value_or("");
      if (out.message.text.empty()) {
        out.message.text = OptionalString(it->value, "address").value_or("");
      }
    }
    return Status::Ok();
  }
  bool needs_object = type == "text" || IsMediaType(type) ||
                      type == "reaction" || type == "interactive" ||
                      type == "button";
  // Other types (contacts, order, …) travel in raw_json only;
  // their shape is Meta's business (contacts is an array).
  if (!needs_object) return Status::Ok();
  Result<const Value*> found = TypeObject(message, type, where);
  if (!found.ok()) return found.status();
  const Value* object = *found;
  if (object == nullptr) return Status::Ok();
  std::string at = Field(where, type.c_str());

  if (type == "text") {
    return RequireString(*object, "body", at, out.message.text);
  }
  if (IsMediaType(type)) {
    WebhookMessage::Media media;
    if (Status s = RequireString(*object, "id", at, media.id); !s.ok()) {
      return s;
    }
    media.mime_type = OptionalString(*object, "mime_type").value_or("");
    media.caption = OptionalString(*object, "caption");
    media.filename = OptionalString(*object, "filename");
    if (media.caption) out.message.text = *media.caption;
    out.media = std::move(media);
    return Status::Ok();
  }
  if (type == "reaction") {
    if (Status s = RequireString(*object, "message_id", at, out.context_id);
        !s.ok()) {
      return s;
    }
    out.message.text = OptionalString(*object, "emoji").value_or("");
    return Status::Ok();
  }
  if (type == "interactive") {
    std::string kind;
    if (Status s = RequireString(*object, "type", at, kind); !s.ok()) return s;
    if (kind == "button_reply" || kind == "list_reply") {
      Result<const Value*> reply = OptionalObject(*object, kind.c_str(), at);
      if (!reply.ok()) return reply.status();
      if (*reply == nullptr) return Bad(Field(at, kind.c_str()), "missing");
      out.message.text = OptionalString(**reply, "title").value_or("");
    }
    return Status::Ok();
  }
  if (type == "button") {
    out.message.text = OptionalString(*object, "text").value_or("");
  }
  return Status::Ok();
}

Status ParseMessage(const Value& message, const std::string& where,
                    const std::string& phone_number_id, WebhookBatch& batch) {
  if (!message.IsObject()) return Bad(where, "not an object");
  WebhookMessage out;
  out.phone_number_id = phone_number_id;
  if (Status s = RequireString(message, "id", where, out.message.id); !s.ok()) {
    return s;
  }
  if (out.message.id.empty()) return Bad(Field(where, "id"), "empty");
  if (Status s = RequireString(message, "from", where, out.message.from);
      !s.ok()) {
    return s;
  }
  if (Status s = RequireString(message, "type", where, out.type); !s.ok()) {
    return s;
  }
  Result<int64_t> timestamp = TimestampMs(message, where);
  if (!timestamp.ok()) return timestamp.status();
  out.message.timestamp_ms = *timestamp;

  Result<const Value*> context = OptionalObject(message, "context", where);
  if (!context.ok()) return context.status();
  if (Status s = ReadContent(message, where, out); !s.ok()) return s;
  if (*context != nullptr) {
    if (auto id = OptionalString(**context, "id")) out.context_id = *id;
  }
  out.raw_json = Compact(message);
  batch.messages.push_back(std::move(out));
  return Status::Ok();
}

// A status's or value's error object; `code` required.
Result<WebhookError> ParseError(const Value& error, const std::string& where) {
  if (!error.IsObject()) return Bad(where, "not an object");
  auto code = error.FindMember("code");
  if (code == error.MemberEnd() || !code->value.IsInt()) {
    return Bad(Field(where, "code"), "missing or not an integer");
  }
  WebhookError out;
  out.code = code->value.GetInt();
  out.title = OptionalString(error, "title").value_or("");
  out.message = OptionalString(error, "message").value_or(out.title);
  auto data = error.FindMember("error_data");
  if (data != error.MemberEnd() && data->value.IsObject()) {
    out.details = OptionalString(data->value, "details").value_or("");
  }
  return out;
}

Status ParseStatus(const Value& status, const std::string& where,
                   const std::string& phone_number_id, WebhookBatch& batch) {
  if (!status.IsObject()) return Bad(where, "not an object");
  WebhookStatus out;
  out.phone_number_id = phone_number_id;
  std::string name;
  if (Status s = RequireString(status, "id", where, out.update.provider_id);
      !s.ok()) {
    return s;
  }
  if (out.update.provider_id.empty()) return Bad(Field(where, "id"), "empty");
  if (Status s = RequireString(status, "status", where, name); !s.ok()) {
    return s;
  }
  Result<int64_t> timestamp = TimestampMs(status, where);
  if (!timestamp.ok()) return timestamp.status();
  out.update.timestamp_ms = *timestamp;
  out.recipient_id = OptionalString(status, "recipient_id").value_or("");

  Result<const Value*> errors = OptionalArray(status, "errors", where);
  if (!errors.ok()) return errors.status();
  if (*errors != nullptr && !(*errors)->Empty()) {
    Result<WebhookError> first =
        ParseError((**errors)[0], Index(where, "errors", 0));
    if (!first.ok()) return first.status();
    std::string message =
        first->message.empty() ? first->title : first->message;
    if (!first->details.empty() && first->details != message) {
      message = message.empty() ? first->details
                                : message + " (" + first->details + ")";
    }
    out.update.error =
        ProviderError{std::to_string(first->code), message, false};
  }

  std::optional<MessageStatus> parsed = ParseMessageStatus(name);
  if (!parsed ||
      (*parsed != MessageStatus::kSent &&
       *parsed != MessageStatus::kDelivered &&
       *parsed != MessageStatus::kRead && *parsed != MessageStatus::kFailed)) {
    ++batch.skipped;
    return Status::Ok();
  }
  out.update.status = *parsed;
  batch.statuses.push_back(std::move(out));
  return Status::Ok();
}

// Records the part at `where` as left out: `status` is Bad's
// "webhook <place>: <what>", kept from the part on ("text.body: missing").
void AddMalformed(const std::string& where, const Status& status,
                  WebhookBatch& batch) {
  std::string_view error = status.message();
  constexpr std::string_view kPrefix = "webhook ";
  if (error.starts_with(kPrefix)) error.remove_prefix(kPrefix.size());
  if (error.starts_with(where)) {
    std::string_view rest = error.substr(where.size());
    if (rest.starts_with(".")) {
      error = rest.substr(1);
    } else if (rest.starts_with(": ")) {
      error = rest.substr(2);
    }
  }
  batch.malformed.push_back({where, std::string(error)});
}

// Applies `parse` to each element of the optional array `name` of `value`.
// An element that fails is left out alone (recorded in batch.malformed), so
// one odd event never costs the others; so is a member that is not an array.
template <typename Parse>
void EachOf(const Value& value, const char* name, const std::string& where,
            WebhookBatch& batch, Parse parse) {
  Result<const Value*> array = OptionalArray(value, name, where);
  if (!array.ok()) {
    AddMalformed(Field(where, name), array.status(), batch);
    return;
  }
  if (*array == nullptr) return;
  for (rapidjson::SizeType i = 0; i < (*array)->Size(); ++i) {
    std::string at = Index(where, name, i);
    if (Status s = parse((**array)[i], at); !s.ok()) {
      AddMalformed(at, s, batch);
    }
  }
}

// A change whose own shape is off (no "field", no "value" object, a
// "metadata" of another type) fails whole: nothing in it can be placed. Its
// arrays' elements fail alone (EachOf).
Status ParseChange(const Value& change, const std::string& where,
                   WebhookBatch& batch) {
  if (!change.IsObject()) return Bad(where, "not an object");
  std::optional<std::string> field = OptionalString(change, "field");
  if (!field) return Bad(Field(where, "field"), "missing or not a string");
  if (*field != "messages") {
    ++batch.skipped;
    return Status::Ok();
  }
  Result<const Value*> value = OptionalObject(change, "value", where);
  if (!value.ok()) return value.status();
  if (*value == nullptr) return Bad(Field(where, "value"), "missing");
  std::string at = Field(where, "value");
  // metadata.phone_number_id: which of the business's numbers this is for.
  std::string phone_number_id;
  Result<const Value*> metadata = OptionalObject(**value, "metadata", at);
  if (!metadata.ok()) return metadata.status();
  if (*metadata != nullptr) {
    phone_number_id =
        OptionalString(**metadata, "phone_number_id").value_or("");
  }
  EachOf(**value, "messages", at, batch,
         [&](const Value& v, const std::string& w) {
           return ParseMessage(v, w, phone_number_id, batch);
         });
  EachOf(**value, "statuses", at, batch,
         [&](const Value& v, const std::string& w) {
           return ParseStatus(v, w, phone_number_id, batch);
         });
  EachOf(**value, "errors", at, batch,
         [&](const Value& v, const std::string& w) -> Status {
           Result<WebhookError> error = ParseError(v, w);
           if (!error.ok()) return error.status();
           batch.errors.push_back(std::move(error).value());
           return Status::Ok();
         });
  return Status::Ok();
}

}  // namespace

Result<WebhookBatch> ParseWebhook(std::string_view body) {
  // RapidJSON's writer (raw_json) recurses per level: refuse deep bodies
  // before parsing, as the HTTP API does.
  if (JsonNestingDepth(body) > kMaxWebhookDepth) {
    return Status::InvalidArgument("webhook body is nested deeper than " +
                                   std::to_string(kMaxWebhookDepth) +
                                   " levels");
  }
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag |
                 rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError()) {
    return Status::InvalidArgument(
        std::string("webhook body is not valid JSON: ") +
        rapidjson::GetParseError_En(document.GetParseError()) + " at offset " +
        std::to_string(document.GetErrorOffset()));
  }
  if (!document.IsObject()) {
    return Status::InvalidArgument("webhook body is not a JSON object");
  }
  std::optional<std::string> object = OptionalString(document, "object");
  if (!object || *object != "whatsapp_business_account") {
    return Status::InvalidArgument(
        "webhook object is not \"whatsapp_business_account\"");
  }
  // Up to here the body is not a WhatsApp Business Account object at all:
  // it fails whole. From here on, each part stands alone.
  auto entries = document.FindMember("entry");
  if (entries == document.MemberEnd() || !entries->value.IsArray()) {
    return Status::InvalidArgument("webhook entry: missing or not an array");
  }
  WebhookBatch batch;
  for (rapidjson::SizeType i = 0; i < entries->value.Size(); ++i) {
    const Value& entry = entries->value[i];
    std::string where = Index("", "entry", i);
    if (!entry.IsObject()) {
      AddMalformed(where, Bad(where, "not an object"), batch);
      continue;
    }
    EachOf(entry, "changes", where, batch,
           [&](const Value& v, const std::string& w) {
             return ParseChange(v, w, batch);
           });
  }
  return batch;
}

}  // namespace dynoguard::worker
