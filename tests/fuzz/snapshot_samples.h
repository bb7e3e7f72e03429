// Session states for the snapshot tests, the fuzz target and the bench: a
// rich one with every field set (strings with any UTF-8, NULs and bytes that
// are not UTF-8), one of a given size shaped like a real session, and a
// field-by-field comparison that does not go through the codec.
#ifndef DYNOGUARD_TESTS_FUZZ_SNAPSHOT_SAMPLES_H_
#define DYNOGUARD_TESTS_FUZZ_SNAPSHOT_SAMPLES_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "worker/session/session_state.h"

namespace dynoguard::worker::testing {

// `n` pseudo-random characters of `alphabet` from `seed` (deterministic):
// ids and numbers compress like real ones.
inline std::string Noise(uint64_t seed, int n,
                         std::string_view alphabet = "0123456789") {
  std::string out;
  uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int i = 0; i < n; ++i) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 29;
    out += alphabet[x % alphabet.size()];
  }
  return out;
}

inline constexpr std::string_view kBase64Chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

inline std::string WaId(int i) { return "491" + Noise(i, 9); }

inline std::string Wamid(int i) {
  return "wamid.HBgL" + Noise(1000003 + i, 38, kBase64Chars) + "A==";
}

inline OutboundMessage SampleMessage(int i, MessageStatus status) {
  OutboundMessage m;
  char id[32];
  std::snprintf(id, sizeof id, "msg_%024x", i);
  m.id = id;
  m.to = WaId(i);
  m.type = "text";
  m.text = "Hello #" + Noise(i, 6) + ", your order " + Noise(11 * i, 8) +
           " ships today — grüße, こんにちは, 🎉 \"quoted\" \\ back\nslash\ttab";
  m.content_json =
      "{\"body\":\"Hello #" + Noise(i, 6) + "\",\"preview_url\":false}";
  m.idempotency_key = i % 3 == 0 ? "" : "order-" + Noise(7 * i, 12);
  m.status = status;
  m.attempts = i % 5;
  m.next_attempt_ms = 1'764'590'000'000 + std::stoll(Noise(3 * i, 7));
  m.created_ms = 1'764'580'000'000 + std::stoll(Noise(5 * i, 7));
  m.updated_ms = m.created_ms + 17;
  if (status != MessageStatus::kQueued && status != MessageStatus::kSending) {
    m.provider_id = Wamid(i);
    m.provider_status = "accepted";
  }
  if (i % 4 == 1) {
    m.error = ProviderError{"131056", "(#131056) pair rate limit hit", true};
  }
  return m;
}

inline std::string SampleWebhookBody(int i) {
  return "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
         "\"102290129340398\",\"changes\":[{\"value\":{\"messaging_product\":"
         "\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550783881\","
         "\"phone_number_id\":\"106540352242922\"},\"contacts\":[{\"profile\":"
         "{\"name\":\"Kerry " +
         Noise(i, 5, kBase64Chars) + "\"},\"wa_id\":\"" + WaId(i) +
         "\"}],\"messages\":[{\"from\":\"" + WaId(i) + "\",\"id\":\"" +
         Wamid(i) + "\",\"timestamp\":\"17494" + Noise(13 * i, 5) +
         "\",\"type\":\"text\",\"text\":{\"body\":"
         "\"Does it come in another color? #" +
         Noise(17 * i, 4) + "\"}}]},\"field\":\"messages\"}]}]}";
}

inline StoredEvent SampleEvent(int i) {
  StoredEvent e;
  char id[32];
  std::snprintf(id, sizeof id, "evt_%024x", i);
  e.event.id = id;
  e.event.type = "message";
  e.event.chat = WaId(i);
  e.event.timestamp_ms = 1'749'416'383'000 + std::stoll(Noise(19 * i, 6));
  e.event.json = "{\"id\":\"" + e.event.id +
                 "\",\"type\":\"message\",\"timestamp\":1749416383000,"
                 "\"session\":\"default\",\"message\":{\"raw\":" +
                 SampleWebhookBody(i) + "}}";
  e.attempts = i % 3;
  e.next_attempt_ms = i % 3 == 0 ? 0 : 1'764'590'100'000 + i;
  if (i % 3 != 0) e.first_failure_ms = 1'764'590'000'000 + i;
  e.last_error = i % 3 == 0 ? "" : "http 503 from the bot";
  e.created_ms = 1'764'580'000'000 + i;
  e.updated_ms = e.created_ms + 5;
  return e;
}

// Every field set, every list with a few entries.
inline SessionState RichState() {
  SessionState s;
  s.name = "shop-bot";
  s.sequence = 42;
  s.saved_ms = 1'764'590'123'456;
  s.transport = "cloud";
  for (int i = 0; i < 5; ++i) {
    s.pending.push_back(SampleMessage(
        i, i == 4 ? MessageStatus::kSending : MessageStatus::kQueued));
  }
  s.pending[0].type = "template";
  s.pending[0].template_json = "{\"name\":\"hello_world\"}";
  s.pending[0].content_json = s.pending[0].template_json;
  s.pending[1].reply_to = "wamid.reply";
  // Not UTF-8, with a NUL: bytes survive as they are.
  s.pending[2].text = std::string("bytes \xff\xfe and a NUL \0 inside", 27);
  s.pending[3].next_attempt_ms = -1;
  for (int i = 10; i < 14; ++i) {
    s.awaiting_status.push_back(SampleMessage(
        i, i % 2 ? MessageStatus::kSent : MessageStatus::kDelivered));
  }
  s.awaiting_status[1].status = MessageStatus::kRead;
  s.awaiting_status[2].status = MessageStatus::kFailed;
  for (int i = 0; i < 3; ++i) {
    s.inbox.push_back(InboxRow{
        100 + i, i == 1 ? InboxSource::kSandbox : InboxSource::kWebhook,
        SampleWebhookBody(i), 1'764'590'000'000 + i});
  }
  for (int i = 0; i < 4; ++i) s.outbox.push_back(SampleEvent(i));
  s.outbox[2].event.type = "connection";
  s.outbox[2].event.chat = "";
  for (int i = 0; i < 6; ++i) {
    s.seen.push_back(
        SeenKey{"m:wamid.seen" + std::to_string(i), 1'764'000'000'000 + i});
  }
  for (int i = 0; i < 3; ++i) {
    s.windows.push_back(ContactWindow{"4917" + std::to_string(20000000 + i),
                                      1'764'590'000'000 - 1000 * i});
  }
  s.connection.state = "disconnected";
  s.connection.reason = "token rejected (190)";
  s.connection.last_heartbeat_ms = 1'764'590'100'000;
  s.connection.last_outbound_ms = 0;  // set, to a zero
  s.counters = {{"sends_sent", 1234},
                {"sends_failed", 7},
                {"negative", -5},
                {"big", INT64_MAX}};
  return s;
}

// A session shaped like a busy real one, about `raw_bytes` of raw JSON:
// pending texts, messages awaiting a status, forwarding events carrying the
// webhook JSON, dedup keys and windows.
inline SessionState SizedState(size_t raw_bytes) {
  SessionState s;
  s.name = "default";
  s.sequence = 7;
  s.saved_ms = 1'764'590'000'000;
  s.transport = "cloud";
  s.connection.state = "connected";
  s.connection.last_heartbeat_ms = 1'764'590'000'000;
  s.counters = {{"sends_sent", 100000}, {"sends_failed", 12}};
  // A round is about 2.1 KB of JSON: a pending and an awaiting message, an
  // event with its webhook body, a dedup key and a window.
  size_t approx = 0;
  for (int i = 0; approx < raw_bytes; ++i) {
    s.pending.push_back(SampleMessage(i, MessageStatus::kQueued));
    s.awaiting_status.push_back(
        SampleMessage(100000 + i, MessageStatus::kSent));
    s.outbox.push_back(SampleEvent(i));
    s.seen.push_back(SeenKey{"m:" + Wamid(200000 + i),
                             1'764'000'000'000 + std::stoll(Noise(23 * i, 8))});
    s.windows.push_back(ContactWindow{
        WaId(300000 + i), 1'764'590'000'000 - std::stoll(Noise(29 * i, 7))});
    approx += 2'130;
  }
  return s;
}

inline bool SameMessage(const OutboundMessage& a, const OutboundMessage& b) {
  return a.id == b.id && a.to == b.to && a.type == b.type &&
         a.content_json == b.content_json && a.text == b.text &&
         a.template_json == b.template_json && a.reply_to == b.reply_to &&
         a.idempotency_key == b.idempotency_key && a.status == b.status &&
         a.attempts == b.attempts && a.provider_id == b.provider_id &&
         a.provider_status == b.provider_status && a.error == b.error &&
         a.next_attempt_ms == b.next_attempt_ms &&
         a.created_ms == b.created_ms && a.updated_ms == b.updated_ms;
}

inline bool SameEvent(const StoredEvent& a, const StoredEvent& b) {
  return a.event.id == b.event.id && a.event.type == b.event.type &&
         a.event.chat == b.event.chat &&
         a.event.timestamp_ms == b.event.timestamp_ms &&
         a.event.json == b.event.json && a.attempts == b.attempts &&
         a.next_attempt_ms == b.next_attempt_ms &&
         a.first_failure_ms == b.first_failure_ms &&
         a.last_error == b.last_error && a.created_ms == b.created_ms &&
         a.updated_ms == b.updated_ms;
}

inline bool SameInbox(const InboxRow& a, const InboxRow& b) {
  return a.seq == b.seq && a.source == b.source && a.body == b.body &&
         a.received_ms == b.received_ms;
}

template <typename T, typename Same>
bool SameList(const std::vector<T>& a, const std::vector<T>& b, Same same) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) return false;
  }
  return true;
}

// Every field equal.
inline bool SameState(const SessionState& a, const SessionState& b) {
  return a.name == b.name && a.sequence == b.sequence &&
         a.saved_ms == b.saved_ms && a.transport == b.transport &&
         SameList(a.pending, b.pending, SameMessage) &&
         SameList(a.awaiting_status, b.awaiting_status, SameMessage) &&
         SameList(a.inbox, b.inbox, SameInbox) &&
         SameList(a.outbox, b.outbox, SameEvent) && a.seen == b.seen &&
         a.windows == b.windows && a.connection == b.connection &&
         a.counters == b.counters;
}

}  // namespace dynoguard::worker::testing

#endif  // DYNOGUARD_TESTS_FUZZ_SNAPSHOT_SAMPLES_H_
