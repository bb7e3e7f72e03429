// Atomic files: a whole file replaced in one step, so that a crash, a full
// disk or a power cut leaves either the old contents or the new ones, never a
// mix (the session snapshot, DATA_DIR/session.snapshot).
#ifndef DYNOGUARD_WORKER_STORAGE_ATOMIC_FILE_H_
#define DYNOGUARD_WORKER_STORAGE_ATOMIC_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker::storage {

// Replaces the contents of `path` with `bytes`: writes a temp file in the
// same directory (created O_CREAT|O_EXCL, mode 0600 whatever the umask),
// writes it all, fsyncs it, renames it over `path`, then fsyncs the
// directory so that the rename itself survives a power cut. `path` ends up
// mode 0600 (the temp file's mode). On any failure the temp file is removed
// and `path` keeps its old contents (or stays absent). Errors: IOError
// naming the path (or the temp file / directory) and errno — ENOSPC and
// EFBIG for a full disk or a file size limit; InvalidArgument for an empty
// path or one ending in '/'. A symlink at `path` is replaced, not followed.
// Thread-compatible: two writers of one `path` at once both succeed and the
// last rename wins.
common::Status WriteFileAtomically(const std::string& path,
                                   std::string_view bytes);

// The whole contents of `path`, or nullopt when it does not exist (ENOENT).
// Errors: InvalidArgument when the file is larger than `max_bytes` (nothing
// is read) or is not a regular file; IOError naming the path and errno for
// any other failure. Thread-safe.
common::Result<std::optional<std::string>> ReadWholeFile(
    const std::string& path, uint64_t max_bytes);

}  // namespace dynoguard::worker::storage

#endif  // DYNOGUARD_WORKER_STORAGE_ATOMIC_FILE_H_
