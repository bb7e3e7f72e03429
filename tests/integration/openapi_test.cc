// docs/openapi.yaml against a real worker (issue 9): the spec is bundled to
// JSON by the pinned Redocly CLI of tools/openapi (package-lock.json), then
// tools/openapi/conformance.js sends its cases to a sandbox worker and checks
// that each answer's status is documented for its operation and its body has
// the documented shape, and that every operation answered 2xx once.
// Skipped (with a warning) where `node` is missing or `npm ci` has not run in
// tools/openapi (tools/openapi/lint.sh does it; .ci/run calls that first).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
namespace t = dynoguard::testing;

constexpr char kTools[] = DYNOGUARD_NODE_TESTS_DIR "/../../tools/openapi";
constexpr char kSpec[] = DYNOGUARD_NODE_TESTS_DIR "/../../docs/openapi.yaml";

std::string NodeBinary() {
  for (const char* candidate :
       {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

TEST_CASE("docs/openapi.yaml matches what the worker answers", "[openapi]") {
  const std::string node = NodeBinary();
  const std::string redocly =
      std::string(kTools) + "/node_modules/@redocly/cli/bin/cli.js";
  if (node.empty() || ::access(redocly.c_str(), R_OK) != 0) {
    WARN(
        "node or tools/openapi/node_modules missing (run tools/openapi/lint.sh"
        "): OpenAPI conformance test skipped");
    return;
  }
  t::TempDir dir;
  const std::string bundled = dir.File("openapi.json");
  const std::map<std::string, std::string> quiet = {
      {"REDOCLY_TELEMETRY", "off"},
      {"REDOCLY_SUPPRESS_UPDATE_NOTICE", "true"},
      {"REDOCLY_SUPPRESS_NOTIFICATIONS", "true"}};
  auto bundle = t::Run(
      node,
      {redocly, "bundle", "--config", std::string(kTools) + "/redocly.yaml",
       kSpec, "--ext", "json", "-o", bundled},
      quiet, dir.path(), 60s);
  REQUIRE(bundle.ok());
  INFO("redocly bundle: " << bundle->stdout_text << bundle->stderr_text);
  REQUIRE(bundle->exit_code == 0);

  t::SpawnOptions options;
  options.env = {{"HOST", "127.0.0.1"},
                 {"PORT", "0"},
                 {"DATA_DIR", dir.File("data")},
                 {"API_KEY", "conformance-key"},
                 {"WHATSAPP_APP_SECRET", "conformance-app-secret"},
                 {"WHATSAPP_VERIFY_TOKEN", "conformance-verify-token"},
                 {"SEND_DELAY_MS", "50"},
                 {"LOG_FORMAT", "text"}};
  options.log_path = dir.File("worker.log");
  auto spawned = t::Process::Spawn(DYNOGUARD_WORKER_BIN, options);
  REQUIRE(spawned.ok());
  t::Process worker = std::move(spawned).value();
  const int port = t::ListenPort(worker);

  auto checked =
      t::Run(node,
             {std::string(kTools) + "/conformance.js", "--spec", bundled,
              "--base", "http://127.0.0.1:" + std::to_string(port), "--api-key",
              "conformance-key", "--app-secret", "conformance-app-secret",
              "--verify-token", "conformance-verify-token"},
             {}, dir.path(), 120s);
  REQUIRE(checked.ok());
  INFO("conformance.js:\n"
       << checked->stdout_text << checked->stderr_text << "\nworker log:\n"
       << worker.LogText());
  CHECK(checked->exit_code == 0);
  CHECK(checked->stdout_text.find("conformance: ok") != std::string::npos);
  CHECK(worker.running());
}

}  // namespace
