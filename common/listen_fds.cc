#include "common/listen_fds.h"

#include <charconv>
#include <limits>
#include <optional>
#include <string>

namespace dynoguard::common {
namespace {

std::optional<int> ParseNonNegative(std::string_view text) {
  int value = 0;
  if (text.empty() || text.front() == '-' || text.front() == '+')
    return std::nullopt;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

}  // namespace

Result<int> ParseListenFds(std::string_view listen_fds,
                           std::string_view listen_pid, int self_pid) {
  if (listen_fds.empty()) return 0;
  // Both values are checked before LISTEN_PID is compared: a malformed value is
  // a broken environment worth reporting, whoever it was meant for.
  std::optional<int> count = ParseNonNegative(listen_fds);
  if (!count || *count > std::numeric_limits<int>::max() - kListenFdsStart) {
    return Status::InvalidArgument("LISTEN_FDS: not a valid fd count: '" +
                                   std::string(listen_fds) + "'");
  }
  if (!listen_pid.empty()) {
    std::optional<int> pid = ParseNonNegative(listen_pid);
    if (!pid || *pid == 0) {
      return Status::InvalidArgument("LISTEN_PID: not a valid pid: '" +
                                     std::string(listen_pid) + "'");
    }
    if (*pid != self_pid) return 0;
  }
  return *count;
}

}  // namespace dynoguard::common
