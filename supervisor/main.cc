// supervisor: keeps a worker inside its memory budget. main() is the table of contents.
#include <cstdio>

#include "supervisor/usage.h"

int main(int argc, char** argv) {
  using namespace dynoguard::supervisor;
  auto command = ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!command.ok()) {
    std::fprintf(stderr, "supervisor: %s\n", command.status().message().c_str());
    return 2;
  }
  if (command->kind == CommandKind::kVersion) {
    std::printf("supervisor (dynoguard) %s\n", DYNOGUARD_VERSION);
    return 0;
  }
  std::fputs(UsageText().data(), stdout);
  return 0;
}
