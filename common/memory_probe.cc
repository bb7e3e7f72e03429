#include "common/memory_probe.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace dynoguard::common {
namespace {

constexpr std::string_view kCgroupMount = "/sys/fs/cgroup";
constexpr std::string_view kCgroupV1MemoryMount = "/sys/fs/cgroup/memory";

std::string ProcDir(int pid) { return "/proc/" + std::to_string(pid); }

// The same failure with the file it came from in front, so a parse error names
// its file.
Status InFile(const std::string& path, const Status& status) {
  const std::string message = path + ": " + status.message();
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(message);
    case Status::Code::kNotFound:
      return Status::NotFound(message);
    case Status::Code::kUnavailable:
      return Status::Unavailable(message);
    case Status::Code::kInternal:
      return Status::Internal(message);
    case Status::Code::kPermissionDenied:
      return Status::PermissionDenied(message);
    case Status::Code::kFailedPrecondition:
      return Status::FailedPrecondition(message);
    case Status::Code::kIOError:
    case Status::Code::kOk:
      break;
  }
  return Status::IOError(path, status.message());
}

bool IsNotFound(const Status& status) {
  return status.code() == Status::Code::kNotFound;
}

// Breadth-first walk over /proc/<pid>/task/<tid>/children. Threads matter: a
// child belongs to the thread that forked it, so the process's children are the
// union over its threads.
Result<std::vector<int>> TreeFromChildrenFiles(const ProcFs& fs, int root_pid) {
  std::vector<int> queue{root_pid};
  std::unordered_set<int> seen{root_pid};
  std::vector<int> tree;  // the processes of `queue` still alive when visited
  for (size_t i = 0; i < queue.size(); ++i) {
    const int pid = queue[i];
    Result<std::vector<int>> tasks = fs.ListTasks(pid);
    if (!tasks.ok()) {
      if (!IsNotFound(tasks.status())) return tasks.status();
      if (i == 0)
        return Status::NotFound("process " + std::to_string(pid) +
                                " not found");
      continue;  // exited during the walk
    }
    tree.push_back(pid);
    for (int tid : *tasks) {
      const std::string path =
          ProcDir(pid) + "/task/" + std::to_string(tid) + "/children";
      Result<std::string> text = fs.ReadFile(path);
      if (!text.ok()) {
        if (IsNotFound(text.status())) continue;  // the thread exited
        return text.status();
      }
      Result<std::vector<int>> children = ParsePidList(*text);
      if (!children.ok()) return InFile(path, children.status());
      for (int child : *children) {
        if (seen.insert(child).second) queue.push_back(child);
      }
    }
  }
  return tree;
}

// One pass over /proc/*/stat building parent → children, then a breadth-first
// walk from the root. Used when the kernel lacks CONFIG_PROC_CHILDREN.
Result<std::vector<int>> TreeFromParentScan(const ProcFs& fs, int root_pid) {
  Result<std::vector<int>> pids = fs.ListPids();
  if (!pids.ok()) return pids.status();
  std::unordered_map<int, std::vector<int>> children_of;
  for (int pid : *pids) {
    if (pid == root_pid) continue;
    const std::string path = ProcDir(pid) + "/stat";
    Result<std::string> stat = fs.ReadFile(path);
    if (!stat.ok()) {
      if (IsNotFound(stat.status())) continue;  // exited since the listing
      return stat.status();
    }
    Result<int> ppid = ParseStatParentPid(*stat);
    if (!ppid.ok()) return InFile(path, ppid.status());
    children_of[*ppid].push_back(pid);
  }
  std::vector<int> tree{root_pid};
  std::unordered_set<int> seen{root_pid};
  for (size_t i = 0; i < tree.size(); ++i) {
    auto it = children_of.find(tree[i]);
    if (it == children_of.end()) continue;
    for (int child : it->second) {
      if (seen.insert(child).second) tree.push_back(child);
    }
  }
  return tree;
}

// Pss + SwapPss of one process; nullopt when it has exited. Kernels before 4.14
// have no smaps_rollup: the full smaps gives the same sum (the parser adds
// every Pss line).
Result<std::optional<uint64_t>> ReadProcessPss(const ProcFs& fs, int pid) {
  for (const char* file : {"/smaps_rollup", "/smaps"}) {
    const std::string path = ProcDir(pid) + file;
    Result<std::string> text = fs.ReadFile(path);
    if (!text.ok()) {
      if (!IsNotFound(text.status())) return text.status();
      if (!fs.Exists(ProcDir(pid))) return std::optional<uint64_t>();  // exited
      continue;  // no smaps_rollup on this kernel
    }
    // A zombie has no address space left: its file reads empty (or fails with
    // ESRCH).
    if (text->find_first_not_of(" \t\n") == std::string::npos)
      return std::optional<uint64_t>(0);
    Result<uint64_t> pss = ParseSmapsRollupPss(*text);
    if (!pss.ok()) return InFile(path, pss.status());
    return std::optional<uint64_t>(*pss);
  }
  return std::optional<uint64_t>();
}

// Directories of a cgroup from its leaf up to `mount` inclusive. A path with
// ".." (a process outside our cgroup namespace) cannot be placed below the
// mount: only the mount is returned.
std::vector<std::string> CgroupDirsLeafToRoot(std::string_view mount,
                                              std::string_view path) {
  std::vector<std::string_view> components;
  bool escapes = false;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (part == "..") escapes = true;
    if (!part.empty() && part != ".") components.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (escapes) components.clear();
  std::vector<std::string> dirs;
  for (size_t n = components.size() + 1; n-- > 0;) {
    std::string dir(mount);
    for (size_t i = 0; i < n; ++i) {
      dir += '/';
      dir += components[i];
    }
    dirs.push_back(std::move(dir));
  }
  return dirs;
}

struct CgroupPaths {
  std::optional<std::string> v2;  // path in the unified hierarchy
  std::optional<std::string>
      v1_memory;  // path in the v1 memory controller's hierarchy
};

// Where process `proc` ("/proc/self" or "/proc/<pid>") sits; both empty when
// the kernel has no /proc/<pid>/cgroup.
Result<CgroupPaths> ReadCgroupPaths(const ProcFs& fs, const std::string& proc) {
  const std::string path = proc + "/cgroup";
  CgroupPaths paths;
  Result<std::string> text = fs.ReadFile(path);
  if (!text.ok()) {
    if (IsNotFound(text.status()) && fs.Exists(proc)) return paths;
    return text.status();
  }
  Result<std::vector<CgroupEntry>> entries = ParseProcCgroup(*text);
  if (!entries.ok()) return InFile(path, entries.status());
  for (const CgroupEntry& entry : *entries) {
    if (entry.hierarchy_id == 0 && entry.controllers.empty())
      paths.v2 = entry.path;
    const auto& c = entry.controllers;
    if (std::find(c.begin(), c.end(), "memory") != c.end())
      paths.v1_memory = entry.path;
  }
  return paths;
}

// Lowers `*best` to the smallest limit in `file` over the cgroup's directories.
Status CollectLimits(const ProcFs& fs, std::string_view mount,
                     const std::string& cgroup_path, std::string_view file,
                     std::string_view label, std::optional<MemoryLimit>* best) {
  for (const std::string& dir : CgroupDirsLeafToRoot(mount, cgroup_path)) {
    const std::string path = dir + "/" + std::string(file);
    Result<std::string> text = fs.ReadFile(path);
    if (!text.ok()) {
      if (IsNotFound(text.status())) continue;
      return text.status();
    }
    Result<std::optional<uint64_t>> limit = ParseCgroupMemoryLimit(*text);
    if (!limit.ok()) return InFile(path, limit.status());
    if (!limit->has_value()) continue;
    if (!best->has_value() || **limit < (*best)->bytes) {
      *best = MemoryLimit{**limit, std::string(label) + " " + path};
    }
  }
  return Status::Ok();
}

// memory.usage_in_bytes (v1 memory controller, preferred: in hybrid set-ups
// that is where memory is accounted) or memory.current (v2) of the cgroup, else
// of the mount root (the container's own cgroup when its path is namespaced
// away).
Result<uint64_t> ReadCgroupUsage(const ProcFs& fs, int pid) {
  Result<CgroupPaths> paths = ReadCgroupPaths(fs, ProcDir(pid));
  if (!paths.ok()) return paths.status();
  struct Candidate {
    std::string_view mount;
    const std::optional<std::string>& path;
    std::string_view file;
  };
  const Candidate candidates[] = {
      {kCgroupV1MemoryMount, paths->v1_memory, "memory.usage_in_bytes"},
      {kCgroupMount, paths->v2, "memory.current"}};
  for (const Candidate& candidate : candidates) {
    if (!candidate.path) continue;
    const std::vector<std::string> dirs =
        CgroupDirsLeafToRoot(candidate.mount, *candidate.path);
    for (const std::string& dir : {dirs.front(), dirs.back()}) {
      const std::string path = dir + "/" + std::string(candidate.file);
      Result<std::string> text = fs.ReadFile(path);
      if (!text.ok()) {
        if (IsNotFound(text.status())) continue;
        return text.status();
      }
      Result<uint64_t> bytes = ParseCgroupBytes(*text);
      if (!bytes.ok()) return InFile(path, bytes.status());
      return *bytes;
    }
  }
  return Status::NotFound(
      "no memory.current or memory.usage_in_bytes for the cgroup of process " +
      std::to_string(pid));
}

}  // namespace

std::string_view ToString(MemorySource source) {
  switch (source) {
    case MemorySource::kRss:
      return "rss";
    case MemorySource::kPss:
      return "pss";
    case MemorySource::kCgroup:
      return "cgroup";
  }
  return "unknown";
}

Result<std::vector<int>> ProcessTree(const ProcFs& fs, int root_pid) {
  if (root_pid <= 0)
    return Status::InvalidArgument("not a pid: " + std::to_string(root_pid));
  if (!fs.Exists(ProcDir(root_pid))) {
    return Status::NotFound("process " + std::to_string(root_pid) +
                            " not found");
  }
  // The children files are an optional kernel feature: probe for one on the
  // root's threads.
  Result<std::vector<int>> tasks = fs.ListTasks(root_pid);
  const bool has_children_files =
      tasks.ok() && !tasks->empty() &&
      fs.Exists(ProcDir(root_pid) + "/task/" + std::to_string(tasks->front()) +
                "/children");
  return has_children_files ? TreeFromChildrenFiles(fs, root_pid)
                            : TreeFromParentScan(fs, root_pid);
}

namespace {

// MeasureTree's sum over `tree`, whose first pid is `root_pid`.
Result<MemoryReading> MeasurePids(const ProcFs& fs,
                                  const std::vector<int>& pids, int root_pid,
                                  MemorySource source) {
  MemoryReading reading;
  const Status root_gone =
      Status::NotFound("process " + std::to_string(root_pid) + " exited");
  switch (source) {
    case MemorySource::kRss:
      for (int pid : pids) {
        const std::string path = ProcDir(pid) + "/status";
        Result<std::string> text = fs.ReadFile(path);
        if (!text.ok()) {
          if (!IsNotFound(text.status())) return text.status();
          if (pid == root_pid) return root_gone;
          continue;
        }
        Result<StatusMemory> memory = ParseProcStatusMemory(*text);
        if (!memory.ok()) return InFile(path, memory.status());
        reading.bytes += memory->rss_bytes + memory->swap_bytes;
        ++reading.processes;
      }
      return reading;
    case MemorySource::kPss:
      for (int pid : pids) {
        Result<std::optional<uint64_t>> pss = ReadProcessPss(fs, pid);
        if (!pss.ok()) return pss.status();
        if (!pss->has_value()) {
          if (pid == root_pid) return root_gone;
          continue;
        }
        reading.bytes += **pss;
        ++reading.processes;
      }
      return reading;
    case MemorySource::kCgroup: {
      Result<uint64_t> usage = ReadCgroupUsage(fs, root_pid);
      if (!usage.ok()) return usage.status();
      reading.bytes = *usage;
      reading.processes = static_cast<int>(pids.size());
      return reading;
    }
  }
  return Status::Internal("unknown memory source");
}

}  // namespace

Result<MemoryReading> MeasureTree(const ProcFs& fs, int root_pid,
                                  MemorySource source) {
  Result<std::vector<int>> tree = ProcessTree(fs, root_pid);
  if (!tree.ok()) return tree.status();
  return MeasurePids(fs, *tree, root_pid, source);
}

Result<std::vector<int>> WorkerProcesses(const ProcFs& fs, int supervisor_pid,
                                         int worker_pid) {
  Result<std::vector<int>> all = ProcessTree(fs, supervisor_pid);
  if (!all.ok()) return all.status();
  std::vector<int> pids{worker_pid};
  bool found = false;
  for (int pid : *all) {
    if (pid == worker_pid) {
      found = true;
    } else if (pid != supervisor_pid) {
      pids.push_back(pid);
    }
  }
  if (!found) {
    return Status::NotFound("process " + std::to_string(worker_pid) +
                            " not found");
  }
  return pids;
}

Result<MemoryReading> MeasureWorker(const ProcFs& fs, int supervisor_pid,
                                    int worker_pid, MemorySource source) {
  Result<std::vector<int>> pids =
      WorkerProcesses(fs, supervisor_pid, worker_pid);
  if (!pids.ok()) return pids.status();
  return MeasurePids(fs, *pids, worker_pid, source);
}

Result<MemoryLimit> ResolveMemoryLimit(uint64_t configured_bytes,
                                       const ProcFs& fs) {
  if (configured_bytes > 0)
    return MemoryLimit{configured_bytes, "MEMORY_LIMIT_MB"};
  return DetectMemoryLimit(fs, "self");
}

Result<MemoryLimit> DetectMemoryLimit(const ProcFs& fs,
                                      std::string_view pid_or_self) {
  const bool is_pid =
      !pid_or_self.empty() && pid_or_self.size() <= 9 &&
      pid_or_self.find_first_not_of("0123456789") == std::string_view::npos;
  if (pid_or_self != "self" && !is_pid) {
    return Status::InvalidArgument("expected 'self' or a pid, got '" +
                                   std::string(pid_or_self) + "'");
  }
  const std::string proc = "/proc/" + std::string(pid_or_self);
  Result<CgroupPaths> paths = ReadCgroupPaths(fs, proc);
  if (!paths.ok()) return paths.status();

  std::optional<MemoryLimit> best;
  if (paths->v2) {
    Status status = CollectLimits(fs, kCgroupMount, *paths->v2, "memory.max",
                                  "cgroup v2", &best);
    if (!status.ok()) return status;
  }
  if (paths->v1_memory) {
    Status status = CollectLimits(fs, kCgroupV1MemoryMount, *paths->v1_memory,
                                  "memory.limit_in_bytes", "cgroup v1", &best);
    if (!status.ok()) return status;
  }

  // MemTotal is the fallback and also a cap; with a cgroup limit in hand it is
  // optional.
  Result<MemInfo> meminfo = ReadMeminfo(fs);
  if (!meminfo.ok()) {
    if (best) return *best;
    return meminfo.status();
  }
  if (!best || meminfo->total_bytes < best->bytes) {
    best = MemoryLimit{meminfo->total_bytes, "MemTotal"};
  }
  return *best;
}

Result<MemInfo> ReadMeminfo(const ProcFs& fs) {
  const std::string path = "/proc/meminfo";
  Result<std::string> text = fs.ReadFile(path);
  if (!text.ok()) return text.status();
  Result<MemInfo> info = ParseMeminfo(*text);
  if (!info.ok()) return InFile(path, info.status());
  return info;
}

}  // namespace dynoguard::common
