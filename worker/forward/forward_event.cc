#include "worker/forward/forward_event.h"

#include <rapidjson/document.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <optional>
#include <random>

#include "common/json_writer.h"
#include "worker/crypto/digest.h"

namespace dynoguard::worker {

namespace {

// 12 bytes → 24 hex digits: 96 bits, as the queue's message ids.
constexpr size_t kIdBytes = 12;

std::string HexId(const unsigned char* bytes) {
  return "evt_" + HexLower(bytes, kIdBytes);
}

std::string DigestId(std::string_view input) {
  std::optional<Sha256Digest> sha = Sha256(input);
  if (sha) return HexId(sha->data());
  // Not expected (out of memory). FNV-1a over the input keeps the id
  // deterministic, which is what deduplication needs.
  std::array<unsigned char, kIdBytes> digest{};
  uint64_t h1 = 14695981039346656037ULL;
  uint64_t h2 = 1099511628211ULL;
  for (char c : input) {
    h1 = (h1 ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    h2 = (h2 ^ static_cast<unsigned char>(c)) * 14695981039346656037ULL;
  }
  for (size_t i = 0; i < 8; ++i) digest[i] = (h1 >> (8 * i)) & 0xff;
  for (size_t i = 0; i < 4; ++i) digest[8 + i] = (h2 >> (8 * i)) & 0xff;
  return HexId(digest.data());
}

// The common head of every event: "id", "type", "timestamp", "session".
void WriteHead(common::JsonWriter& w, const ForwardEvent& event,
               std::string_view session) {
  w.StartObject();
  w.Key("id").String(event.id);
  w.Key("type").String(event.type);
  w.Key("timestamp").Int(event.timestamp_ms);
  w.Key("session").String(session);
}

// Writes `raw` as a JSON value when it parses, else null.
void WriteRaw(common::JsonWriter& w, const std::string& raw) {
  if (raw.empty()) {
    w.Null();
    return;
  }
  rapidjson::Document doc;
  doc.Parse(raw.data(), raw.size());
  if (doc.HasParseError()) {
    w.Null();
    return;
  }
  doc.Accept(w.raw());
}

// The body of a status event, whichever path made it: an empty
// `our_message_id` or `provider_id` is written as null.
std::string StatusJson(const ForwardEvent& event, std::string_view session,
                       std::string_view our_message_id,
                       std::string_view provider_id, std::string_view status,
                       const std::optional<ProviderError>& error) {
  common::JsonWriter w;
  WriteHead(w, event, session);
  w.Key("status").StartObject();
  w.Key("messageId");
  if (our_message_id.empty()) {
    w.Null();
  } else {
    w.String(our_message_id);
  }
  w.Key("providerId");
  if (provider_id.empty()) {
    w.Null();
  } else {
    w.String(provider_id);
  }
  w.Key("status").String(status);
  if (error) {
    // As GET /api/messages/{id} shows it.
    w.Key("error").StartObject();
    w.Key("code").String(error->code);
    w.Key("message").String(error->message);
    w.Key("retryable").Bool(error->retryable);
    w.EndObject();
  }
  w.EndObject();  // status
  w.EndObject();
  return w.str();
}

// The id of the status `status` of message `id`, for the ids of one `kind`
// ("status:" Meta's, "send:" ours).
std::string StatusDigestId(std::string_view kind, std::string_view id,
                           std::string_view status) {
  std::string input(kind);
  input += id;
  input += ':';
  input += status;
  return DigestId(input);
}

}  // namespace

std::string MessageEventId(std::string_view provider_message_id) {
  std::string input = "message:";
  input += provider_message_id;
  return DigestId(input);
}

std::string StatusEventId(std::string_view provider_message_id,
                          std::string_view status) {
  return StatusDigestId("status:", provider_message_id, status);
}

std::string SendStatusEventId(std::string_view our_message_id,
                              std::string_view status) {
  return StatusDigestId("send:", our_message_id, status);
}

std::string RandomEventId() {
  std::array<unsigned char, kIdBytes> bytes{};
  size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += static_cast<size_t>(n);
  }
  if (filled < bytes.size()) {
    // getrandom(2) does not fail once the pool is seeded; an id that is
    // merely unique is enough for a connection event.
    std::random_device device;
    std::mt19937_64 engine(device());
    for (unsigned char& byte : bytes) byte = engine() & 0xff;
  }
  return HexId(bytes.data());
}

ForwardEvent BuildMessageEvent(const WebhookMessage& message,
                               std::string_view session) {
  ForwardEvent event;
  event.id = MessageEventId(message.message.id);
  event.type = "message";
  event.chat = message.message.from;
  event.timestamp_ms = message.message.timestamp_ms;

  common::JsonWriter w;
  WriteHead(w, event, session);
  w.Key("message").StartObject();
  w.Key("id").String(message.message.id);
  w.Key("from").String(message.message.from);
  w.Key("type").String(message.type.empty() ? "text" : message.type);
  if (!message.message.text.empty()) {
    w.Key("text").String(message.message.text);
  }
  if (message.media) {
    w.Key("media").StartObject();
    w.Key("id").String(message.media->id);
    w.Key("mimeType").String(message.media->mime_type);
    if (message.media->caption) {
      w.Key("caption").String(*message.media->caption);
    }
    if (message.media->filename) {
      w.Key("filename").String(*message.media->filename);
    }
    w.EndObject();
  }
  if (!message.context_id.empty()) {
    w.Key("context").StartObject().Key("id").String(message.context_id);
    w.EndObject();
  }
  w.Key("raw");
  WriteRaw(w, message.raw_json);
  w.EndObject();  // message
  w.EndObject();
  event.json = w.str();
  return event;
}

ForwardEvent BuildStatusEvent(const WebhookStatus& status,
                              const std::optional<std::string>& our_message_id,
                              std::string_view session) {
  const std::string_view name = ToString(status.update.status);
  ForwardEvent event;
  event.id = StatusEventId(status.update.provider_id, name);
  event.type = "status";
  event.chat = status.recipient_id;
  event.timestamp_ms = status.update.timestamp_ms;
  event.json = StatusJson(event, session, our_message_id.value_or(""),
                          status.update.provider_id, name, status.update.error);
  return event;
}

ForwardEvent BuildSendStatusEvent(const SendReport& report,
                                  std::string_view session) {
  const std::string_view name = ToString(report.status);
  ForwardEvent event;
  event.id = SendStatusEventId(report.message_id, name);
  event.type = "status";
  event.chat = report.to;
  event.timestamp_ms = report.at_ms;
  event.json = StatusJson(event, session, report.message_id, report.provider_id,
                          name, report.error);
  return event;
}

ForwardEvent BuildConnectionEvent(ConnectionState state,
                                  std::string_view reason, int64_t now_ms,
                                  std::string_view session,
                                  std::optional<std::string> id) {
  ForwardEvent event;
  event.id = id ? std::move(*id) : RandomEventId();
  event.type = "connection";
  event.timestamp_ms = now_ms;

  common::JsonWriter w;
  WriteHead(w, event, session);
  w.Key("connection").StartObject();
  w.Key("state").String(ToString(state));
  if (!reason.empty()) w.Key("reason").String(reason);
  w.EndObject();
  w.EndObject();
  event.json = w.str();
  return event;
}

}  // namespace dynoguard::worker
