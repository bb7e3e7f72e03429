// Memory probe: how much memory a process tree uses and how much the machine
// allows, read through ProcFs. SPEC §3 MEMORY_SOURCE (what is measured) and
// MEMORY_LIMIT_MB (the budget).
#ifndef DYNOGUARD_COMMON_MEMORY_PROBE_H_
#define DYNOGUARD_COMMON_MEMORY_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/proc_fs.h"
#include "common/proc_parsers.h"
#include "common/status.h"

namespace dynoguard::common {

// What MeasureTree sums.
enum class MemorySource {
  // VmRSS + VmSwap of every process of the tree (Heroku counts swap).
  kRss,
  // Pss + SwapPss (smaps_rollup) of every process: shared pages split fairly.
  kPss,
  // memory.current (v2) / memory.usage_in_bytes (v1) of the root's cgroup.
  kCgroup,
};

// "rss", "pss", "cgroup".
std::string_view ToString(MemorySource source);

// The pid `root_pid` and all its descendants, root first, then breadth-first.
// Children come from /proc/<pid>/task/<tid>/children of every thread of each
// process when the kernel has those files (CONFIG_PROC_CHILDREN), else from one
// scan of the parent pid in /proc/*/stat. Processes that vanish during the walk
// are left out. Returns NotFound when `root_pid` does not exist; IOError when
// /proc cannot be read. Thread-safe.
Result<std::vector<int>> ProcessTree(const ProcFs& fs, int root_pid);

struct MemoryReading {
  uint64_t bytes = 0;  // the figure of the chosen MemorySource
  // Processes in the tree (for kRss/kPss: the ones actually measured).
  int processes = 0;
};

// Measures the tree of `root_pid` (see ProcessTree) by `source`. A process that
// exits between the walk and its reading is skipped. kPss reads smaps_rollup,
// or smaps on kernels before 4.14. kCgroup reads the root pid's cgroup: the v1
// memory controller's memory.usage_in_bytes when there is one (hybrid hosts
// account memory there), else v2's memory.current; the leaf cgroup's file, else
// the mount root's (a container whose cgroup path is namespaced away, see
// DetectMemoryLimit).
// Returns NotFound when `root_pid` is gone; InvalidArgument when a file is
// malformed; for kCgroup NotFound when no memory.current / usage_in_bytes file
// is found (e.g. the root cgroup of a v2 host, which has none). Thread-safe.
Result<MemoryReading> MeasureTree(const ProcFs& fs, int root_pid,
                                  MemorySource source);

// The worker's processes as a subreaper supervisor sees them: the tree of
// `worker_pid` first, then every other descendant of `supervisor_pid` (a
// process that left the worker's tree by a double fork re-parents to the
// subreaper and still counts while it lives). `supervisor_pid` itself is not
// in it. Returns NotFound when `worker_pid` is not among the descendants (it
// exited); errors as ProcessTree otherwise. Thread-safe.
Result<std::vector<int>> WorkerProcesses(const ProcFs& fs, int supervisor_pid,
                                         int worker_pid);

// MeasureTree over WorkerProcesses(fs, supervisor_pid, worker_pid); kCgroup
// reads `worker_pid`'s cgroup. Errors as MeasureTree. Thread-safe.
Result<MemoryReading> MeasureWorker(const ProcFs& fs, int supervisor_pid,
                                    int worker_pid, MemorySource source);

// A detected memory budget.
struct MemoryLimit {
  uint64_t bytes = 0;
  // Where it came from, for logs: "cgroup v2 /sys/fs/cgroup/app/memory.max",
  // "cgroup v1 /sys/fs/cgroup/memory/memory.limit_in_bytes" or "MemTotal".
  std::string source;
};

// The memory budget of process `pid_or_self` ("self" or a decimal pid):
//  - reads /proc/<p>/cgroup; for the v2 entry ("0::/path") reads memory.max in
//    /sys/fs/cgroup/<path> and every ancestor up to and including
//    /sys/fs/cgroup; for the v1 memory controller, memory.limit_in_bytes in
//    /sys/fs/cgroup/memory/<path> and its ancestors up to
//    /sys/fs/cgroup/memory. Files that do not exist are skipped. Walking up to
//    the mount root also covers containers, where the path in /proc/self/cgroup
//    is the host's and does not exist below /sys/fs/cgroup while the mount root
//    is the container's own cgroup.
//  - "max" / unlimited values count as no limit; the smallest limit found wins.
//  - MemTotal from /proc/meminfo caps the result (a cgroup limit above the
//    machine's RAM is not a budget) and is the answer when no cgroup limit
//    exists anywhere.
// Returns InvalidArgument for a bad `pid_or_self` or a malformed file, NotFound
// when neither a cgroup limit nor /proc/meminfo can be read, IOError on other
// read failures. Thread-safe.
Result<MemoryLimit> DetectMemoryLimit(const ProcFs& fs,
                                      std::string_view pid_or_self = "self");

// The budget a program works with: `configured_bytes` (MEMORY_LIMIT_MB) when
// it is > 0 (source "MEMORY_LIMIT_MB"), else DetectMemoryLimit(fs, "self").
// Errors as DetectMemoryLimit. Thread-safe.
Result<MemoryLimit> ResolveMemoryLimit(uint64_t configured_bytes,
                                       const ProcFs& fs);

// /proc/meminfo parsed. Errors as ProcFs::ReadFile and ParseMeminfo.
Result<MemInfo> ReadMeminfo(const ProcFs& fs);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_MEMORY_PROBE_H_
