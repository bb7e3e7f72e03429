#include "tests/support/supervised_command.h"

#include <catch2/catch.hpp>

#include "tests/support/net.h"

namespace dynoguard::testing {

namespace {
constexpr std::chrono::seconds kWait(20);
}  // namespace

SupervisedCommand::SupervisedCommand(std::string supervisor_bin,
                                     std::vector<std::string> command,
                                     const Env& overrides)
    : supervisor_bin_(std::move(supervisor_bin)), port_(FreePort()) {
  Env env = {{"HOST", "127.0.0.1"},
             {"PORT", std::to_string(port_)},
             {"DATA_DIR", dir_.path()},
             {"MEMORY_LIMIT_MB", "200"},
             {"MEMORY_SOURCE", "rss"},
             {"MEMORY_POLL_MS", "100"},
             {"WORKER_STOP_TIMEOUT_S", "2"},
             {"WORKER_WATCHDOG_S", "0"},
             {"RESTART_BACKOFF_MIN_MS", "50"},
             {"RESTART_BACKOFF_MAX_MS", "400"},
             {"LOG_FORMAT", "text"}};
  for (const auto& [key, value] : overrides) env[key] = value;
  SpawnOptions options;
  options.args = {"start", "--"};
  options.args.insert(options.args.end(), command.begin(), command.end());
  options.env = std::move(env);
  options.log_path = dir_.File("supervisor.log");
  auto spawned = Process::Spawn(supervisor_bin_, options);
  INFO(spawned.status().ToString());
  REQUIRE(spawned.ok());
  supervisor_.emplace(std::move(spawned).value());
}

std::vector<std::string> SupervisedCommand::WaitLog(const std::string& regex,
                                                    size_t from, size_t* end) {
  auto match = supervisor_->WaitForLogMatch(regex, kWait, from, end);
  INFO("waited for /" << regex << "/ in the supervisor log:\n" << Log());
  REQUIRE(match.has_value());
  return *match;
}

size_t SupervisedCommand::Count(const std::string& regex, size_t from) const {
  return supervisor_->LogMatches(regex, from).size();
}

Completed SupervisedCommand::Control(std::vector<std::string> args) {
  auto done = Run(supervisor_bin_, std::move(args), {{"DATA_DIR", dir_.path()}},
                  dir_.path(), kWait);
  INFO(done.status().ToString());
  REQUIRE(done.ok());
  return *done;
}

rapidjson::Document SupervisedCommand::Status() {
  Completed done = Control({"status", "--json"});
  INFO("status --json: exit " << done.exit_code << " " << done.stdout_text
                              << done.stderr_text);
  REQUIRE(done.exit_code == 0);
  rapidjson::Document doc;
  doc.Parse(done.stdout_text.c_str());
  REQUIRE(!doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

}  // namespace dynoguard::testing
