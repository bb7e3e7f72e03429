// Message kinds: validation of the Cloud API's "<type>" objects a client puts
// in POST /api/messages (SPEC §5) — text, template, image, document, audio,
// video, sticker, reaction, location, contacts, interactive — against Meta's
// documented limits, and the compact JSON that is sent to Graph for each.
// Pure functions; no I/O. message_request.h parses the body around them.
#ifndef DYNOGUARD_WORKER_OUTBOUND_MESSAGE_KINDS_H_
#define DYNOGUARD_WORKER_OUTBOUND_MESSAGE_KINDS_H_

#include <rapidjson/document.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "worker/outbound/request_error.h"

namespace dynoguard::worker {

// Every kind, in the order error messages list them.
inline constexpr std::array<std::string_view, 11> kMessageTypes = {
    "text",    "template", "image",    "document", "audio",      "video",
    "sticker", "reaction", "location", "contacts", "interactive"};

// Limits, in characters (UTF-8 code points), from Meta's Cloud API reference
// (messages: text, media, interactive reply buttons, interactive list).
inline constexpr size_t kMaxTextCodePoints = 4096;  // text.body
inline constexpr size_t kMaxCaptionCodePoints = 1024;
inline constexpr size_t kMaxMessageIdLength =
    256;  // a wamid replied/reacted to
inline constexpr size_t kMaxMediaIdLength = 256;
inline constexpr size_t kMaxUrlLength = 2048;
inline constexpr size_t kMaxButtonBodyCodePoints = 1024;  // button body.text
inline constexpr size_t kMaxListBodyCodePoints = 4096;    // list body.text
inline constexpr size_t kMaxHeaderTextCodePoints = 60;
inline constexpr size_t kMaxFooterTextCodePoints = 60;
inline constexpr size_t kMaxReplyButtons = 3;
inline constexpr size_t kMaxButtonIdLength = 256;
inline constexpr size_t kMaxButtonTitleCodePoints = 20;
inline constexpr size_t kMaxListButtonCodePoints = 20;  // action.button
inline constexpr size_t kMaxListSections = 10;
inline constexpr size_t kMaxListRows = 10;  // all sections together
inline constexpr size_t kMaxSectionTitleCodePoints = 24;
inline constexpr size_t kMaxRowIdLength = 200;
inline constexpr size_t kMaxRowTitleCodePoints = 24;
inline constexpr size_t kMaxRowDescriptionCodePoints = 72;
inline constexpr size_t kMaxTemplateNameLength = 512;

// True for one of kMessageTypes (exact, lowercase).
bool IsMessageType(std::string_view type);
// "text, template, image, …, interactive".
std::string MessageTypeList();

// What one validated kind becomes.
struct MessageContent {
  std::string content_json;  // the Cloud API's "<type>" value, compact JSON
  std::string summary;       // NewMessage::text: body, caption, emoji, …
};

// Validates `value`, the member named `type` of the request body, and builds
// its content. REQUIRES: IsMessageType(type); every string in `value` is valid
// UTF-8 (message_request.cc checks the whole body first).
//
//  - text: {"body" (a string, not blank, ≤ 4096 characters),
//    "preview_url"? (a boolean)}; sent as given. Summary: the body.
//  - template: {"name" (non-empty, ≤ 512), "language" ("en_US" or
//    {"code":"en_US",…}), "components"? (an array)}; sent in the Cloud form
//    {"name","language":{"code",…},"components"?} (a language string becomes
//    {"code":…}; other members are dropped). Summary: empty.
//  - image, video, document: exactly one of "link" (an http or https URL,
//    ≤ 2048 bytes) or "id" (an uploaded media id, ≤ 256), "caption"? (≤ 1024
//    characters), "filename"? (a string; document only). audio, sticker: link
//    or id only (a caption is refused). Sent as given. Summary: the caption,
//    else a document's filename, else empty.
//  - reaction: {"message_id" (non-empty, ≤ 256), "emoji" (one emoji, or ""
//    to remove the reaction)}; sent as given. Summary: the emoji.
//  - location: {"latitude" (a number, -90..90), "longitude" (-180..180),
//    "name"?, "address"? (strings)}; sent as given. Summary: the name, else the
//    address, else empty.
//  - contacts: a non-empty array of objects, each with "name" {"formatted_name"
//    (a string, not blank), …}; everything else (phones, emails, …) is passed
//    as given. Summary: the formatted names, ", "-separated.
//  - interactive: "type" "button" or "list"; "body" {"text" (not blank; ≤ 1024
//    characters for buttons, ≤ 4096 for a list)} required; "header"? {"type":
//    "text" with "text" ≤ 60 — or, for buttons only, "image"/"video"/"document"
//    with that media object (link or id)}; "footer"? {"text" ≤ 60}; "action":
//    for "button", "buttons": 1–3 of {"type":"reply","reply":{"id" (≤ 256),
//    "title" (≤ 20)}}, ids unique and titles unique; for "list", "button"
//    (≤ 20) and "sections": 1–10 of {"title"? (≤ 24, required when there is
//    more than one section), "rows": non-empty array of {"id" (≤ 200),
//    "title" (≤ 24), "description"? (≤ 72)}}, at most 10 rows in all, row ids
//    unique. Sent as given. Summary: body.text.
// Required strings (ids, titles, names) must not be empty; shown ones (body,
// titles, labels) not blank either. JSON null counts as absent.
//
// Errors: invalid_field whose `field` is the path of the offending member,
// starting with `type` ("image.link", "interactive.action.buttons[3]",
// "contacts[0].name.formatted_name"), and whose message says what is expected.
Parsed<MessageContent> ParseMessageContent(std::string_view type,
                                           const rapidjson::Value& value);

// The text shorthand {"to","text":"…","previewUrl"?:true}: `text` is the
// "text" member (REQUIRES: a string), `preview_url` the "previewUrl" member
// or null. Content {"body":"…","preview_url":true|false} (preview_url only
// when given). Errors: "text" as for text.body, "previewUrl" not a boolean.
Parsed<MessageContent> ParseTextShorthand(const rapidjson::Value& text,
                                          const rapidjson::Value* preview_url);

// True when `text` (valid UTF-8) is exactly one emoji: a pictographic
// character with an optional variation selector and skin tone, ZWJ sequences
// of those (a family: man U+200D woman U+200D girl), a flag (two regional
// indicators, or a tag sequence such as Scotland's), or a keycap (1 U+FE0F
// U+20E3). Pure; an approximation of Unicode's emoji grammar that accepts
// the emoji WhatsApp shows and refuses letters, digits and several emoji in
// a row.
bool IsSingleEmoji(std::string_view text);

// The number of UTF-8 code points in `text` (continuation bytes are not
// counted): the "characters" of every limit above. REQUIRES: `text` is valid
// UTF-8 (else the count is approximate). Pure.
size_t Utf8Length(std::string_view text);

// True for an absolute http:// or https:// URL (scheme case-insensitive) with
// a non-empty host and no whitespace or control characters. Pure.
bool IsHttpUrl(std::string_view url);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_KINDS_H_
