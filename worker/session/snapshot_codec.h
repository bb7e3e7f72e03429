// The session snapshot document: a SessionState as ONE JSON object, stored
// as-is everywhere (a JSONBin record, a PostgreSQL text column, a MongoDB
// string, DATA_DIR/session.snapshot). Its header is in clear, so that a
// store can pick the newest of two documents without the key; its payload is
// the state's raw JSON (snapshot_json.h), compressed with zlib and, with
// SESSION_ENCRYPTION_KEY, encrypted with AES-256-GCM:
//   {"format":"dynoguard-session","version":1,"name":SESSION_NAME,
//    "sequence":N,"savedAt":ms,"encoding":"zlib"|"zlib+aes-256-gcm",
//    "rawBytes":N,"checksum":"sha256:<hex of the raw JSON>",
//    "nonce":"<base64 of 12 bytes>" (encrypted only),
//    "payload":"<base64 of zlib(raw JSON), or of AES-256-GCM(zlib(raw
//               JSON)) followed by its 16-byte tag>"}
// The GCM associated data is "dynoguard-session/<version>/<sequence>/<name>":
// a document moved to another name or sequence does not decrypt. The raw
// JSON repeats name, sequence and savedAt, and decoding checks them against
// the header, so a header edited in clear is refused too.
#ifndef DYNOGUARD_WORKER_SESSION_SNAPSHOT_CODEC_H_
#define DYNOGUARD_WORKER_SESSION_SNAPSHOT_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/session/session_key.h"
#include "worker/session/session_state.h"

namespace dynoguard::worker {

inline constexpr int kSnapshotVersion = 1;
// The payload's zlib level: fast, and JSON still shrinks 4-8x.
inline constexpr int kSnapshotCompressionLevel = 1;
// The largest raw JSON a snapshot may hold (encoding refuses more, decoding
// never inflates past it).
inline constexpr size_t kSnapshotMaxRawBytes = size_t{64} << 20;

struct SnapshotHeader {
  int version = 0;
  std::string name;
  uint64_t sequence = 0;
  int64_t saved_ms = 0;
  bool encrypted = false;
  size_t raw_bytes = 0;
};

// The document of `state`, encrypted when `key` is not null (a fresh random
// nonce from RAND_bytes each call). Errors: InvalidArgument when the raw JSON
// exceeds kSnapshotMaxRawBytes; Internal when zlib, OpenSSL or the CSPRNG
// fail. Thread-safe; pure but for the nonce.
common::Result<std::string> EncodeSnapshot(const SessionState& state,
                                           const SnapshotKey* key);

// The header only, checked (format, version, every header field's type, the
// size caps) but without touching the payload: cheap, and needs no key.
// Errors as DecodeSnapshot's that concern the header. Pure, thread-safe.
common::Result<SnapshotHeader> ReadSnapshotHeader(std::string_view document);

// The state in `document`. `key` may be null; it is needed only when the
// document is encrypted (a key given for a plaintext document is not used).
// Every refusal is InvalidArgument with one line starting "session
// snapshot", naming the fault and never a value but the name and versions:
//  - not a dynoguard snapshot (garbage, not JSON, no format marker), or the
//    document truncated;
//  - another version ("…has version 2; this worker reads version 1");
//  - a header field missing or of the wrong type, an unknown encoding;
//  - rawBytes above kSnapshotMaxRawBytes, a payload larger than rawBytes
//    allows, or inflating to another size (truncated or altered);
//  - payload not base64, not zlib, cut short;
//  - encrypted but `key` is null ("…is encrypted: set
//    SESSION_ENCRYPTION_KEY");
//  - a bad GCM tag: "wrong SESSION_ENCRYPTION_KEY or the snapshot was
//    altered";
//  - a checksum that does not match the raw JSON; a state field missing or
//    of the wrong type (snapshot_json.h); a header that disagrees with the
//    state's name, sequence or savedAt.
// Internal when zlib or OpenSSL fail (out of memory). Never crashes, never
// allocates more than a small multiple of the document plus
// kSnapshotMaxRawBytes. Pure, thread-safe.
common::Result<SessionState> DecodeSnapshot(std::string_view document,
                                            const SnapshotKey* key);

// Lowercase hex SHA-256 of the state's content, without sequence and
// saved_ms: equal digests mean nothing changed (the session manager skips
// such an autosave). "" if OpenSSL fails (out of memory): the content is then
// unknown, and the session manager saves it. Pure, thread-safe.
std::string StateDigest(const SessionState& state);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SNAPSHOT_CODEC_H_
