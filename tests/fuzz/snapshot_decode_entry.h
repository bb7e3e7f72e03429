// The one fuzz entry of the snapshot decoder, shared by the libFuzzer target
// (snapshot_decode_fuzz.cc) and the mutation unit test that runs in every CI
// build (tests/worker/session/snapshot_fuzz_test.cc).
#ifndef DYNOGUARD_TESTS_FUZZ_SNAPSHOT_DECODE_ENTRY_H_
#define DYNOGUARD_TESTS_FUZZ_SNAPSHOT_DECODE_ENTRY_H_

#include <string>
#include <string_view>

#include "tests/fuzz/snapshot_samples.h"
#include "worker/session/session_key.h"
#include "worker/session/snapshot_codec.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker::testing {

// The key the fuzz corpus's encrypted documents use: bytes 0, 1, …, 31.
inline const SnapshotKey& FuzzKey() {
  static const SnapshotKey key = [] {
    SnapshotKey k;
    for (size_t i = 0; i < k.bytes.size(); ++i) {
      k.bytes[i] = static_cast<unsigned char>(i);
    }
    return k;
  }();
  return key;
}

// Feeds `input` to ReadSnapshotHeader, to DecodeSnapshot without and with
// FuzzKey(), and to SessionStateFromJson (the payload's parser, which the
// fuzzer seldom reaches through a valid checksum). Returns "" when every
// property holds, else what broke:
//  - a refusal is InvalidArgument with a one-line message;
//  - a decoded state has a header that reads and agrees with it, and
//    encodes and decodes back to the same state;
//  - a state parsed from raw JSON writes and parses back to the same state.
// (A crash, a sanitizer report or a huge allocation is the fuzzer's to
// catch.)
inline std::string SnapshotDecodeOne(std::string_view input) {
  const common::Result<SnapshotHeader> header = ReadSnapshotHeader(input);
  if (!header.ok()) {
    const common::Status& s = header.status();
    if (s.code() != common::Status::Code::kInvalidArgument ||
        s.message().empty() || s.message().find('\n') != std::string::npos) {
      return "ReadSnapshotHeader refused badly: " + s.message();
    }
  }
  common::Result<SessionState> parsed = SessionStateFromJson(input);
  if (!parsed.ok()) {
    const common::Status& s = parsed.status();
    if (s.code() != common::Status::Code::kInvalidArgument ||
        s.message().empty() || s.message().find('\n') != std::string::npos) {
      return "SessionStateFromJson refused badly: " + s.message();
    }
  } else {
    common::Result<SessionState> again =
        SessionStateFromJson(SessionStateToJson(*parsed));
    if (!again.ok() || !SameState(*parsed, *again)) {
      return "a parsed state did not write and parse back the same";
    }
  }
  for (const SnapshotKey* key :
       {static_cast<const SnapshotKey*>(nullptr), &FuzzKey()}) {
    common::Result<SessionState> state = DecodeSnapshot(input, key);
    if (!state.ok()) {
      const common::Status& s = state.status();
      if (s.code() != common::Status::Code::kInvalidArgument ||
          s.message().empty() || s.message().find('\n') != std::string::npos) {
        return "DecodeSnapshot refused badly: " + s.message();
      }
      continue;
    }
    if (!header.ok()) {
      return "decoded, but the header did not read: " +
             header.status().message();
    }
    if (header->name != state->name || header->sequence != state->sequence ||
        header->saved_ms != state->saved_ms) {
      return "decoded, but the header disagrees with the state";
    }
    common::Result<std::string> again = EncodeSnapshot(*state, key);
    if (!again.ok()) return "re-encoding failed: " + again.status().message();
    common::Result<SessionState> back = DecodeSnapshot(*again, key);
    if (!back.ok()) {
      return "the re-encoded document did not decode: " +
             back.status().message();
    }
    if (!SameState(*state, *back)) return "the round trip changed the state";
  }
  return "";
}

}  // namespace dynoguard::worker::testing

#endif  // DYNOGUARD_TESTS_FUZZ_SNAPSHOT_DECODE_ENTRY_H_
