// supervisor: keeps a worker inside its memory budget. main() is the table of
// contents: parse the command line, parse the environment, then either run the
// guard loop (`start`) or talk to the running supervisor over its control
// socket.
#include <rapidjson/document.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <filesystem>

#include "common/config.h"
#include "common/log.h"
#include "supervisor/control_server.h"
#include "supervisor/supervisor.h"
#include "supervisor/usage.h"

namespace {

using namespace dynoguard;

// The worker installed beside this binary.
std::string DefaultWorkerPath() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "worker";
  return (self.parent_path() / "worker").string();
}

// True when `program` names the same file as the worker beside this binary
// (`supervisor start -- ./build/worker` is our worker too, and speaks every
// protocol by default).
bool IsDefaultWorker(const std::string& program) {
  std::error_code ec;
  return std::filesystem::equivalent(program, DefaultWorkerPath(), ec) && !ec;
}

std::string ControlRequestFor(const supervisor::Command& command) {
  switch (command.kind) {
    case supervisor::CommandKind::kStatus:
      return "status";
    case supervisor::CommandKind::kRestart:
      return "restart";
    case supervisor::CommandKind::kStop:
      return "stop";
    case supervisor::CommandKind::kCleanup:
      return command.emergency ? "cleanup emergency" : "cleanup standard";
    default:
      return "";
  }
}

// `supervisor status` without --json: a few readable lines.
void PrintStatusText(const rapidjson::Document& s) {
  const auto& worker = s["worker"];
  const auto& memory = s["memory"];
  std::printf("state:    %s\n", s["state"].GetString());
  if (worker["pid"].IsInt()) {
    std::printf("worker:   pid %d, up %.0fs%s\n", worker["pid"].GetInt(),
                worker["uptime"].GetDouble(),
                worker["ready"].GetBool() ? ", ready" : "");
  } else {
    std::printf("worker:   not running\n");
  }
  std::printf("memory:   %s %s of %s (%.1f%%), level %s\n",
              memory["source"].GetString(),
              common::FormatMegabytes(memory["bytes"].GetUint64()).c_str(),
              common::FormatMegabytes(memory["limit"].GetUint64()).c_str(),
              memory["percent"].GetDouble(), memory["level"].GetString());
  std::printf("restarts: %d%s%s\n", s["restarts"].GetInt(),
              s["lastRestartReason"].IsString() ? ", last reason " : "",
              s["lastRestartReason"].IsString()
                  ? s["lastRestartReason"].GetString()
                  : "");
}

int RunControl(const common::Config& config,
               const supervisor::Command& command) {
  auto response = supervisor::SendControlRequest(
      config.data_dir + "/supervisor.sock", ControlRequestFor(command), 5000);
  if (!response.ok()) {
    std::fprintf(stderr, "supervisor: %s\n",
                 response.status().message().c_str());
    return 1;
  }
  rapidjson::Document doc;
  doc.Parse(response->c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("ok")) {
    std::fprintf(stderr, "supervisor: unexpected answer: %s\n",
                 response->c_str());
    return 1;
  }
  if (!doc["ok"].GetBool()) {
    std::fprintf(
        stderr, "supervisor: %s\n",
        doc.HasMember("error") ? doc["error"].GetString() : "request refused");
    return 1;
  }
  if (command.kind == supervisor::CommandKind::kStatus && !command.json) {
    PrintStatusText(doc);
  } else {
    std::printf("%s\n", response->c_str());
  }
  return 0;
}

int Main(int argc, char** argv) {
  auto command = supervisor::ParseCommandLine(
      std::vector<std::string>(argv + 1, argv + argc));
  if (!command.ok()) {
    std::fprintf(stderr, "supervisor: %s\n",
                 command.status().message().c_str());
    return 2;
  }
  if (command->kind == supervisor::CommandKind::kVersion) {
    std::printf("supervisor (dynoguard) %s\n", DYNOGUARD_VERSION);
    return 0;
  }
  if (command->kind == supervisor::CommandKind::kHelp) {
    std::fputs(supervisor::UsageText().data(), stdout);
    return 0;
  }

  auto config = common::ParseConfig(common::EnvironmentMap());
  if (!config.ok()) {
    std::fprintf(stderr, "supervisor: config: %s\n",
                 config.status().message().c_str());
    return 2;
  }
  if (command->kind != supervisor::CommandKind::kStart)
    return RunControl(*config, *command);

  common::Logger log("supervisor", config->log_format);
  log.SetSecrets(config->Secrets());
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> child = command->child_argv;
  const bool default_worker = child.empty() || IsDefaultWorker(child[0]);
  if (child.empty()) {
    child = {DefaultWorkerPath()};
    if (::access(child[0].c_str(), X_OK) != 0) {
      std::fprintf(
          stderr,
          "supervisor: no worker beside the supervisor at %s; build it or pass "
          "'start -- COMMAND'\n",
          child[0].c_str());
      return 2;
    }
  }
  supervisor::Supervisor guard(*config, log, std::move(child), default_worker);
  return guard.Run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "supervisor: fatal: %s\n", e.what());
    return 1;
  }
}
