#include "common/notify_message.h"

#include <charconv>

#include "common/number.h"

namespace dynoguard::common {
namespace {

void Apply(std::string_view key, std::string_view value,
           NotifyMessage& message) {
  if (key == "READY") {
    if (value == "1") message.ready = true;
  } else if (key == "WATCHDOG") {
    if (value == "1") message.watchdog = true;
  } else if (key == "STOPPING") {
    if (value == "1") message.stopping = true;
  } else if (key == "RELOADING") {
    if (value == "1") message.reloading = true;
  } else if (key == "STATUS") {
    message.status = std::string(value);
  } else if (key == "WATCHDOG_USEC") {
    if (auto usec = ParseDecimal<uint64_t>(value))
      message.watchdog_usec = *usec;
  } else if (key == "MAINPID") {
    if (auto pid = ParseDecimal<int>(value); pid && *pid > 0)
      message.mainpid = *pid;
  }
}

}  // namespace

NotifyMessage ParseNotifyMessage(std::string_view datagram) {
  NotifyMessage message;
  while (!datagram.empty()) {
    size_t newline = datagram.find('\n');
    std::string_view line = datagram.substr(0, newline);
    datagram = newline == std::string_view::npos ? std::string_view()
                                                 : datagram.substr(newline + 1);
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    Apply(line.substr(0, equals), line.substr(equals + 1), message);
  }
  return message;
}

}  // namespace dynoguard::common
