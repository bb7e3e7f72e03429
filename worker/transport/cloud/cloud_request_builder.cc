#include "worker/transport/cloud/cloud_request_builder.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>

#include "common/json_writer.h"

namespace dynoguard::worker {

namespace {

using common::Status;

constexpr std::array<std::string_view, 11> kKinds = {
    "text",    "template", "image",    "document", "audio",      "video",
    "sticker", "reaction", "location", "contacts", "interactive"};

bool IsKnownKind(std::string_view kind) {
  return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
}

// Parses `json` into `document`; "" when it is a JSON value of the expected
// shape (an array when `array`, else an object), else what is wrong with
// `field`.
std::string ParseContent(std::string_view json, bool array,
                         std::string_view field,
                         rapidjson::Document& document) {
  // Iterative: a hostile nesting depth cannot exhaust the stack.
  document.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (document.HasParseError()) {
    return std::string(field) + ": not valid JSON";
  }
  if (array ? !document.IsArray() : !document.IsObject()) {
    return std::string(field) + (array ? ": not an array" : ": not an object");
  }
  return "";
}

}  // namespace

common::Result<std::string> BuildSendBody(const SendRequest& request) {
  if (request.to.empty()) return Status::InvalidArgument("to: missing");
  std::string kind(EffectiveType(request.type, request.template_json));
  // A record written before message kinds may carry the default "text" with
  // only a template set.
  if (kind == "text" && request.content_json.empty() && request.text.empty() &&
      !request.template_json.empty()) {
    kind = "template";
  }
  if (!IsKnownKind(kind)) {
    return Status::InvalidArgument("type: unknown \"" + kind + "\"");
  }

  rapidjson::Document content;
  bool has_content = false;
  if (!request.content_json.empty()) {
    std::string problem = ParseContent(request.content_json, kind == "contacts",
                                       "content_json", content);
    if (!problem.empty()) return Status::InvalidArgument(problem);
    has_content = true;
  } else if (kind == "template") {
    if (request.template_json.empty()) {
      return Status::InvalidArgument("template_json: missing");
    }
    std::string problem =
        ParseContent(request.template_json, false, "template_json", content);
    if (!problem.empty()) return Status::InvalidArgument(problem);
    has_content = true;
  } else if (kind == "text") {
    if (request.text.empty()) return Status::InvalidArgument("text: empty");
  } else {
    return Status::InvalidArgument("content_json: missing for type " + kind);
  }

  common::JsonWriter w;
  w.StartObject();
  w.Key("messaging_product").String("whatsapp");
  w.Key("recipient_type").String("individual");
  w.Key("to").String(request.to);
  w.Key("type").String(kind);
  w.Key(kind);
  if (has_content) {
    content.Accept(w.raw());
  } else {
    w.StartObject().Key("body").String(request.text).EndObject();
  }
  if (!request.reply_to.empty()) {
    w.Key("context")
        .StartObject()
        .Key("message_id")
        .String(request.reply_to)
        .EndObject();
  }
  w.EndObject();
  return w.str();
}

std::string BuildMarkReadBody(std::string_view message_id, bool typing) {
  common::JsonWriter w;
  w.StartObject();
  w.Key("messaging_product").String("whatsapp");
  w.Key("status").String("read");
  w.Key("message_id").String(message_id);
  if (typing) {
    w.Key("typing_indicator").StartObject().Key("type").String("text");
    w.EndObject();
  }
  w.EndObject();
  return w.str();
}

}  // namespace dynoguard::worker
