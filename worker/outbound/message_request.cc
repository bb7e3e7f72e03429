#include "worker/outbound/message_request.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <climits>
#include <string>

#include "common/json_writer.h"
#include "common/utf8.h"

namespace dynoguard::worker {
namespace {

using rapidjson::Value;

RequestError FieldError(std::string field, std::string message) {
  return RequestError{"invalid_field", std::move(field), std::move(message)};
}

// The dotted path ("text", "template.components.0.text") of the first string
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
      if (auto found =
              FirstInvalidString(element, join(std::to_string(index++)))) {
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

// Validates the template object and writes its Cloud API form to `out`.
std::optional<RequestError> ParseTemplate(const Value& tmpl, std::string& out) {
  if (!tmpl.IsObject()) {
    return FieldError("template",
                      "template must be an object {\"name\",\"language\"}");
  }
  const Value* name = Member(tmpl, "name");
  if (name == nullptr || !name->IsString() || name->GetStringLength() == 0) {
    return FieldError("template.name",
                      "template.name must be a non-empty string");
  }
  if (name->GetStringLength() > 512) {
    return FieldError("template.name",
                      "template.name is longer than 512 characters");
  }
  const Value* language = Member(tmpl, "language");
  bool language_ok = false;
  if (language != nullptr && language->IsString()) {
    language_ok = language->GetStringLength() > 0;
  } else if (language != nullptr && language->IsObject()) {
    const Value* code = Member(*language, "code");
    language_ok =
        code != nullptr && code->IsString() && code->GetStringLength() > 0;
  }
  if (!language_ok) {
    return FieldError("template.language",
                      "template.language must be a language code such as "
                      "\"en_US\" or an object {\"code\":\"en_US\"}");
  }
  const Value* components = Member(tmpl, "components");
  if (components != nullptr && !components->IsArray()) {
    return FieldError("template.components",
                      "template.components must be an array");
  }

  common::JsonWriter json;
  rapidjson::Writer<rapidjson::StringBuffer>& writer = json.raw();
  writer.StartObject();
  writer.Key("name");
  name->Accept(writer);
  writer.Key("language");
  if (language->IsString()) {
    writer.StartObject();
    writer.Key("code");
    language->Accept(writer);
    writer.EndObject();
  } else {
    language->Accept(writer);
  }
  if (components != nullptr) {
    writer.Key("components");
    components->Accept(writer);
  }
  writer.EndObject();
  out = json.str();
  return std::nullopt;
}

// An optional string member of 1..max_length characters (code points).
std::optional<RequestError> OptionalString(const Value& object,
                                           const char* name, size_t max_length,
                                           std::string& out) {
  const Value* value = Member(object, name);
  if (value == nullptr) return std::nullopt;
  if (!value->IsString() || value->GetStringLength() == 0) {
    return FieldError(name, std::string(name) + " must be a non-empty string");
  }
  if (Utf8Length(View(*value)) > max_length) {
    return FieldError(name, std::string(name) + " is longer than " +
                                std::to_string(max_length) + " characters");
  }
  out = std::string(View(*value));
  return std::nullopt;
}

}  // namespace

size_t Utf8Length(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

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

  const Value* text = Member(doc, "text");
  const Value* tmpl = Member(doc, "template");
  if (text != nullptr && tmpl != nullptr) {
    return FieldError("template", "give either text or template, not both");
  }
  if (text == nullptr && tmpl == nullptr) {
    return FieldError("text", "text (or template) is required");
  }
  if (text != nullptr) {
    if (auto error = CheckText(*text, "text")) return *error;
    message.text = std::string(View(*text));
  } else if (auto error = ParseTemplate(*tmpl, message.template_json)) {
    return *error;
  }

  if (auto error =
          OptionalString(doc, "replyTo", kMaxReplyToLength, message.reply_to)) {
    return *error;
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
