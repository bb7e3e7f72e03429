#include "worker/session/snapshot_codec.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "common/json_writer.h"
#include "worker/crypto/digest.h"
#include "worker/session/snapshot_base64.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker {
namespace {

using common::Result;
using common::Status;

constexpr std::string_view kFormat = "dynoguard-session";
constexpr std::string_view kPlain = "zlib";
constexpr std::string_view kEncrypted = "zlib+aes-256-gcm";
constexpr std::string_view kChecksumPrefix = "sha256:";
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
// zlib's fastest setting: a 512 KB state compresses almost as well at 1 as
// at 6 (it is JSON with repeated keys) in a third of the time, and the
// autosave runs every few seconds (docs/benchmarks.md).
// Deflate never expands data by more than this factor when inflated back
// (zlib's documented limit is 1032:1), so a payload claiming more is refused
// before anything is allocated for it.
constexpr size_t kMaxInflateRatio = 1032;

Status Invalid(std::string_view message) {
  return Status::InvalidArgument("session snapshot" + std::string(message));
}

// A name as it may appear in a log line: printable ASCII, at most 64
// characters (it comes from the document, which may be anything).
std::string Printable(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
  }
  if (name.size() > 64) out += "...";
  return out;
}

std::string AssociatedData(int version, uint64_t sequence,
                           std::string_view name) {
  return std::string(kFormat) + "/" + std::to_string(version) + "/" +
         std::to_string(sequence) + "/" + std::string(name);
}

// ---- zlib -------------------------------------------------------------------

Result<std::string> Deflate(std::string_view raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string out(size, '\0');
  const int rc =
      compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), kSnapshotCompressionLevel);
  if (rc != Z_OK) {
    return Status::Internal("session snapshot: zlib compress2 failed (" +
                            std::to_string(rc) + ")");
  }
  out.resize(size);
  return out;
}

struct InflateDeleter {
  void operator()(z_stream* z) const {
    inflateEnd(z);
    delete z;
  }
};

// Inflates `compressed`, which must hold exactly one zlib stream of exactly
// `expected` bytes.
Result<std::string> Inflate(std::string_view compressed, size_t expected) {
  if (expected / kMaxInflateRatio > compressed.size()) {
    return Invalid(" truncated: the payload is too short for its rawBytes");
  }
  std::unique_ptr<z_stream, InflateDeleter> z(new z_stream{});
  if (inflateInit(z.get()) != Z_OK) {
    // inflateInit failed: nothing to end, but inflateEnd copes with it.
    return Status::Internal("session snapshot: zlib inflateInit failed");
  }
  // One byte more than expected, so that a longer stream shows.
  std::string out(expected + 1, '\0');
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z->avail_in = static_cast<uInt>(compressed.size());
  z->next_out = reinterpret_cast<Bytef*>(out.data());
  z->avail_out = static_cast<uInt>(out.size());
  int rc = Z_OK;
  for (;;) {
    rc = inflate(z.get(), Z_NO_FLUSH);
    if (rc != Z_OK) break;         // the end, an error, or no progress possible
    if (z->avail_out == 0) break;  // longer than expected
    if (z->avail_in == 0) {
      rc = Z_BUF_ERROR;  // the input ended inside the stream
      break;
    }
  }
  const size_t produced = out.size() - z->avail_out;
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
    return Invalid(": the payload is not valid zlib data (corrupt or altered)");
  }
  if (rc == Z_MEM_ERROR) {
    return Status::Internal("session snapshot: zlib ran out of memory");
  }
  if (produced > expected) {
    return Invalid(": the payload inflates past its rawBytes (altered)");
  }
  if (rc != Z_STREAM_END) {
    return Invalid(" truncated: the zlib stream ends early");
  }
  if (z->avail_in != 0) {
    return Invalid(": bytes follow the end of the zlib stream (altered)");
  }
  if (produced != expected) {
    return Invalid(" truncated: the payload inflates to " +
                   std::to_string(produced) + " bytes, rawBytes says " +
                   std::to_string(expected));
  }
  out.resize(produced);
  return out;
}

// ---- AES-256-GCM ------------------------------------------------------------

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

// ciphertext || tag.
Result<std::string> Seal(const SnapshotKey& key, std::string_view nonce,
                         std::string_view aad, std::string_view plain) {
  const Status failed =
      Status::Internal("session snapshot: AES-256-GCM encryption failed");
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(nonce.size()), nullptr) != 1 ||
      EVP_EncryptInit_ex(
          ctx.get(), nullptr, nullptr, key.bytes.data(),
          reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return failed;
  }
  std::string out(plain.size() + kTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_EncryptUpdate(ctx.get(), o, &len,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    return failed;
  }
  int total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1) return failed;
  total += len;
  if (static_cast<size_t>(total) != plain.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                          static_cast<int>(kTagBytes), o + total) != 1) {
    return failed;
  }
  return out;
}

Result<std::string> Open(const SnapshotKey& key, std::string_view nonce,
                         std::string_view aad, std::string_view sealed) {
  if (sealed.size() < kTagBytes) {
    return Invalid(" truncated: the encrypted payload is shorter than its tag");
  }
  const Status failed =
      Status::Internal("session snapshot: AES-256-GCM decryption failed");
  const size_t body = sealed.size() - kTagBytes;
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(nonce.size()), nullptr) != 1 ||
      EVP_DecryptInit_ex(
          ctx.get(), nullptr, nullptr, key.bytes.data(),
          reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return failed;
  }
  std::string out(body, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptUpdate(ctx.get(), o, &len,
                        reinterpret_cast<const unsigned char*>(sealed.data()),
                        static_cast<int>(body)) != 1) {
    return failed;
  }
  int total = len;
  // The tag is checked in Final; the ctrl only hands it over.
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                          static_cast<int>(kTagBytes),
                          const_cast<char*>(sealed.data() + body)) != 1) {
    return failed;
  }
  if (EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
    return Invalid(
        ": wrong SESSION_ENCRYPTION_KEY or the snapshot was altered "
        "(AES-GCM tag mismatch)");
  }
  total += len;
  out.resize(static_cast<size_t>(total));
  return out;
}

// ---- The header -------------------------------------------------------------

// The header fields, checked; views into the parsed document.
struct ParsedHeader {
  SnapshotHeader header;
  std::string_view checksum;  // 64 lowercase hex digits
  std::string nonce;          // the raw bytes (encrypted only)
  std::string_view payload;   // base64
};

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// The base64 length of the largest payload `raw_bytes` of raw JSON can give.
size_t MaxPayloadChars(size_t raw_bytes) {
  const size_t sealed =
      compressBound(static_cast<uLong>(raw_bytes)) + kTagBytes;
  return 4 * ((sealed + 2) / 3);
}

Status ParseJsonDocument(std::string_view document, rapidjson::Document* doc) {
  // Larger than the largest payload plus a generous header: refused before
  // anything is parsed or copied.
  if (document.size() > MaxPayloadChars(kSnapshotMaxRawBytes) + (64 << 10)) {
    return Invalid(": the document is " + std::to_string(document.size()) +
                   " bytes, larger than any snapshot");
  }
  doc->Parse<rapidjson::kParseIterativeFlag>(document.data(), document.size());
  if (!doc->HasParseError()) return Status::Ok();
  const rapidjson::ParseErrorCode code = doc->GetParseError();
  if (code == rapidjson::kParseErrorDocumentEmpty) {
    return Invalid(" is empty: not a dynoguard session snapshot");
  }
  const size_t first = document.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && document[first] == '{' &&
      doc->GetErrorOffset() >= document.size() &&
      document.find(kFormat) != std::string_view::npos) {
    return Invalid(" truncated: the document ends after " +
                   std::to_string(document.size()) + " bytes");
  }
  return Invalid(std::string(": not a dynoguard session snapshot (not JSON: ") +
                 rapidjson::GetParseError_En(code) + " at offset " +
                 std::to_string(doc->GetErrorOffset()) + ")");
}

// A string member, or nullopt after setting *error.
std::optional<std::string_view> StringField(const rapidjson::Value& object,
                                            const char* key, Status* error) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd()) {
    *error = Invalid(": field " + std::string(key) + " is missing");
    return std::nullopt;
  }
  if (!it->value.IsString()) {
    *error = Invalid(": field " + std::string(key) + " must be a string");
    return std::nullopt;
  }
  return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

Status ParseHeader(const rapidjson::Document& doc, ParsedHeader* out) {
  if (!doc.IsObject()) {
    return Invalid(": not a dynoguard session snapshot (not a JSON object)");
  }
  auto format = doc.FindMember("format");
  if (format == doc.MemberEnd() || !format->value.IsString() ||
      std::string_view(format->value.GetString(),
                       format->value.GetStringLength()) != kFormat) {
    return Invalid(": not a dynoguard session snapshot (no \"format\":\"" +
                   std::string(kFormat) + "\")");
  }
  Status error;
  SnapshotHeader& h = out->header;
  std::optional<std::string_view> name = StringField(doc, "name", &error);
  if (!name) return error;
  h.name = std::string(*name);

  auto version = doc.FindMember("version");
  if (version == doc.MemberEnd() || !version->value.IsInt()) {
    return Invalid(" \"" + Printable(h.name) +
                   "\": field version must be an integer");
  }
  h.version = version->value.GetInt();
  if (h.version != kSnapshotVersion) {
    return Invalid(" \"" + Printable(h.name) + "\" has version " +
                   std::to_string(h.version) + "; this worker reads version " +
                   std::to_string(kSnapshotVersion));
  }
  auto sequence = doc.FindMember("sequence");
  if (sequence == doc.MemberEnd() || !sequence->value.IsUint64()) {
    return Invalid(": field sequence must be an unsigned integer");
  }
  h.sequence = sequence->value.GetUint64();
  auto saved = doc.FindMember("savedAt");
  if (saved == doc.MemberEnd() || !saved->value.IsInt64()) {
    return Invalid(": field savedAt must be an integer (ms since the epoch)");
  }
  h.saved_ms = saved->value.GetInt64();

  std::optional<std::string_view> encoding =
      StringField(doc, "encoding", &error);
  if (!encoding) return error;
  if (*encoding == kPlain) {
    h.encrypted = false;
  } else if (*encoding == kEncrypted) {
    h.encrypted = true;
  } else {
    return Invalid(": unknown encoding (this worker reads \"" +
                   std::string(kPlain) + "\" and \"" + std::string(kEncrypted) +
                   "\")");
  }

  auto raw = doc.FindMember("rawBytes");
  if (raw == doc.MemberEnd() || !raw->value.IsUint64()) {
    return Invalid(": field rawBytes must be an unsigned integer");
  }
  if (raw->value.GetUint64() > kSnapshotMaxRawBytes) {
    return Invalid(": rawBytes " + std::to_string(raw->value.GetUint64()) +
                   " is above the 64 MiB cap");
  }
  h.raw_bytes = static_cast<size_t>(raw->value.GetUint64());

  std::optional<std::string_view> checksum =
      StringField(doc, "checksum", &error);
  if (!checksum) return error;
  if (checksum->size() != kChecksumPrefix.size() + 2 * kSha256Bytes ||
      checksum->substr(0, kChecksumPrefix.size()) != kChecksumPrefix ||
      !IsLowerHex(checksum->substr(kChecksumPrefix.size()))) {
    return Invalid(
        ": field checksum must be \"sha256:\" and 64 lowercase hex digits");
  }
  out->checksum = checksum->substr(kChecksumPrefix.size());

  if (h.encrypted) {
    std::optional<std::string_view> nonce = StringField(doc, "nonce", &error);
    if (!nonce) return error;
    std::optional<std::string> bytes = Base64Decode(*nonce);
    if (!bytes || bytes->size() != kNonceBytes) {
      return Invalid(": field nonce must be base64 of 12 bytes");
    }
    out->nonce = std::move(*bytes);
  }

  std::optional<std::string_view> payload = StringField(doc, "payload", &error);
  if (!payload) return error;
  if (payload->size() > MaxPayloadChars(h.raw_bytes)) {
    return Invalid(
        ": the payload is larger than its rawBytes allows (altered)");
  }
  out->payload = *payload;
  return Status::Ok();
}

}  // namespace

Result<std::string> EncodeSnapshot(const SessionState& state,
                                   const SnapshotKey* key) {
  const std::string raw = SessionStateToJson(state);
  if (raw.size() > kSnapshotMaxRawBytes) {
    return Status::InvalidArgument("session snapshot: the state is " +
                                   std::to_string(raw.size()) +
                                   " bytes of JSON, above the 64 MiB cap");
  }
  const std::string checksum = Sha256Hex(raw);
  if (checksum.empty()) {
    return Status::Internal("session snapshot: SHA-256 failed (out of memory)");
  }
  Result<std::string> compressed = Deflate(raw);
  if (!compressed.ok()) return compressed.status();

  std::string nonce;
  std::string payload;
  if (key != nullptr) {
    nonce.assign(kNonceBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                   static_cast<int>(nonce.size())) != 1) {
      return Status::Internal(
          "session snapshot: RAND_bytes failed to make a nonce");
    }
    Result<std::string> sealed =
        Seal(*key, nonce,
             AssociatedData(kSnapshotVersion, state.sequence, state.name),
             *compressed);
    if (!sealed.ok()) return sealed.status();
    payload = Base64Encode(*sealed);
  } else {
    payload = Base64Encode(*compressed);
  }

  common::JsonWriter w;
  w.StartObject();
  w.Key("format").String(kFormat);
  w.Key("version").Int(kSnapshotVersion);
  w.Key("name").String(state.name);
  w.Key("sequence").Uint(state.sequence);
  w.Key("savedAt").Int(state.saved_ms);
  w.Key("encoding").String(key != nullptr ? kEncrypted : kPlain);
  w.Key("rawBytes").Uint(raw.size());
  w.Key("checksum").String(std::string(kChecksumPrefix) + checksum);
  if (key != nullptr) w.Key("nonce").String(Base64Encode(nonce));
  w.Key("payload").String(payload);
  w.EndObject();
  return w.str();
}

Result<SnapshotHeader> ReadSnapshotHeader(std::string_view document) {
  rapidjson::Document doc;
  if (Status s = ParseJsonDocument(document, &doc); !s.ok()) return s;
  ParsedHeader parsed;
  if (Status s = ParseHeader(doc, &parsed); !s.ok()) return s;
  return std::move(parsed.header);
}

Result<SessionState> DecodeSnapshot(std::string_view document,
                                    const SnapshotKey* key) {
  rapidjson::Document doc;
  if (Status s = ParseJsonDocument(document, &doc); !s.ok()) return s;
  ParsedHeader parsed;
  if (Status s = ParseHeader(doc, &parsed); !s.ok()) return s;
  const SnapshotHeader& h = parsed.header;
  if (h.encrypted && key == nullptr) {
    return Invalid(" \"" + Printable(h.name) +
                   "\" is encrypted: set SESSION_ENCRYPTION_KEY to restore it");
  }
  std::optional<std::string> bytes = Base64Decode(parsed.payload);
  if (!bytes) {
    return Invalid(": the payload is not valid base64 (truncated or altered)");
  }
  if (h.encrypted) {
    Result<std::string> opened =
        Open(*key, parsed.nonce, AssociatedData(h.version, h.sequence, h.name),
             *bytes);
    if (!opened.ok()) return opened.status();
    bytes = std::move(opened.value());
  }
  Result<std::string> raw = Inflate(*bytes, h.raw_bytes);
  if (!raw.ok()) return raw.status();
  const std::string checksum = Sha256Hex(*raw);
  if (checksum.empty()) {
    return Status::Internal("session snapshot: SHA-256 failed (out of memory)");
  }
  if (checksum != parsed.checksum) {
    return Invalid(": bad checksum (the state does not match its sha256)");
  }
  Result<SessionState> state = SessionStateFromJson(*raw);
  if (!state.ok()) return state.status();
  if (state->name != h.name || state->sequence != h.sequence ||
      state->saved_ms != h.saved_ms) {
    return Invalid(
        ": the header's name, sequence or savedAt differs from the state's "
        "(altered)");
  }
  return state;
}

std::string StateDigest(const SessionState& state) {
  return Sha256Hex(SessionContentToJson(state));
}

}  // namespace dynoguard::worker
