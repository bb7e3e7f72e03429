// NotifyMessage: the fields of one systemd notify datagram (sd_notify(3)):
// newline-separated KEY=VALUE assignments such as "READY=1\nSTATUS=serving".
// Pure parsing, no I/O.
#ifndef DYNOGUARD_COMMON_NOTIFY_MESSAGE_H_
#define DYNOGUARD_COMMON_NOTIFY_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::common {

struct NotifyMessage {
  bool ready = false;                     // READY=1
  bool watchdog = false;                  // WATCHDOG=1
  bool stopping = false;                  // STOPPING=1
  bool reloading = false;                 // RELOADING=1
  std::optional<std::string> status;      // STATUS=<free text, may contain '='>
  std::optional<uint64_t> watchdog_usec;  // WATCHDOG_USEC=<decimal>
  std::optional<int> mainpid;             // MAINPID=<decimal > 0>
};

// Parses `datagram`. Never fails: unknown keys, lines without '=', boolean keys
// with a value other than "1" (as systemd) and bad numbers are ignored; when a
// key repeats, the last valid assignment wins. The value is everything after
// the first '=' on its line.
NotifyMessage ParseNotifyMessage(std::string_view datagram);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_NOTIFY_MESSAGE_H_
