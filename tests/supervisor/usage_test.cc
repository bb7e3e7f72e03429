#include "supervisor/usage.h"

#include <catch2/catch.hpp>

namespace dynoguard::supervisor {
namespace {

TEST_CASE("usage: start takes the command after --", "[usage]") {
  auto command = ParseCommandLine({"start", "--", "node", "bot.js"});
  REQUIRE(command.ok());
  CHECK(command->kind == CommandKind::kStart);
  CHECK(command->child_argv == std::vector<std::string>{"node", "bot.js"});
  auto plain = ParseCommandLine({"start"});
  REQUIRE(plain.ok());
  CHECK(plain->child_argv.empty());
}

TEST_CASE("usage: control commands and their flags", "[usage]") {
  CHECK(ParseCommandLine({"status", "--json"})->json);
  CHECK_FALSE(ParseCommandLine({"status"})->json);
  CHECK(ParseCommandLine({"cleanup", "--emergency"})->emergency);
  CHECK(ParseCommandLine({"restart"})->kind == CommandKind::kRestart);
  CHECK(ParseCommandLine({"stop"})->kind == CommandKind::kStop);
  CHECK(ParseCommandLine({"--version"})->kind == CommandKind::kVersion);
  CHECK(ParseCommandLine({"--help"})->kind == CommandKind::kHelp);
}

TEST_CASE("usage: bad command lines are refused with one line", "[usage]") {
  auto unknown = ParseCommandLine({"launch"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message() == "unknown command 'launch' (try --help)");
  auto none = ParseCommandLine({});
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message() ==
        "missing command: start, status, restart, stop or cleanup (try "
        "--help)");
  CHECK_FALSE(ParseCommandLine({"start", "node"}).ok());
  CHECK_FALSE(ParseCommandLine({"start", "--"}).ok());
  CHECK_FALSE(ParseCommandLine({"status", "--yaml"}).ok());
  CHECK_FALSE(ParseCommandLine({"stop", "now"}).ok());
}

}  // namespace
}  // namespace dynoguard::supervisor
