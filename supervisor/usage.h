// The supervisor's command line: usage text and argument parsing (pure).
#ifndef DYNOGUARD_SUPERVISOR_USAGE_H_
#define DYNOGUARD_SUPERVISOR_USAGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynoguard::supervisor {

enum class CommandKind {
  kHelp,
  kVersion,
  kStart,
  kStatus,
  kRestart,
  kStop,
  kCleanup
};

struct Command {
  CommandKind kind = CommandKind::kHelp;
  std::vector<std::string>
      child_argv;          // kStart: the command after "--"; empty = the worker
  bool json = false;       // kStatus --json
  bool emergency = false;  // kCleanup --emergency
};

// Parses argv[1..]. No command, an unknown command or flag → InvalidArgument
// with a one-line message.
common::Result<Command> ParseCommandLine(const std::vector<std::string>& args);

// The --help text.
std::string_view UsageText();

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_USAGE_H_
