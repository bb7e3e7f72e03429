// SnapshotKey: the AES-256 key of the session snapshot, parsed from
// SESSION_ENCRYPTION_KEY (SPEC §3: 32 bytes, as hex or base64).
#ifndef DYNOGUARD_WORKER_SESSION_SESSION_KEY_H_
#define DYNOGUARD_WORKER_SESSION_SESSION_KEY_H_

#include <array>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

// A value type. Never logged: nothing prints it.
struct SnapshotKey {
  std::array<unsigned char, 32> bytes{};
};

// Parses SESSION_ENCRYPTION_KEY: 64 hex digits (either case), or base64 of
// exactly 32 bytes in the standard or the URL-safe alphabet, padded or not.
// Surrounding ASCII whitespace (a trailing newline from a file) is ignored.
// Anything else is InvalidArgument with one line, "SESSION_ENCRYPTION_KEY:
// expected 32 bytes as 64 hex digits or base64, got N bytes" (N what the text
// decodes to; for text that is neither hex nor base64, its length in
// characters) — never the value itself. Pure, thread-safe.
common::Result<SnapshotKey> ParseSnapshotKey(std::string_view text);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SESSION_KEY_H_
