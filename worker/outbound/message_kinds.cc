#include "worker/outbound/message_kinds.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/json_writer.h"

namespace dynoguard::worker {
namespace {

using rapidjson::Value;
using Error = std::optional<RequestError>;

std::string_view View(const Value& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

std::string Join(std::string_view parent, std::string_view name) {
  std::string path(parent);
  if (!path.empty()) path += '.';
  path += name;
  return path;
}

std::string Index(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

// The member `name`, or null when absent or JSON null.
const Value* Find(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

bool IsBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
}

size_t CodePoints(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Compact(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// How a string member is checked.
struct StringRule {
  bool required = false;
  enum Content { kAny, kNonEmpty, kNonBlank } content = kNonEmpty;
  size_t max = 0;             // 0: no limit
  bool max_in_bytes = false;  // ids and URLs: bytes; text: code points
};

constexpr StringRule Required(size_t max, bool bytes = false) {
  return {true, StringRule::kNonEmpty, max, bytes};
}
constexpr StringRule RequiredText(size_t max) {
  return {true, StringRule::kNonBlank, max, false};
}
constexpr StringRule OptionalText(size_t max) {
  return {false, StringRule::kAny, max, false};
}

// Checks the string member `name` of `object` (at `path`) and sets `out` when
// it is present.
Error ReadString(const Value& object, std::string_view path, const char* name,
                 const StringRule& rule, std::optional<std::string_view>& out) {
  const std::string field = Join(path, name);
  const Value* value = Find(object, name);
  if (value == nullptr) {
    if (rule.required) return FieldError(field, field + " is required");
    return std::nullopt;
  }
  if (!value->IsString()) {
    return FieldError(field, field + " must be a string");
  }
  std::string_view text = View(*value);
  if ((rule.content == StringRule::kNonEmpty && text.empty()) ||
      (rule.content == StringRule::kNonBlank && IsBlank(text))) {
    return FieldError(field, field + " must not be empty");
  }
  if (rule.max > 0) {
    size_t length = rule.max_in_bytes ? text.size() : CodePoints(text);
    if (length > rule.max) {
      return FieldError(field,
                        field + " is longer than " + std::to_string(rule.max) +
                            (rule.max_in_bytes ? " bytes" : " characters"));
    }
  }
  out = text;
  return std::nullopt;
}

// The member `name` of `object` as an object: `out` null when absent (an
// error when `required`), an error when it is not an object.
Error ReadObject(const Value& object, std::string_view path, const char* name,
                 bool required, const Value*& out) {
  const std::string field = Join(path, name);
  out = Find(object, name);
  if (out == nullptr) {
    if (required) return FieldError(field, field + " is required");
    return std::nullopt;
  }
  if (!out->IsObject()) {
    out = nullptr;
    return FieldError(field, field + " must be an object");
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// text

Error CheckBody(const Value& body, std::string_view field) {
  if (!body.IsString()) {
    return FieldError(std::string(field),
                      std::string(field) + " must be a string");
  }
  std::string_view text = View(body);
  if (IsBlank(text)) {
    return FieldError(std::string(field),
                      std::string(field) + " must not be empty");
  }
  if (CodePoints(text) > kMaxTextCodePoints) {
    return FieldError(std::string(field),
                      std::string(field) + " is longer than " +
                          std::to_string(kMaxTextCodePoints) + " characters");
  }
  return std::nullopt;
}

Parsed<MessageContent> ParseText(const Value& text) {
  if (!text.IsObject()) {
    return FieldError("text",
                      "text must be a string or an object {\"body\":\"…\"}");
  }
  const Value* body = Find(text, "body");
  if (body == nullptr) return FieldError("text.body", "text.body is required");
  if (auto error = CheckBody(*body, "text.body")) return *error;
  const Value* preview = Find(text, "preview_url");
  if (preview != nullptr && !preview->IsBool()) {
    return FieldError("text.preview_url",
                      "text.preview_url must be true or false");
  }
  return MessageContent{Compact(text), std::string(View(*body))};
}

// ---------------------------------------------------------------------------
// template

Parsed<MessageContent> ParseTemplate(const Value& tmpl) {
  if (!tmpl.IsObject()) {
    return FieldError("template",
                      "template must be an object {\"name\",\"language\"}");
  }
  const Value* name = Find(tmpl, "name");
  if (name == nullptr || !name->IsString() || name->GetStringLength() == 0) {
    return FieldError("template.name",
                      "template.name must be a non-empty string");
  }
  if (name->GetStringLength() > kMaxTemplateNameLength) {
    return FieldError("template.name",
                      "template.name is longer than " +
                          std::to_string(kMaxTemplateNameLength) +
                          " characters");
  }
  const Value* language = Find(tmpl, "language");
  bool language_ok = false;
  if (language != nullptr && language->IsString()) {
    language_ok = language->GetStringLength() > 0;
  } else if (language != nullptr && language->IsObject()) {
    const Value* code = Find(*language, "code");
    language_ok =
        code != nullptr && code->IsString() && code->GetStringLength() > 0;
  }
  if (!language_ok) {
    return FieldError("template.language",
                      "template.language must be a language code such as "
                      "\"en_US\" or an object {\"code\":\"en_US\"}");
  }
  const Value* components = Find(tmpl, "components");
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
  return MessageContent{json.str(), ""};
}

// ---------------------------------------------------------------------------
// media

// Checks a media object at `path` (the caller checked it is an object):
// exactly one of link or id, a caption only when `caption_allowed`, a
// filename only when `filename_allowed`. Sets `caption` / `filename`.
Error CheckMedia(const Value& media, const std::string& path,
                 bool caption_allowed, bool filename_allowed,
                 std::optional<std::string_view>& caption,
                 std::optional<std::string_view>& filename) {
  std::optional<std::string_view> link;
  std::optional<std::string_view> id;
  if (auto error = ReadString(
          media, path, "link",
          StringRule{false, StringRule::kNonEmpty, kMaxUrlLength, true},
          link)) {
    return error;
  }
  if (auto error = ReadString(
          media, path, "id",
          StringRule{false, StringRule::kNonEmpty, kMaxMediaIdLength, true},
          id)) {
    return error;
  }
  if (link.has_value() == id.has_value()) {
    return FieldError(path, path +
                                " needs exactly one of link (an http or https "
                                "URL) or id (an uploaded media id)");
  }
  if (link && !IsHttpUrl(*link)) {
    return FieldError(Join(path, "link"),
                      Join(path, "link") + " must be an http or https URL");
  }
  if (Find(media, "caption") != nullptr && !caption_allowed) {
    return FieldError(Join(path, "caption"), Join(path, "caption") +
                                                 " is not allowed here (only "
                                                 "image, video and document "
                                                 "messages have a caption)");
  }
  if (auto error = ReadString(media, path, "caption",
                              OptionalText(kMaxCaptionCodePoints), caption)) {
    return error;
  }
  if (Find(media, "filename") != nullptr && !filename_allowed) {
    return FieldError(Join(path, "filename"),
                      Join(path, "filename") +
                          " is not allowed here (only a document has a "
                          "filename)");
  }
  return ReadString(media, path, "filename", OptionalText(0), filename);
}

Parsed<MessageContent> ParseMedia(std::string_view type, const Value& media) {
  const std::string path(type);
  if (!media.IsObject()) {
    return FieldError(path, path + " must be an object {\"link\"} or {\"id\"}");
  }
  const bool document = type == "document";
  const bool caption_allowed =
      type == "image" || type == "video" || type == "document";
  std::optional<std::string_view> caption;
  std::optional<std::string_view> filename;
  if (auto error = CheckMedia(media, path, caption_allowed, document, caption,
                              filename)) {
    return *error;
  }
  std::string summary;
  if (caption && !caption->empty()) {
    summary = *caption;
  } else if (filename) {
    summary = *filename;
  }
  return MessageContent{Compact(media), std::move(summary)};
}

// ---------------------------------------------------------------------------
// reaction, location, contacts

Parsed<MessageContent> ParseReaction(const Value& reaction) {
  if (!reaction.IsObject()) {
    return FieldError("reaction",
                      "reaction must be an object {\"message_id\",\"emoji\"}");
  }
  std::optional<std::string_view> message_id;
  if (auto error =
          ReadString(reaction, "reaction", "message_id",
                     Required(kMaxMessageIdLength, true), message_id)) {
    return *error;
  }
  std::optional<std::string_view> emoji;
  if (auto error =
          ReadString(reaction, "reaction", "emoji",
                     StringRule{true, StringRule::kAny, 0, false}, emoji)) {
    return *error;
  }
  if (!emoji->empty() && !IsSingleEmoji(*emoji)) {
    return FieldError("reaction.emoji",
                      "reaction.emoji must be one emoji, or \"\" to remove "
                      "the reaction");
  }
  return MessageContent{Compact(reaction), std::string(*emoji)};
}

Error CheckCoordinate(const Value& location, const char* name, double limit) {
  const std::string field = Join("location", name);
  const Value* value = Find(location, name);
  const std::string expected = field + " must be a number from " +
                               std::to_string(static_cast<int>(-limit)) +
                               " to " + std::to_string(static_cast<int>(limit));
  if (value == nullptr) return FieldError(field, field + " is required");
  if (!value->IsNumber()) return FieldError(field, expected);
  double number = value->GetDouble();
  if (!(number >= -limit && number <= limit)) {
    return FieldError(field, expected);
  }
  return std::nullopt;
}

Parsed<MessageContent> ParseLocation(const Value& location) {
  if (!location.IsObject()) {
    return FieldError(
        "location", "location must be an object {\"latitude\",\"longitude\"}");
  }
  if (auto error = CheckCoordinate(location, "latitude", 90)) return *error;
  if (auto error = CheckCoordinate(location, "longitude", 180)) return *error;
  std::optional<std::string_view> name;
  std::optional<std::string_view> address;
  if (auto error =
          ReadString(location, "location", "name", OptionalText(0), name)) {
    return *error;
  }
  if (auto error = ReadString(location, "location", "address", OptionalText(0),
                              address)) {
    return *error;
  }
  std::string summary;
  if (name && !name->empty()) {
    summary = *name;
  } else if (address) {
    summary = *address;
  }
  return MessageContent{Compact(location), std::move(summary)};
}

Parsed<MessageContent> ParseContacts(const Value& contacts) {
  if (!contacts.IsArray() || contacts.Empty()) {
    return FieldError("contacts",
                      "contacts must be a non-empty array of contact objects "
                      "{\"name\":{\"formatted_name\"},…}");
  }
  std::string summary;
  for (rapidjson::SizeType i = 0; i < contacts.Size(); ++i) {
    const std::string path = Index("contacts", i);
    if (!contacts[i].IsObject()) {
      return FieldError(path, path + " must be an object");
    }
    const Value* name = nullptr;
    if (auto error = ReadObject(contacts[i], path, "name", true, name)) {
      return *error;
    }
    std::optional<std::string_view> formatted;
    if (auto error = ReadString(*name, Join(path, "name"), "formatted_name",
                                RequiredText(0), formatted)) {
      return *error;
    }
    if (!summary.empty()) summary += ", ";
    summary += *formatted;
  }
  return MessageContent{Compact(contacts), std::move(summary)};
}

// ---------------------------------------------------------------------------
// interactive

Error CheckHeader(const Value& interactive, bool is_list) {
  const Value* header = nullptr;
  if (auto error =
          ReadObject(interactive, "interactive", "header", false, header)) {
    return error;
  }
  if (header == nullptr) return std::nullopt;
  const std::string path = "interactive.header";
  std::optional<std::string_view> type;
  if (auto error = ReadString(*header, path, "type", Required(0), type)) {
    return error;
  }
  if (*type == "text") {
    std::optional<std::string_view> text;
    return ReadString(*header, path, "text",
                      RequiredText(kMaxHeaderTextCodePoints), text);
  }
  const bool media =
      *type == "image" || *type == "video" || *type == "document";
  if (is_list || !media) {
    return FieldError(
        Join(path, "type"),
        Join(path, "type") +
            (is_list ? " must be \"text\" (a list's header is text only)"
                     : " must be one of: text, image, video, document"));
  }
  const std::string kind(*type);
  const Value* object = nullptr;
  if (auto error = ReadObject(*header, path, kind.c_str(), true, object)) {
    return error;
  }
  std::optional<std::string_view> caption;
  std::optional<std::string_view> filename;
  return CheckMedia(*object, Join(path, kind), false, kind == "document",
                    caption, filename);
}

Error CheckButtons(const Value& action) {
  const std::string path = "interactive.action.buttons";
  const Value* buttons = Find(action, "buttons");
  if (buttons == nullptr) return FieldError(path, path + " is required");
  if (!buttons->IsArray() || buttons->Empty() ||
      buttons->Size() > kMaxReplyButtons) {
    return FieldError(path, path + " must be an array of 1 to " +
                                std::to_string(kMaxReplyButtons) +
                                " reply buttons");
  }
  std::set<std::string_view> ids;
  std::set<std::string_view> titles;
  for (rapidjson::SizeType i = 0; i < buttons->Size(); ++i) {
    const std::string button_path = Index(path, i);
    const Value& button = (*buttons)[i];
    if (!button.IsObject()) {
      return FieldError(button_path,
                        button_path +
                            " must be an object {\"type\":\"reply\","
                            "\"reply\":{\"id\",\"title\"}}");
    }
    const Value* type = Find(button, "type");
    if (type == nullptr || !type->IsString() || View(*type) != "reply") {
      return FieldError(Join(button_path, "type"),
                        Join(button_path, "type") + " must be \"reply\"");
    }
    const Value* reply = nullptr;
    if (auto error = ReadObject(button, button_path, "reply", true, reply)) {
      return error;
    }
    const std::string reply_path = Join(button_path, "reply");
    std::optional<std::string_view> id;
    std::optional<std::string_view> title;
    if (auto error = ReadString(*reply, reply_path, "id",
                                Required(kMaxButtonIdLength), id)) {
      return error;
    }
    if (auto error =
            ReadString(*reply, reply_path, "title",
                       RequiredText(kMaxButtonTitleCodePoints), title)) {
      return error;
    }
    if (!ids.insert(*id).second) {
      return FieldError(Join(reply_path, "id"),
                        Join(reply_path, "id") +
                            " repeats another button's id; ids must be unique");
    }
    if (!titles.insert(*title).second) {
      return FieldError(
          Join(reply_path, "title"),
          Join(reply_path, "title") +
              " repeats another button's title; titles must be unique");
    }
  }
  return std::nullopt;
}

Error CheckList(const Value& action) {
  const std::string action_path = "interactive.action";
  std::optional<std::string_view> button;
  if (auto error = ReadString(action, action_path, "button",
                              RequiredText(kMaxListButtonCodePoints), button)) {
    return error;
  }
  const std::string path = Join(action_path, "sections");
  const Value* sections = Find(action, "sections");
  if (sections == nullptr) return FieldError(path, path + " is required");
  if (!sections->IsArray() || sections->Empty() ||
      sections->Size() > kMaxListSections) {
    return FieldError(path, path + " must be an array of 1 to " +
                                std::to_string(kMaxListSections) + " sections");
  }
  const bool several = sections->Size() > 1;
  size_t total_rows = 0;
  std::set<std::string_view> row_ids;
  for (rapidjson::SizeType s = 0; s < sections->Size(); ++s) {
    const std::string section_path = Index(path, s);
    const Value& section = (*sections)[s];
    if (!section.IsObject()) {
      return FieldError(section_path,
                        section_path + " must be an object {\"rows\"}");
    }
    std::optional<std::string_view> title;
    StringRule title_rule = several ? RequiredText(kMaxSectionTitleCodePoints)
                                    : OptionalText(kMaxSectionTitleCodePoints);
    if (auto error =
            ReadString(section, section_path, "title", title_rule, title)) {
      if (several && Find(section, "title") == nullptr) {
        error->message += " when there is more than one section";
      }
      return error;
    }
    const std::string rows_path = Join(section_path, "rows");
    const Value* rows = Find(section, "rows");
    if (rows == nullptr) {
      return FieldError(rows_path, rows_path + " is required");
    }
    if (!rows->IsArray() || rows->Empty()) {
      return FieldError(rows_path,
                        rows_path + " must be a non-empty array of rows");
    }
    for (rapidjson::SizeType r = 0; r < rows->Size(); ++r) {
      const std::string row_path = Index(rows_path, r);
      const Value& row = (*rows)[r];
      if (++total_rows > kMaxListRows) {
        return FieldError(row_path, "a list has at most " +
                                        std::to_string(kMaxListRows) +
                                        " rows in all its sections; " +
                                        row_path + " is one too many");
      }
      if (!row.IsObject()) {
        return FieldError(row_path,
                          row_path + " must be an object {\"id\",\"title\"}");
      }
      std::optional<std::string_view> id;
      std::optional<std::string_view> row_title;
      std::optional<std::string_view> description;
      if (auto error =
              ReadString(row, row_path, "id", Required(kMaxRowIdLength), id)) {
        return error;
      }
      if (auto error =
              ReadString(row, row_path, "title",
                         RequiredText(kMaxRowTitleCodePoints), row_title)) {
        return error;
      }
      if (auto error = ReadString(row, row_path, "description",
                                  OptionalText(kMaxRowDescriptionCodePoints),
                                  description)) {
        return error;
      }
      if (!row_ids.insert(*id).second) {
        return FieldError(Join(row_path, "id"),
                          Join(row_path, "id") +
                              " repeats another row's id; ids must be unique");
      }
    }
  }
  return std::nullopt;
}

Parsed<MessageContent> ParseInteractive(const Value& interactive) {
  if (!interactive.IsObject()) {
    return FieldError("interactive",
                      "interactive must be an object "
                      "{\"type\",\"body\",\"action\"}");
  }
  const Value* type = Find(interactive, "type");
  if (type == nullptr || !type->IsString() ||
      (View(*type) != "button" && View(*type) != "list")) {
    return FieldError("interactive.type",
                      "interactive.type must be one of: button, list");
  }
  const bool is_list = View(*type) == "list";

  const Value* body = nullptr;
  if (auto error = ReadObject(interactive, "interactive", "body", true, body)) {
    return *error;
  }
  std::optional<std::string_view> body_text;
  if (auto error = ReadString(*body, "interactive.body", "text",
                              RequiredText(is_list ? kMaxListBodyCodePoints
                                                   : kMaxButtonBodyCodePoints),
                              body_text)) {
    return *error;
  }
  if (auto error = CheckHeader(interactive, is_list)) return *error;
  const Value* footer = nullptr;
  if (auto error =
          ReadObject(interactive, "interactive", "footer", false, footer)) {
    return *error;
  }
  if (footer != nullptr) {
    std::optional<std::string_view> footer_text;
    if (auto error =
            ReadString(*footer, "interactive.footer", "text",
                       RequiredText(kMaxFooterTextCodePoints), footer_text)) {
      return *error;
    }
  }
  const Value* action = nullptr;
  if (auto error =
          ReadObject(interactive, "interactive", "action", true, action)) {
    return *error;
  }
  if (auto error = is_list ? CheckList(*action) : CheckButtons(*action)) {
    return *error;
  }
  return MessageContent{Compact(interactive), std::string(*body_text)};
}

// ---------------------------------------------------------------------------
// emoji

std::vector<char32_t> Decode(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    unsigned char lead = static_cast<unsigned char>(text[i]);
    int extra = lead < 0x80 ? 0 : lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    char32_t cp = extra == 0   ? lead
                  : extra == 1 ? lead & 0x1F
                  : extra == 2 ? lead & 0x0F
                               : lead & 0x07;
    ++i;
    for (int k = 0; k < extra && i < text.size(); ++k, ++i) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i]) & 0x3F);
    }
    out.push_back(cp);
  }
  return out;
}

bool InRange(char32_t c, char32_t low, char32_t high) {
  return c >= low && c <= high;
}

bool IsRegionalIndicator(char32_t c) { return InRange(c, 0x1F1E6, 0x1F1FF); }
bool IsSkinTone(char32_t c) { return InRange(c, 0x1F3FB, 0x1F3FF); }
bool IsTag(char32_t c) { return InRange(c, 0xE0020, 0xE007E); }
constexpr char32_t kCancelTag = 0xE007F;
constexpr char32_t kZwj = 0x200D;
constexpr char32_t kEmojiPresentation = 0xFE0F;
constexpr char32_t kTextPresentation = 0xFE0E;
constexpr char32_t kKeycap = 0x20E3;

// Unicode's Extended_Pictographic, to the precision that matters here.
bool IsPictographic(char32_t c) {
  static constexpr char32_t kSingles[] = {
      0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x2328, 0x2388, 0x23CF,
      0x24C2, 0x25B6, 0x25C0, 0x2B50, 0x2B55, 0x3030, 0x303D, 0x3297, 0x3299};
  static constexpr char32_t kRanges[][2] = {
      {0x2194, 0x2199},   {0x21A9, 0x21AA},  {0x231A, 0x231B},
      {0x23E9, 0x23F3},   {0x23F8, 0x23FA},  {0x25AA, 0x25AB},
      {0x25FB, 0x25FE},   {0x2600, 0x27BF},  {0x2934, 0x2935},
      {0x2B05, 0x2B07},   {0x2B1B, 0x2B1C},  {0x1F000, 0x1F1E5},
      {0x1F200, 0x1FAFF}, {0x1FC00, 0x1FFFD}};
  if (std::find(std::begin(kSingles), std::end(kSingles), c) !=
      std::end(kSingles)) {
    return true;
  }
  return std::any_of(
      std::begin(kRanges), std::end(kRanges),
      [c](const char32_t(&r)[2]) { return InRange(c, r[0], r[1]); });
}

}  // namespace

bool IsMessageType(std::string_view type) {
  return std::find(kMessageTypes.begin(), kMessageTypes.end(), type) !=
         kMessageTypes.end();
}

std::string MessageTypeList() {
  std::string list;
  for (std::string_view type : kMessageTypes) {
    if (!list.empty()) list += ", ";
    list += type;
  }
  return list;
}

Parsed<MessageContent> ParseMessageContent(std::string_view type,
                                           const Value& value) {
  if (type == "text") return ParseText(value);
  if (type == "template") return ParseTemplate(value);
  if (type == "reaction") return ParseReaction(value);
  if (type == "location") return ParseLocation(value);
  if (type == "contacts") return ParseContacts(value);
  if (type == "interactive") return ParseInteractive(value);
  return ParseMedia(type, value);
}

Parsed<MessageContent> ParseTextShorthand(const Value& text,
                                          const Value* preview_url) {
  if (auto error = CheckBody(text, "text")) return *error;
  if (preview_url != nullptr && !preview_url->IsBool()) {
    return FieldError("previewUrl", "previewUrl must be true or false");
  }
  common::JsonWriter json;
  json.StartObject().Key("body").String(View(text));
  if (preview_url != nullptr)
    json.Key("preview_url").Bool(preview_url->IsTrue());
  json.EndObject();
  return MessageContent{json.str(), std::string(View(text))};
}

bool IsSingleEmoji(std::string_view text) {
  constexpr size_t kMaxCodePoints = 32;  // the longest ZWJ family is ~11
  std::vector<char32_t> cps = Decode(text);
  const size_t n = cps.size();
  if (n == 0 || n > kMaxCodePoints) return false;
  if (IsRegionalIndicator(cps[0])) {
    return n == 2 && IsRegionalIndicator(cps[1]);
  }
  if ((cps[0] >= '0' && cps[0] <= '9') || cps[0] == '#' || cps[0] == '*') {
    return (n == 2 && cps[1] == kKeycap) ||
           (n == 3 && cps[1] == kEmojiPresentation && cps[2] == kKeycap);
  }
  size_t i = 0;
  while (true) {
    if (i >= n || !IsPictographic(cps[i])) return false;
    ++i;
    while (i < n && (cps[i] == kEmojiPresentation ||
                     cps[i] == kTextPresentation || IsSkinTone(cps[i]))) {
      ++i;
    }
    if (i < n && IsTag(cps[i])) {
      while (i < n && IsTag(cps[i])) ++i;
      if (i >= n || cps[i] != kCancelTag) return false;
      ++i;
    }
    if (i == n) return true;
    if (cps[i] != kZwj) return false;
    ++i;
  }
}

bool IsHttpUrl(std::string_view url) {
  auto starts_with = [url](std::string_view prefix) {
    if (url.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  size_t scheme = starts_with("https://") ? 8 : starts_with("http://") ? 7 : 0;
  if (scheme == 0) return false;
  if (url.size() == scheme || url[scheme] == '/' || url[scheme] == '?' ||
      url[scheme] == '#') {
    return false;
  }
  return std::none_of(url.begin(), url.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

size_t Utf8Length(std::string_view text) { return CodePoints(text); }

}  // namespace dynoguard::worker
