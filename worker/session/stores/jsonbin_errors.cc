#include "worker/session/stores/jsonbin_errors.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>

namespace dynoguard::worker {

using common::Status;

namespace {

constexpr size_t kMaxQuoted = 200;

std::string Redact(std::string text,
                   const std::vector<std::string_view>& secrets) {
  for (std::string_view secret : secrets) {
    if (secret.size() < 4) continue;
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
      at += 10;
    }
  }
  return text;
}

// One line of at most `max` bytes (plus "…" when cut), never cut inside a
// UTF-8 sequence, spaces trimmed.
std::string OneLine(std::string_view text, size_t max) {
  bool cut = false;
  if (text.size() > max) {
    size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    text = text.substr(0, end);
    cut = true;
  }
  std::string line;
  line.reserve(text.size() + 3);
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    line.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  const size_t first = line.find_first_not_of(' ');
  if (first == std::string::npos) return cut ? "…" : "";
  const size_t last = line.find_last_not_of(' ');
  line = line.substr(first, last - first + 1);
  if (cut) line += "…";
  return line;
}

bool MentionsBinId(std::string_view message) {
  std::string lower(message);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return lower.find("bin id") != std::string::npos;
}

// " (JSONBin: <message>)" or "".
std::string Quoted(const std::string& message) {
  return message.empty() ? "" : " (JSONBin: \"" + message + "\")";
}

std::string_view CallName(JsonBinCall call) {
  switch (call) {
    case JsonBinCall::kRead:
      return "read of bin";
    case JsonBinCall::kCreate:
      return "create of a bin";
    case JsonBinCall::kUpdate:
      return "update of bin";
  }
  return "request";
}

// "read of bin 65f0…" / "create of a bin".
std::string What(const JsonBinErrorContext& context) {
  std::string what(CallName(context.call));
  if (context.call != JsonBinCall::kCreate) {
    what += " ";
    what += context.bin_id;
  }
  return what;
}

}  // namespace

std::string JsonBinMessage(std::string_view body,
                           const std::vector<std::string_view>& secrets) {
  if (body.empty()) return "";
  std::string text;
  rapidjson::Document doc;
  // Iterative: a hostile body of a million "[" must not recurse.
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    auto it = doc.FindMember("message");
    if (it != doc.MemberEnd() && it->value.IsString()) {
      text.assign(it->value.GetString(), it->value.GetStringLength());
    }
  }
  if (text.empty()) text.assign(body.substr(0, kMaxQuoted * 2));
  // Redact before cutting, so that a cut cannot leave half a key behind.
  return OneLine(Redact(std::move(text), secrets), kMaxQuoted);
}

Status JsonBinAnswerStatus(const JsonBinErrorContext& context, int status,
                           std::string_view body,
                           std::optional<std::string_view> retry_after) {
  const std::string message = JsonBinMessage(body, context.secrets);
  const std::string what = What(context);
  const std::string key_variable =
      context.key_variable.empty()
          ? std::string("JSONBIN_MASTER_KEY or JSONBIN_API_KEY")
          : std::string(context.key_variable);
  const std::string prefix = "jsonbin store: ";
  const std::string code = " answered " + std::to_string(status);

  if (status == 401) {
    return Status::PermissionDenied(prefix + "the key was refused: " + what +
                                    code + Quoted(message) + "; check " +
                                    key_variable);
  }
  if (status == 403) {
    return Status::PermissionDenied(
        prefix + "refused: " + what + code + Quoted(message) +
        "; the JSONBin plan's request quota or size limit is used up, or " +
        key_variable + " lacks the permission for this bin");
  }
  if (status == 404) {
    switch (context.call) {
      case JsonBinCall::kRead:
        return Status::NotFound(prefix + what + code + Quoted(message) +
                                "; check JSONBIN_BIN_ID");
      case JsonBinCall::kUpdate:
        return Status::InvalidArgument(
            prefix + what + code + Quoted(message) +
            "; check JSONBIN_BIN_ID (or unset it to create a new bin)");
      case JsonBinCall::kCreate:
        return Status::InvalidArgument(prefix + what + code + Quoted(message) +
                                       "; check JSONBIN_BASE_URL");
    }
  }
  if (status == 429) {
    std::string retry;
    if (retry_after && !retry_after->empty()) {
      retry = "; retry after " + OneLine(*retry_after, 64) +
              (std::all_of(retry_after->begin(), retry_after->end(),
                           [](char c) { return c >= '0' && c <= '9'; })
                   ? " s"
                   : "");
    }
    return Status::Unavailable(prefix + "rate limited: " + what + code +
                               Quoted(message) + retry);
  }
  if (status >= 400 && status < 500 && status != 408) {
    std::string hint;
    if (context.call != JsonBinCall::kCreate && MentionsBinId(message))
      hint = "; check JSONBIN_BIN_ID";
    else if (status == 413)
      hint = "; the snapshot is too large for JSONBin";
    return Status::InvalidArgument(prefix + "refused: " + what + code +
                                   Quoted(message) + hint);
  }
  return Status::Unavailable(prefix + what + code + Quoted(message));
}

Status JsonBinTransportStatus(const HttpError& error) {
  return Status::Unavailable("jsonbin store: " + error.message);
}

}  // namespace dynoguard::worker
