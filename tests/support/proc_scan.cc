#include "tests/support/proc_scan.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/proc_parsers.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {
namespace {

std::optional<std::string> ReadStat(pid_t pid) {
  return ReadFileText("/proc/" + std::to_string(pid) + "/stat");
}

// All numeric entries of /proc.
std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid > 0 && end != nullptr && *end == '\0') {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(dir);
  return pids;
}

}  // namespace

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  for (pid_t candidate : AllPids()) {
    auto stat = ReadStat(candidate);
    if (!stat.has_value() || stat->empty()) continue;
    auto parent = common::ParseStatParentPid(*stat);
    if (parent.ok() && *parent == pid) children.push_back(candidate);
  }
  std::sort(children.begin(), children.end());
  return children;
}

std::vector<pid_t> DescendantsOf(pid_t pid) {
  std::vector<pid_t> result;
  std::vector<pid_t> frontier = {pid};
  while (!frontier.empty()) {
    pid_t next = frontier.back();
    frontier.pop_back();
    for (pid_t child : ChildrenOf(next)) {
      if (std::find(result.begin(), result.end(), child) != result.end()) {
        continue;
      }
      result.push_back(child);
      frontier.push_back(child);
    }
  }
  return result;
}

std::optional<char> ProcessState(pid_t pid) {
  auto stat = ReadStat(pid);
  if (!stat.has_value()) return std::nullopt;
  // "pid (comm) S ..."; comm may contain ')' so look after the last one.
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) {
    return std::nullopt;
  }
  return (*stat)[close + 2];
}

bool IsZombie(pid_t pid) {
  auto state = ProcessState(pid);
  return state.has_value() && (*state == 'Z' || *state == 'X');
}

bool ProcessExists(pid_t pid) {
  return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

bool ProcessAlive(pid_t pid) { return ProcessExists(pid) && !IsZombie(pid); }

std::optional<uint64_t> ProcessMemoryBytes(pid_t pid) {
  auto status = ReadFileText("/proc/" + std::to_string(pid) + "/status");
  if (!status.has_value() || status->empty()) return std::nullopt;
  auto memory = common::ParseProcStatusMemory(*status);
  if (!memory.ok()) return std::nullopt;
  return memory->rss_bytes + memory->swap_bytes;
}

}  // namespace dynoguard::testing
