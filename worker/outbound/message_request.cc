#include "worker/outbound/message_request.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "common/json_writer.h"
#include "common/utf8.h"

namespace dynoguard::worker {
namespace {

using rapidjson::Value;

// The path ("text", "template.components[0].text") of the first string
// or member name in `value` that is not valid UTF-8; nullopt when all are.
// `path` is the path of `value` itself. Recursion is bounded by kMaxJsonDepth
// (checked before parsing).
std::optional<std::string> FirstInvalidString(const Value& value,
                                              const std::string& path) {
  if (value.IsString()) {
    if (!common::IsValidUtf8(
            std::string_view(value.GetString(), value.GetStringLength()))) {
      return path;
    }
    return std::nullopt;
  }
  auto join = [&path](std::string_view part) {
    return path.empty() ? std::string(part) : path + "." + std::string(part);
  };
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      std::string_view key(member.name.GetString(),
                           member.name.GetStringLength());
      if (!common::IsValidUtf8(key)) return path;
      if (auto found = FirstInvalidString(member.value, join(key))) {
        return found;
      }
    }
  } else if (value.IsArray()) {
    rapidjson::SizeType index = 0;
    for (const auto& element : value.GetArray()) {
      if (auto found = FirstInvalidString(
              element, path + "[" + std::to_string(index++) + "]")) {
        return found;
      }
    }
  }
  return std::nullopt;
}

// Parses `body` as one JSON object. Encoding is validated so that a string we
// store and later re-serialize is real UTF-8. Nesting deeper than
// kMaxJsonDepth is refused before parsing: RapidJSON's reader and writer
// recurse per level, and a body of a few MB of "[" would exhaust a thread's
// stack.
std::optional<RequestError> ParseObject(std::string_view body,
                                        rapidjson::Document& doc) {
  if (JsonNestingDepth(body) > kMaxJsonDepth) {
    return RequestError{"invalid_json", "",
                        "body is nested deeper than " +
                            std::to_string(kMaxJsonDepth) + " levels"};
  }
  // Without kParseStopWhenDoneFlag, anything but whitespace after the value
  // ("{} x") is an error too.
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    return RequestError{"invalid_json", "",
                        std::string("body is not valid JSON: ") +
                            rapidjson::GetParseError_En(doc.GetParseError()) +
                            " at offset " +
                            std::to_string(doc.GetErrorOffset())};
  }
  if (!doc.IsObject()) {
    return RequestError{"invalid_json", "", "body must be a JSON object"};
  }
  // RapidJSON validates the bytes of the body, but decodes a lone surrogate
  // escape ("\udc00", or "\ud800" without its low half) into bytes that are
  // not UTF-8 (ED B0 80). Stored and re-serialized, those would break every
  // JSON document they end up in (the outbox, /api/messages/{id}).
  if (std::optional<std::string> field = FirstInvalidString(doc, "")) {
    return FieldError(*field,
                      (field->empty() ? std::string("a member name") : *field) +
                          " is not valid UTF-8 (a lone surrogate escape such "
                          "as \\udc00 is not a character)");
  }
  return std::nullopt;
}

// The member `name`, or null when absent or JSON null.
const Value* Member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string_view View(const Value& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

bool IsBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
}

// Validates a phone-number member (`to`, `from`).
Parsed<std::string> ParsePhone(const Value& object, const char* name) {
  const Value* value = Member(object, name);
  if (value == nullptr) {
    return FieldError(name, std::string(name) + " is required");
  }
  if (!value->IsString()) {
    return FieldError(name, std::string(name) +
                                " must be a string of 8 to 15 digits "
                                "(E.164, an optional leading '+')");
  }
  std::optional<std::string> phone = NormalizePhoneNumber(View(*value));
  if (!phone) {
    return FieldError(name, std::string(name) +
                                " must be 8 to 15 digits (E.164 without "
                                "spaces, an optional leading '+')");
  }
  return *phone;
}

// Validates a text member: a string, not blank, at most 4096 code points.
std::optional<RequestError> CheckText(const Value& value, const char* name) {
  if (!value.IsString()) {
    return FieldError(name, std::string(name) + " must be a string");
  }
  std::string_view text = View(value);
  if (text.empty() || IsBlank(text)) {
    return FieldError(name, std::string(name) + " must not be empty");
  }
  if (Utf8Length(text) > kMaxTextCodePoints) {
    return FieldError(name, std::string(name) + " is longer than " +
                                std::to_string(kMaxTextCodePoints) +
                                " characters");
  }
  return std::nullopt;
}

// An optional string member of 1..max_length characters (code points);
// errors name `prefix` + `name`.
std::optional<RequestError> OptionalString(const Value& object,
                                           const char* name, size_t max_length,
                                           std::string& out,
                                           std::string_view prefix = {}) {
  const std::string field = std::string(prefix) + name;
  const Value* value = Member(object, name);
  if (value == nullptr) return std::nullopt;
  if (!value->IsString() || value->GetStringLength() == 0) {
    return FieldError(field, field + " must be a non-empty string");
  }
  if (Utf8Length(View(*value)) > max_length) {
    return FieldError(field, field + " is longer than " +
                                 std::to_string(max_length) + " characters");
  }
  out = std::string(View(*value));
  return std::nullopt;
}

}  // namespace

std::optional<std::string> NormalizePhoneNumber(std::string_view phone) {
  if (!phone.empty() && phone.front() == '+') phone.remove_prefix(1);
  if (phone.size() < kMinPhoneDigits || phone.size() > kMaxPhoneDigits) {
    return std::nullopt;
  }
  if (!std::all_of(phone.begin(), phone.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::string(phone);
}

Parsed<NewMessage> ParseMessageRequest(std::string_view body) {
  rapidjson::Document doc;
  if (auto error = ParseObject(body, doc)) return *error;

  NewMessage message;
  Parsed<std::string> to = ParsePhone(doc, "to");
  if (auto* error = std::get_if<RequestError>(&to)) return *error;
  message.to = std::get<std::string>(std::move(to));

  // Which kind: "type", else the one kind member present.
  std::vector<std::string_view> present;
  for (std::string_view kind : kMessageTypes) {
    if (Member(doc, std::string(kind).c_str()) != nullptr) {
      present.push_back(kind);
    }
  }
  std::string type;
  if (const Value* declared = Member(doc, "type")) {
    if (!declared->IsString() || !IsMessageType(View(*declared))) {
      return FieldError("type", "type must be one of: " + MessageTypeList());
    }
    type = std::string(View(*declared));
    for (std::string_view other : present) {
      if (other != type) {
        return FieldError(std::string(other),
                          "type is " + type + ", but " + std::string(other) +
                              " is also given; send one message kind");
      }
    }
    if (present.empty()) {
      return FieldError(type, type + " is required with type " + type);
    }
  } else if (present.empty()) {
    return FieldError("text",
                      "text (or template, or a \"type\" with its object: " +
                          MessageTypeList() + ") is required");
  } else if (present.size() > 1) {
    return FieldError(std::string(present[1]),
                      "give one message kind: both " + std::string(present[0]) +
                          " and " + std::string(present[1]) + " are given");
  } else {
    type = std::string(present[0]);
  }

  const Value& content = *Member(doc, type.c_str());
  const Value* preview_url = Member(doc, "previewUrl");
  const bool shorthand = type == "text" && content.IsString();
  if (preview_url != nullptr && !shorthand) {
    return FieldError("previewUrl",
                      "previewUrl goes with the text shorthand "
                      "{\"text\":\"…\"}; the Cloud form takes "
                      "text.preview_url");
  }
  Parsed<MessageContent> parsed = shorthand
                                      ? ParseTextShorthand(content, preview_url)
                                      : ParseMessageContent(type, content);
  if (auto* error = std::get_if<RequestError>(&parsed)) return *error;
  MessageContent& built = std::get<MessageContent>(parsed);
  message.type = type;
  message.content_json = std::move(built.content_json);
  message.text = std::move(built.summary);
  if (type == "template") message.template_json = message.content_json;

  if (auto error =
          OptionalString(doc, "replyTo", kMaxReplyToLength, message.reply_to)) {
    return *error;
  }
  if (const Value* context = Member(doc, "context")) {
    if (!context->IsObject()) {
      return FieldError(
          "context", "context must be an object {\"message_id\":\"wamid…\"}");
    }
    std::string replied;
    if (auto error = OptionalString(*context, "message_id", kMaxReplyToLength,
                                    replied, "context.")) {
      return *error;
    }
    if (replied.empty()) {
      return FieldError("context.message_id", "context.message_id is required");
    }
    if (!message.reply_to.empty() && message.reply_to != replied) {
      return FieldError("context.message_id",
                        "replyTo and context.message_id differ; give one");
    }
    message.reply_to = std::move(replied);
  }
  if (auto error =
          OptionalString(doc, "idempotencyKey", kMaxIdempotencyKeyLength,
                         message.idempotency_key)) {
    return *error;
  }
  return message;
}

Parsed<InboundRequest> ParseInboundRequest(std::string_view body) {
  rapidjson::Document doc;
  if (auto error = ParseObject(body, doc)) return *error;

  InboundRequest request;
  Parsed<std::string> from = ParsePhone(doc, "from");
  if (auto* error = std::get_if<RequestError>(&from)) return *error;
  request.from = std::get<std::string>(std::move(from));

  const Value* text = Member(doc, "text");
  if (text == nullptr) return FieldError("text", "text is required");
  if (auto error = CheckText(*text, "text")) return *error;
  request.text = std::string(View(*text));
  return request;
}

Parsed<FailRequest> ParseFailRequest(std::string_view body) {
  rapidjson::Document doc;
  if (auto error = ParseObject(body, doc)) return *error;

  FailRequest request;
  const Value* count = Member(doc, "count");
  if (count == nullptr || !count->IsInt() || count->GetInt() < 1 ||
      count->GetInt() > 1000) {
    return FieldError("count", "count must be an integer from 1 to 1000");
  }
  request.count = count->GetInt();
  const Value* code = Member(doc, "code");
  if (code == nullptr || !code->IsInt() || code->GetInt() < 0) {
    return FieldError("code",
                      "code must be a Graph API error code (an integer >= 0)");
  }
  request.code = code->GetInt();
  if (auto error = OptionalString(doc, "message", 1024, request.message)) {
    return *error;
  }
  return request;
}

size_t JsonNestingDepth(std::string_view text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        deepest = std::max(deepest, ++depth);
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

}  // namespace dynoguard::worker
