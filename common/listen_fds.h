// Socket activation (sd_listen_fds(3)): how many listening sockets a process
// inherited, read from the values of LISTEN_FDS and LISTEN_PID. Pure: the
// caller reads the environment.
#ifndef DYNOGUARD_COMMON_LISTEN_FDS_H_
#define DYNOGUARD_COMMON_LISTEN_FDS_H_

#include <string_view>

#include "common/status.h"

namespace dynoguard::common {

// The first inherited fd; the n passed fds are kListenFdsStart ..
// kListenFdsStart + n - 1.
constexpr int kListenFdsStart = 3;

// Returns how many inherited fds (starting at kListenFdsStart) are meant for
// process `self_pid`: 0 when `listen_fds` is empty (unset), or when
// `listen_pid` is set and names another process (the variables leaked from a
// parent). Empty `listen_pid` does not restrict. Errors: InvalidArgument when
// either value is set but not a non-negative decimal number (a LISTEN_PID must
// also be > 0), or the count would run past the largest fd number.
Result<int> ParseListenFds(std::string_view listen_fds,
                           std::string_view listen_pid, int self_pid);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_LISTEN_FDS_H_
