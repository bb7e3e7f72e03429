#include "worker/transport/cloud/cloud_answer_parser.h"

#include <rapidjson/document.h>

#include <charconv>

namespace dynoguard::worker {

namespace {

using common::Status;
using rapidjson::Value;

bool ParseObject(std::string_view body, rapidjson::Document& document) {
  // Iterative: a hostile nesting depth cannot exhaust the stack.
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  return !document.HasParseError() && document.IsObject();
}

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) return nullptr;
  return &it->value;
}

std::string StringOf(const Value* value) {
  if (value == nullptr || !value->IsString()) return "";
  return std::string(value->GetString(), value->GetStringLength());
}

}  // namespace

common::Result<SendAnswer> ParseSendAnswer(std::string_view body) {
  rapidjson::Document document;
  if (!ParseObject(body, document)) {
    return Status::InvalidArgument("send answer: not a JSON object");
  }
  const Value* messages = Member(document, "messages");
  if (messages == nullptr || !messages->IsArray() || messages->Empty()) {
    return Status::InvalidArgument("send answer: no messages[0].id");
  }
  const Value& first = (*messages)[0];
  SendAnswer answer;
  answer.provider_id = StringOf(Member(first, "id"));
  if (answer.provider_id.empty()) {
    return Status::InvalidArgument("send answer: no messages[0].id");
  }
  answer.message_status = StringOf(Member(first, "message_status"));
  if (answer.message_status.empty()) answer.message_status = "accepted";
  return answer;
}

common::Result<std::string> ParseMediaUploadAnswer(std::string_view body) {
  rapidjson::Document document;
  if (!ParseObject(body, document)) {
    return Status::InvalidArgument("upload answer: not a JSON object");
  }
  const Value* id = Member(document, "id");
  std::string text;
  if (id != nullptr && id->IsString()) {
    text = StringOf(id);
  } else if (id != nullptr && id->IsUint64()) {
    text = std::to_string(id->GetUint64());
  }
  if (text.empty()) return Status::InvalidArgument("upload answer: no id");
  return text;
}

common::Result<MediaInfo> ParseMediaInfo(std::string_view body) {
  rapidjson::Document document;
  if (!ParseObject(body, document)) {
    return Status::InvalidArgument("media object: not a JSON object");
  }
  MediaInfo info;
  info.url = StringOf(Member(document, "url"));
  if (info.url.empty()) return Status::InvalidArgument("media object: no url");
  info.mime_type = StringOf(Member(document, "mime_type"));
  info.sha256 = StringOf(Member(document, "sha256"));
  info.id = StringOf(Member(document, "id"));
  if (const Value* size = Member(document, "file_size")) {
    if (size->IsUint64()) {
      info.file_size = size->GetUint64();
    } else if (size->IsString()) {
      std::string text = StringOf(size);
      uint64_t value = 0;
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc() && end == text.data() + text.size()) {
        info.file_size = value;
      }
    }
  }
  return info;
}

}  // namespace dynoguard::worker
