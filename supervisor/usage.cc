#include "supervisor/usage.h"

namespace dynoguard::supervisor {

using common::Result;
using common::Status;

std::string_view UsageText() {
  return R"(usage: supervisor <command> [options]

Keeps a worker process inside a memory budget: cleanup signals at the standard and emergency
thresholds, graceful restart at the restart threshold, crash restarts with backoff.

commands:
  start [-- COMMAND ARGS...]   run COMMAND (default: the worker installed beside the supervisor)
  status [--json]              state of the running supervisor
  restart                      graceful restart of the worker
  stop                         graceful stop of the worker and the supervisor
  cleanup [--emergency]        ask the worker for a cleanup now
  --help, --version

Configuration comes from environment variables (PORT, DATA_DIR, MEMORY_LIMIT_MB, ...);
see docs/configuration.md.
)";
}

Result<Command> ParseCommandLine(const std::vector<std::string>& args) {
  Command command;
  if (args.empty()) {
    return Status::InvalidArgument(
        "missing command: start, status, restart, stop or cleanup (try "
        "--help)");
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    command.kind = CommandKind::kHelp;
    return command;
  }
  const std::string& verb = args[0];
  auto rest_must_be_empty = [&](size_t from) -> Status {
    if (args.size() > from) {
      return Status::InvalidArgument("unexpected argument '" + args[from] +
                                     "' for '" + verb + "'");
    }
    return Status::Ok();
  };
  if (verb == "--version" || verb == "version") {
    command.kind = CommandKind::kVersion;
    return command;
  }
  if (verb == "start") {
    command.kind = CommandKind::kStart;
    if (args.size() > 1) {
      if (args[1] != "--") {
        return Status::InvalidArgument(
            "start: expected '--' before the command, got '" + args[1] + "'");
      }
      if (args.size() == 2)
        return Status::InvalidArgument("start: no command after '--'");
      command.child_argv.assign(args.begin() + 2, args.end());
    }
    return command;
  }
  if (verb == "status") {
    command.kind = CommandKind::kStatus;
    if (args.size() > 1 && args[1] == "--json") {
      command.json = true;
      if (auto s = rest_must_be_empty(2); !s.ok()) return s;
      return command;
    }
    if (auto s = rest_must_be_empty(1); !s.ok()) return s;
    return command;
  }
  if (verb == "cleanup") {
    command.kind = CommandKind::kCleanup;
    if (args.size() > 1 && args[1] == "--emergency") {
      command.emergency = true;
      if (auto s = rest_must_be_empty(2); !s.ok()) return s;
      return command;
    }
    if (auto s = rest_must_be_empty(1); !s.ok()) return s;
    return command;
  }
  if (verb == "restart" || verb == "stop") {
    command.kind =
        verb == "restart" ? CommandKind::kRestart : CommandKind::kStop;
    if (auto s = rest_must_be_empty(1); !s.ok()) return s;
    return command;
  }
  return Status::InvalidArgument("unknown command '" + verb + "' (try --help)");
}

}  // namespace dynoguard::supervisor
