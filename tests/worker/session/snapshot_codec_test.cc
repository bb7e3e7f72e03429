#include "worker/session/snapshot_codec.h"

#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/fuzz/snapshot_samples.h"
#include "worker/session/snapshot_base64.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker {
namespace {

using testing::RichState;
using testing::SameState;

SnapshotKey KeyOf(unsigned char first) {
  SnapshotKey key;
  for (size_t i = 0; i < key.bytes.size(); ++i) {
    key.bytes[i] = static_cast<unsigned char>(first + i);
  }
  return key;
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

std::string Write(const rapidjson::Document& doc) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// `document` with member `key` set to the JSON value `value`.
std::string WithField(const std::string& document, const char* key,
                      const std::string& value) {
  rapidjson::Document doc = Parse(document);
  rapidjson::Document v(&doc.GetAllocator());
  v.Parse(value.data(), value.size());
  REQUIRE_FALSE(v.HasParseError());
  doc.RemoveMember(key);
  doc.AddMember(rapidjson::Value(key, doc.GetAllocator()),
                rapidjson::Value(v, doc.GetAllocator()), doc.GetAllocator());
  return Write(doc);
}

std::string Field(const std::string& document, const char* key) {
  rapidjson::Document doc = Parse(document);
  REQUIRE(doc[key].IsString());
  return doc[key].GetString();
}

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

std::string HexSha256(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  std::string hex;
  for (unsigned char c : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

// A plaintext document built here, by hand, around `raw` (the state's JSON).
std::string HandMadeDocument(const std::string& raw, const std::string& name,
                             uint64_t sequence, int64_t saved_ms) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(size, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
                    reinterpret_cast<const Bytef*>(raw.data()), raw.size(),
                    6) == Z_OK);
  compressed.resize(size);
  return "{\"format\":\"dynoguard-session\",\"version\":1,\"name\":\"" + name +
         "\",\"sequence\":" + std::to_string(sequence) +
         ",\"savedAt\":" + std::to_string(saved_ms) +
         ",\"encoding\":\"zlib\",\"rawBytes\":" + std::to_string(raw.size()) +
         ",\"checksum\":\"sha256:" + HexSha256(raw) + "\",\"payload\":\"" +
         Base64Encode(compressed) + "\"}";
}

void RequireRefused(const std::string& document, const SnapshotKey* key,
                    const std::string& fragment) {
  common::Result<SessionState> state = DecodeSnapshot(document, key);
  REQUIRE_FALSE(state.ok());
  INFO(state.status().message());
  CHECK(state.status().code() == common::Status::Code::kInvalidArgument);
  CHECK(state.status().message().rfind("session snapshot", 0) == 0);
  CHECK(state.status().message().find(fragment) != std::string::npos);
  CHECK(state.status().message().find('\n') == std::string::npos);
}

TEST_CASE("a rich state round-trips exactly, without a key", "[snapshot]") {
  const SessionState state = RichState();
  common::Result<std::string> doc = EncodeSnapshot(state, nullptr);
  REQUIRE(doc.ok());
  common::Result<SessionState> back = DecodeSnapshot(*doc, nullptr);
  REQUIRE(back.ok());
  CHECK(SameState(state, *back));
  // A key is not needed, and not used, for a plaintext document.
  const SnapshotKey key = KeyOf(1);
  common::Result<SessionState> with_key = DecodeSnapshot(*doc, &key);
  REQUIRE(with_key.ok());
  CHECK(SameState(state, *with_key));
}

TEST_CASE("a rich state round-trips exactly, encrypted", "[snapshot]") {
  const SessionState state = RichState();
  const SnapshotKey key = KeyOf(7);
  common::Result<std::string> doc = EncodeSnapshot(state, &key);
  REQUIRE(doc.ok());
  common::Result<SessionState> back = DecodeSnapshot(*doc, &key);
  REQUIRE(back.ok());
  CHECK(SameState(state, *back));
  // A fresh nonce each time.
  common::Result<std::string> again = EncodeSnapshot(state, &key);
  REQUIRE(again.ok());
  CHECK(Field(*doc, "nonce") != Field(*again, "nonce"));
  CHECK(Field(*doc, "payload") != Field(*again, "payload"));
}

TEST_CASE("an empty state round-trips", "[snapshot]") {
  SessionState state;
  const SnapshotKey key = KeyOf(3);
  for (const SnapshotKey* k :
       {static_cast<const SnapshotKey*>(nullptr), &key}) {
    common::Result<std::string> doc = EncodeSnapshot(state, k);
    REQUIRE(doc.ok());
    common::Result<SessionState> back = DecodeSnapshot(*doc, k);
    REQUIRE(back.ok());
    CHECK(SameState(state, *back));
  }
}

TEST_CASE("the document is one JSON object with its header in clear",
          "[snapshot]") {
  const SessionState state = RichState();
  const SnapshotKey key = KeyOf(9);
  common::Result<std::string> plain = EncodeSnapshot(state, nullptr);
  common::Result<std::string> sealed = EncodeSnapshot(state, &key);
  REQUIRE(plain.ok());
  REQUIRE(sealed.ok());
  const std::string raw = SessionStateToJson(state);
  for (const std::string* doc : {&*plain, &*sealed}) {
    rapidjson::Document d = Parse(*doc);
    CHECK(std::string(d["format"].GetString()) == "dynoguard-session");
    CHECK(d["version"].GetInt() == kSnapshotVersion);
    CHECK(std::string(d["name"].GetString()) == "shop-bot");
    CHECK(d["sequence"].GetUint64() == 42);
    CHECK(d["savedAt"].GetInt64() == state.saved_ms);
    CHECK(d["rawBytes"].GetUint64() == raw.size());
    CHECK(std::string(d["checksum"].GetString()) == "sha256:" + HexSha256(raw));
    CHECK(d["payload"].IsString());
    // The texts are nowhere in clear.
    CHECK(doc->find("Hello") == std::string::npos);
  }
  CHECK(Field(*plain, "encoding") == "zlib");
  CHECK(Field(*sealed, "encoding") == "zlib+aes-256-gcm");
  CHECK(Parse(*plain).HasMember("nonce") == false);
  CHECK(Base64Decode(Field(*sealed, "nonce"))->size() == 12);

  common::Result<SnapshotHeader> h = ReadSnapshotHeader(*sealed);
  REQUIRE(h.ok());
  CHECK(h->version == 1);
  CHECK(h->name == "shop-bot");
  CHECK(h->sequence == 42);
  CHECK(h->saved_ms == state.saved_ms);
  CHECK(h->encrypted);
  CHECK(h->raw_bytes == raw.size());
  common::Result<SnapshotHeader> hp = ReadSnapshotHeader(*plain);
  REQUIRE(hp.ok());
  CHECK_FALSE(hp->encrypted);
}

TEST_CASE("garbage and foreign JSON are not a snapshot", "[snapshot]") {
  RequireRefused("", nullptr, "is empty");
  RequireRefused("hello", nullptr, "not a dynoguard session snapshot");
  RequireRefused("\x1f\x8b\x08\x00", nullptr,
                 "not a dynoguard session snapshot");
  RequireRefused("[1,2]", nullptr, "not a dynoguard session snapshot");
  RequireRefused("{}", nullptr, "not a dynoguard session snapshot");
  RequireRefused("{\"record\":{},\"metadata\":{}}", nullptr,
                 "not a dynoguard session snapshot");
  RequireRefused("{\"format\":\"other\"}", nullptr,
                 "not a dynoguard session snapshot");
  // Deep nesting is refused without recursion.
  RequireRefused(std::string(100000, '['), nullptr,
                 "not a dynoguard session snapshot");
  CHECK_FALSE(ReadSnapshotHeader("hello").ok());
  // Larger than any snapshot: refused before parsing.
  RequireRefused(std::string(size_t{100} << 20, ' '), nullptr,
                 "larger than any snapshot");
}

TEST_CASE("another version is refused, naming both", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  const std::string v2 = WithField(*doc, "version", "2");
  RequireRefused(v2, nullptr,
                 "\"shop-bot\" has version 2; this worker reads version 1");
  common::Result<SnapshotHeader> h = ReadSnapshotHeader(v2);
  REQUIRE_FALSE(h.ok());
  CHECK(h.status().message().find("version 2") != std::string::npos);
  RequireRefused(WithField(*doc, "version", "0"), nullptr, "has version 0");
}

TEST_CASE("a truncated document is refused", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  RequireRefused(doc->substr(0, doc->size() / 2), nullptr, "truncated");
  // The payload cut short but still base64: the zlib stream ends early.
  const std::string payload = Field(*doc, "payload");
  RequireRefused(WithField(*doc, "payload",
                           Quoted(payload.substr(0, payload.size() - 40))),
                 nullptr, "truncated: the zlib stream ends early");
  // Cut inside a base64 quantum.
  RequireRefused(
      WithField(*doc, "payload", Quoted(payload.substr(0, payload.size() - 3))),
      nullptr, "not valid base64");
  RequireRefused(WithField(*doc, "payload", "\"\""), nullptr, "truncated");
}

TEST_CASE("a payload that is not base64 or not zlib is refused", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  std::string payload = Field(*doc, "payload");
  std::string bad = payload;
  bad[10] = '!';
  RequireRefused(WithField(*doc, "payload", Quoted(bad)), nullptr,
                 "not valid base64");
  RequireRefused(
      WithField(*doc, "payload", Quoted(Base64Encode(std::string(600, 'x')))),
      nullptr, "not valid zlib data");
}

TEST_CASE("rawBytes is capped and must match", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  const size_t raw = SessionStateToJson(RichState()).size();
  RequireRefused(WithField(*doc, "rawBytes", "67108865"), nullptr,
                 "rawBytes 67108865 is above the 64 MiB cap");
  RequireRefused(WithField(*doc, "rawBytes", "18446744073709551615"), nullptr,
                 "above the 64 MiB cap");
  RequireRefused(WithField(*doc, "rawBytes", "67108864"), nullptr,
                 "truncated: the payload is too short for its rawBytes");
  RequireRefused(WithField(*doc, "rawBytes", "0"), nullptr,
                 "larger than its rawBytes allows");
  RequireRefused(WithField(*doc, "rawBytes", std::to_string(raw + 1)), nullptr,
                 "rawBytes says");
  RequireRefused(WithField(*doc, "rawBytes", std::to_string(raw - 1)), nullptr,
                 "inflates past its rawBytes");
  RequireRefused(WithField(*doc, "rawBytes", "-1"), nullptr,
                 "field rawBytes must be an unsigned integer");
}

TEST_CASE("a bad checksum is refused", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  RequireRefused(
      WithField(*doc, "checksum", Quoted("sha256:" + std::string(64, '0'))),
      nullptr, "bad checksum");
  RequireRefused(WithField(*doc, "checksum", Quoted("md5:abc")), nullptr,
                 "field checksum must be");
  // The payload of another state under this header.
  SessionState other = RichState();
  other.pending[0].text = "changed";
  common::Result<std::string> other_doc = EncodeSnapshot(other, nullptr);
  REQUIRE(other_doc.ok());
  RequireRefused(
      WithField(
          WithField(*doc, "payload", Quoted(Field(*other_doc, "payload"))),
          "rawBytes", std::to_string(SessionStateToJson(other).size())),
      nullptr, "bad checksum");
}

TEST_CASE("a wrong key or an altered encrypted snapshot is refused",
          "[snapshot]") {
  const SnapshotKey key = KeyOf(11);
  const SnapshotKey wrong = KeyOf(12);
  common::Result<std::string> doc = EncodeSnapshot(RichState(), &key);
  REQUIRE(doc.ok());
  const std::string message =
      "wrong SESSION_ENCRYPTION_KEY or the snapshot was altered";
  RequireRefused(*doc, &wrong, message);
  // The associated data: another name or sequence does not decrypt.
  RequireRefused(WithField(*doc, "name", "\"other\""), &key, message);
  RequireRefused(WithField(*doc, "sequence", "43"), &key, message);
  // A flipped ciphertext byte, a changed nonce.
  std::string sealed = *Base64Decode(Field(*doc, "payload"));
  sealed[5] = static_cast<char>(sealed[5] ^ 1);
  RequireRefused(WithField(*doc, "payload", Quoted(Base64Encode(sealed))), &key,
                 message);
  RequireRefused(
      WithField(*doc, "nonce", Quoted(Base64Encode(std::string(12, 'n')))),
      &key, message);
  RequireRefused(WithField(*doc, "payload", Quoted(Base64Encode("short"))),
                 &key, "truncated: the encrypted payload is shorter");
  // savedAt is not associated data, but the state repeats it.
  RequireRefused(WithField(*doc, "savedAt", "5"), &key,
                 "differs from the state's");
  // The message never shows a key.
  common::Result<SessionState> state = DecodeSnapshot(*doc, &wrong);
  REQUIRE_FALSE(state.ok());
  CHECK(state.status().message().find(Base64Encode(std::string(
            wrong.bytes.begin(), wrong.bytes.end()))) == std::string::npos);
}

TEST_CASE("an encrypted snapshot without a key is refused", "[snapshot]") {
  const SnapshotKey key = KeyOf(13);
  common::Result<std::string> doc = EncodeSnapshot(RichState(), &key);
  REQUIRE(doc.ok());
  RequireRefused(*doc, nullptr,
                 "\"shop-bot\" is encrypted: set SESSION_ENCRYPTION_KEY");
  // Its header still reads.
  CHECK(ReadSnapshotHeader(*doc).ok());
  RequireRefused(WithField(*doc, "nonce", "\"AAAA\""), &key,
                 "field nonce must be base64 of 12 bytes");
}

TEST_CASE("a header field of the wrong type is refused", "[snapshot]") {
  common::Result<std::string> doc = EncodeSnapshot(RichState(), nullptr);
  REQUIRE(doc.ok());
  RequireRefused(WithField(*doc, "sequence", "\"42\""), nullptr,
                 "field sequence must be an unsigned integer");
  RequireRefused(WithField(*doc, "sequence", "-1"), nullptr,
                 "field sequence must be an unsigned integer");
  RequireRefused(WithField(*doc, "version", "\"1\""), nullptr,
                 "field version must be an integer");
  RequireRefused(WithField(*doc, "savedAt", "1.5"), nullptr,
                 "field savedAt must be an integer");
  RequireRefused(WithField(*doc, "name", "7"), nullptr,
                 "field name must be a string");
  RequireRefused(WithField(*doc, "payload", "null"), nullptr,
                 "field payload must be a string");
  RequireRefused(WithField(*doc, "encoding", "\"gzip\""), nullptr,
                 "unknown encoding");
  // Edited in clear: the state disagrees.
  RequireRefused(WithField(*doc, "name", "\"other\""), nullptr,
                 "differs from the state's");
}

TEST_CASE("a state field of the wrong type is refused", "[snapshot]") {
  const SessionState state = RichState();
  const std::string raw = SessionStateToJson(state);
  auto refused = [&](const std::string& from, const std::string& to,
                     const std::string& fragment) {
    std::string edited = raw;
    const size_t at = edited.find(from);
    REQUIRE(at != std::string::npos);
    edited.replace(at, from.size(), to);
    RequireRefused(
        HandMadeDocument(edited, state.name, state.sequence, state.saved_ms),
        nullptr, fragment);
  };
  // The hand-made document itself decodes.
  common::Result<SessionState> fine = DecodeSnapshot(
      HandMadeDocument(raw, state.name, state.sequence, state.saved_ms),
      nullptr);
  REQUIRE(fine.ok());
  CHECK(SameState(state, *fine));

  refused("\"attempts\":0", "\"attempts\":\"0\"",
          "field pending[0].attempts must be a 32-bit integer");
  refused("\"status\":\"queued\"", "\"status\":\"lost\"",
          "field pending[0].status is not a known message status");
  refused("\"source\":\"webhook\"", "\"source\":\"fax\"",
          "field inbox[0].source must be");
  refused("\"retryable\":true", "\"retryable\":1",
          "field pending[1].error.retryable must be true or false");
  refused("\"seen\":[", "\"seen\":[7,", "field seen[0] must be an object");
  refused("\"counters\":{", "\"counters\":{\"x\":\"y\",",
          "field counters must hold integers only");
  refused("\"lastHeartbeat\":", "\"lastHeartbeat\":\"x\",\"y\":",
          "field connection.lastHeartbeat must be an integer or null");
  refused("\"event\":{\"id\":", "\"event\":{\"idx\":",
          "field outbox[0].event.id is missing");
  refused("\"windows\":[", "\"windows\":{},\"w\":[",
          "field windows must be an array");
}

TEST_CASE("the state digest is stable and sensitive", "[snapshot]") {
  const SessionState state = RichState();
  const std::string digest = StateDigest(state);
  CHECK(digest.size() == 64);
  CHECK(StateDigest(RichState()) == digest);
  // Not the sequence or the time.
  SessionState later = state;
  later.sequence = 43;
  later.saved_ms += 10'000;
  CHECK(StateDigest(later) == digest);
  // Anything else.
  auto changed = [&](auto edit) {
    SessionState s = state;
    edit(s);
    return StateDigest(s) != digest;
  };
  CHECK(changed([](SessionState& s) { s.pending[0].text += "!"; }));
  CHECK(changed([](SessionState& s) { s.pending[0].attempts += 1; }));
  CHECK(changed([](SessionState& s) { s.pending.pop_back(); }));
  CHECK(changed([](SessionState& s) {
    s.awaiting_status[0].status = MessageStatus::kRead;
  }));
  CHECK(changed([](SessionState& s) { s.inbox.clear(); }));
  CHECK(changed([](SessionState& s) { s.outbox[0].attempts = 9; }));
  CHECK(changed([](SessionState& s) { s.seen[0].at_ms += 1; }));
  CHECK(changed([](SessionState& s) { s.windows[0].wa_id = "1"; }));
  CHECK(changed([](SessionState& s) { s.connection.reason = ""; }));
  CHECK(changed([](SessionState& s) { s.connection.last_inbound_ms = 0; }));
  CHECK(changed([](SessionState& s) { s.counters["sends_sent"] += 1; }));
  CHECK(changed([](SessionState& s) { s.name = "other"; }));
}

}  // namespace
}  // namespace dynoguard::worker
