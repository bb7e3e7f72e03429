#include "common/listen_fds.h"

#include <charconv>
#include <limits>
#include <optional>
#include <string>

#include "common/number.h"

namespace dynoguard::common {
namespace {}  // namespace

Result<int> ParseListenFds(std::string_view listen_fds,
                           std::string_view listen_pid, int self_pid) {
  if (listen_fds.empty()) return 0;
  // Both values are checked before LISTEN_PID is compared: a malformed value is
  // a broken environment worth reporting, whoever it was meant for.
  std::optional<int> count = ParseDecimal<int>(listen_fds);
  if (!count || *count > std::numeric_limits<int>::max() - kListenFdsStart) {
    return Status::InvalidArgument("LISTEN_FDS: not a valid fd count: '" +
                                   std::string(listen_fds) + "'");
  }
  if (!listen_pid.empty()) {
    std::optional<int> pid = ParseDecimal<int>(listen_pid);
    if (!pid || *pid == 0) {
      return Status::InvalidArgument("LISTEN_PID: not a valid pid: '" +
                                     std::string(listen_pid) + "'");
    }
    if (*pid != self_pid) return 0;
  }
  return *count;
}

}  // namespace dynoguard::common
