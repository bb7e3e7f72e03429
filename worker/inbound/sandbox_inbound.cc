#include "worker/inbound/sandbox_inbound.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <utility>
#include <variant>

#include "common/json_writer.h"
#include "worker/inbound/cloud/webhook_parser.h"

namespace dynoguard::worker {
namespace {

using rapidjson::Value;

// Longest type name accepted (Meta's are short words).
constexpr size_t kMaxTypeLength = 32;
constexpr size_t kMaxContextIdLength = 256;

const Value* Member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string Compact(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool IsTypeName(std::string_view type) {
  if (type.empty() || type.size() > kMaxTypeLength) return false;
  for (char c : type) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

// The parser refused the whole body (its depth, its encoding).
RequestError FromParserError(const std::string& message) {
  return FieldError("", "the simulated message is invalid: " + message);
}

// The simulated message is the body's only part: the parser's complaint
// about it names the field ("image.id: missing" → image.id).
RequestError FromMalformedPart(const MalformedWebhookPart& part) {
  constexpr std::string_view kMessage = "entry[0].changes[0].value.messages[0]";
  const size_t colon = part.error.find(':');
  if (part.part != kMessage || colon == std::string::npos) {
    return FromParserError(part.part + ": " + part.error);
  }
  std::string field = part.error.substr(0, colon);
  std::string why = part.error.substr(colon + 1);
  while (!why.empty() && why.front() == ' ') why.erase(0, 1);
  return FieldError(field, field + ": " + why);
}

}  // namespace

Parsed<SandboxInbound> ParseSandboxInbound(std::string_view body) {
  if (JsonNestingDepth(body) > kMaxJsonDepth) {
    return RequestError{"invalid_json", "",
                        "body is nested deeper than " +
                            std::to_string(kMaxJsonDepth) + " levels"};
  }
  rapidjson::Document doc;
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

  SandboxInbound out;
  const Value* type = Member(doc, "type");
  if (type != nullptr && !type->IsString()) {
    return FieldError("type", "type must be a string such as \"text\"");
  }
  out.type = type == nullptr
                 ? "text"
                 : std::string(type->GetString(), type->GetStringLength());
  if (!IsTypeName(out.type) || out.type == "from" || out.type == "type" ||
      out.type == "context" || out.type == "id" || out.type == "timestamp") {
    return FieldError("type",
                      "type must be a Cloud API message type (\"text\", "
                      "\"image\", \"location\", …)");
  }

  const Value* text = Member(doc, "text");
  if (out.type == "text" && (text == nullptr || text->IsString())) {
    // The plain form keeps the validation (and the errors) it always had.
    Parsed<InboundRequest> plain = ParseInboundRequest(body);
    if (auto* error = std::get_if<RequestError>(&plain)) return *error;
    InboundRequest& request = std::get<InboundRequest>(plain);
    out.from = std::move(request.from);
    common::JsonWriter j;
    j.StartObject().Key("body").String(request.text).EndObject();
    out.object_json = j.str();
  } else {
    const Value* from = Member(doc, "from");
    if (from == nullptr) return FieldError("from", "from is required");
    std::optional<std::string> phone =
        from->IsString() ? NormalizePhoneNumber(std::string_view(
                               from->GetString(), from->GetStringLength()))
                         : std::nullopt;
    if (!phone) {
      return FieldError("from",
                        "from must be 8 to 15 digits (E.164 without spaces, "
                        "an optional leading '+')");
    }
    out.from = std::move(*phone);
    const Value* object = Member(doc, out.type.c_str());
    if (object == nullptr || !(object->IsObject() || object->IsArray())) {
      return FieldError(out.type, out.type + " must be the Cloud API's \"" +
                                      out.type + "\" object");
    }
    out.object_json = Compact(*object);
  }

  if (const Value* context = Member(doc, "context")) {
    const Value* id = context->IsObject() ? Member(*context, "id") : nullptr;
    if (id == nullptr || !id->IsString() || id->GetStringLength() == 0 ||
        id->GetStringLength() > kMaxContextIdLength) {
      return FieldError("context.id",
                        "context must be {\"id\":\"wamid…\"} (the message "
                        "replied to)");
    }
    out.context_id = std::string(id->GetString(), id->GetStringLength());
  }

  // What the webhook parser refuses or would leave out, the sandbox
  // refuses: run it once.
  common::Result<WebhookBatch> check =
      ParseWebhook(SandboxWebhookBody(out, "wamid.sbx.check", 0));
  if (!check.ok()) return FromParserError(check.status().message());
  if (!check->malformed.empty()) return FromMalformedPart(check->malformed[0]);
  return out;
}

std::string SandboxMessageId(int64_t now_ms, uint64_t nonce,
                             uint64_t sequence) {
  return fmt::format("wamid.sbx.{}.{:08x}.{}", now_ms, nonce & 0xffffffffu,
                     sequence);
}

std::string SandboxWebhookBody(const SandboxInbound& message,
                               std::string_view id, int64_t now_ms) {
  common::JsonWriter j;
  j.StartObject();
  j.Key("object").String("whatsapp_business_account");
  j.Key("entry").StartArray().StartObject();
  j.Key("id").String(kSandboxPhoneNumberId);
  j.Key("changes").StartArray().StartObject();
  j.Key("field").String("messages");
  j.Key("value").StartObject();
  j.Key("messaging_product").String("whatsapp");
  j.Key("metadata").StartObject();
  j.Key("display_phone_number").String("");
  j.Key("phone_number_id").String(kSandboxPhoneNumberId);
  j.EndObject();
  j.Key("contacts").StartArray().StartObject();
  j.Key("wa_id").String(message.from);
  j.EndObject().EndArray();
  j.Key("messages").StartArray().StartObject();
  j.Key("from").String(message.from);
  j.Key("id").String(id);
  j.Key("timestamp").String(std::to_string(now_ms / 1000));
  j.Key("type").String(message.type);
  j.Key(message.type).RawValue(message.object_json);
  if (!message.context_id.empty()) {
    j.Key("context").StartObject();
    j.Key("id").String(message.context_id);
    j.EndObject();
  }
  j.EndObject().EndArray();
  j.EndObject();             // value
  j.EndObject().EndArray();  // changes
  j.EndObject().EndArray();  // entry
  j.EndObject();
  return j.str();
}

}  // namespace dynoguard::worker
