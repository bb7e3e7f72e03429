// Private files: everything the worker keeps in DATA_DIR (the queue with its
// recipients and texts, the sandbox outbox, the lock) is readable by its own
// user only, whatever the umask: directories 0700, files 0600.
#ifndef DYNOGUARD_WORKER_STORAGE_PRIVATE_FILES_H_
#define DYNOGUARD_WORKER_STORAGE_PRIVATE_FILES_H_

#include <string>

#include "common/status.h"

namespace dynoguard::worker::storage {

inline constexpr unsigned kPrivateDirMode = 0700;
inline constexpr unsigned kPrivateFileMode = 0600;

// Creates `path` and its missing parents; `path` itself ends up 0700 (chmod
// when it already existed with another mode; parents that had to be created
// are 0700 too). A directory owned by another user that cannot be chmod-ed is
// left as it is (not an error). IOError naming the path on failure.
common::Status EnsurePrivateDirectory(const std::string& path);

// Creates `path` if missing and makes it 0600 (fchmod, so the umask does not
// matter and a file an older version left 0644 is tightened). Does not
// truncate. IOError naming the path on failure.
common::Status EnsurePrivateFile(const std::string& path);

// Makes `path` 0600 if it exists; OK when it does not.
common::Status RestrictIfExists(const std::string& path);

}  // namespace dynoguard::worker::storage

#endif  // DYNOGUARD_WORKER_STORAGE_PRIVATE_FILES_H_
