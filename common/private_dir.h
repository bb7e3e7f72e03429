// Private directories: DATA_DIR holds recipients, texts and the control
// socket, so it is 0700 whatever the umask (issue 6 §3).
#ifndef DYNOGUARD_COMMON_PRIVATE_DIR_H_
#define DYNOGUARD_COMMON_PRIVATE_DIR_H_

#include <string>

#include "common/status.h"

namespace dynoguard::common {

// Creates `path` (and missing parents) and leaves it mode 0700: a directory
// this user owns with group or other bits is tightened to 0700; one owned by
// another user is left alone (a shared directory is the operator's choice).
// Returns IOError naming the path when it cannot be created or is not a
// directory. Thread-compatible.
Status CreatePrivateDirectory(const std::string& path);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_PRIVATE_DIR_H_
