// Parsers for the /proc and cgroup files dynoguard measures memory with. Pure
// functions of a file's CONTENTS (never a path): the I/O lives in ProcFs, so
// every parser is tested on strings.
#ifndef DYNOGUARD_COMMON_PROC_PARSERS_H_
#define DYNOGUARD_COMMON_PROC_PARSERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynoguard::common {

// Resident and swapped-out memory of one process, from /proc/<pid>/status.
struct StatusMemory {
  uint64_t rss_bytes = 0;   // VmRSS
  uint64_t swap_bytes = 0;  // VmSwap
};

// Reads the VmRSS and VmSwap lines ("VmRSS:\t  1234 kB") of /proc/<pid>/status,
// in bytes. A missing line counts 0 (kernel threads and zombies have neither):
// that is not an error. Returns InvalidArgument when a present line is
// malformed (no number, no "kB" unit — e.g. a truncated read — or a value that
// overflows) or when `status` is empty.
Result<StatusMemory> ParseProcStatusMemory(std::string_view status);

// Sum of the "Pss:" and "SwapPss:" lines of /proc/<pid>/smaps_rollup, in bytes.
// Every such line is summed, so the full /proc/<pid>/smaps (one block per
// mapping) gives the same total. Other keys (Pss_Anon, Pss_File, ...) are
// ignored. Returns InvalidArgument when there is no "Pss:" line at all or when
// a Pss/SwapPss line is malformed.
Result<uint64_t> ParseSmapsRollupPss(std::string_view smaps_rollup);

// The parent pid (field 4) of /proc/<pid>/stat. The command name (field 2) is
// in parentheses and may itself contain spaces and ')', so fields are read
// after the LAST ')'. Returns InvalidArgument when there is no ')' or the
// fields after it are missing or not numbers.
Result<int> ParseStatParentPid(std::string_view stat);

// Whitespace-separated pids, as in /proc/<pid>/task/<tid>/children ("12 34 ").
// Empty (or blank) text gives an empty vector. Returns InvalidArgument for
// anything that is not a positive number.
Result<std::vector<int>> ParsePidList(std::string_view text);

// One line of /proc/<pid>/cgroup: "hierarchy-ID:controller-list:cgroup-path".
struct CgroupEntry {
  int hierarchy_id = 0;
  // Empty for the v2 unified hierarchy ("0::/path"); e.g. {"cpu", "cpuacct"} or
  // {"name=systemd"} for v1.
  std::vector<std::string> controllers;
  std::string path;  // "/" or "/a/b"; may contain ':'
};

// Parses every non-blank line of /proc/<pid>/cgroup (v1, v2 or hybrid). Returns
// InvalidArgument for a line with fewer than two ':' or a hierarchy id that is
// not a number.
Result<std::vector<CgroupEntry>> ParseProcCgroup(std::string_view text);

// A cgroup memory limit: v2 memory.max ("max" → nullopt) or v1
// memory.limit_in_bytes, where "unlimited" is a huge page-aligned number
// (9223372036854771712); any value >= 2^62 is read as unlimited (nullopt).
// Otherwise the limit in bytes. Surrounding whitespace is ignored. Returns
// InvalidArgument for anything else (empty, garbage, negative).
Result<std::optional<uint64_t>> ParseCgroupMemoryLimit(std::string_view text);

// A byte count file: v2 memory.current or v1 memory.usage_in_bytes (surrounding
// whitespace ignored). Returns InvalidArgument when it is not a single unsigned
// number.
Result<uint64_t> ParseCgroupBytes(std::string_view text);

// System memory from /proc/meminfo, in bytes.
struct MemInfo {
  uint64_t total_bytes = 0;  // MemTotal
  uint64_t free_bytes = 0;   // MemFree (0 when absent)
  // MemAvailable (0 when absent: kernels before 3.14).
  uint64_t available_bytes = 0;
};

// Parses /proc/meminfo. Returns InvalidArgument when MemTotal is missing or
// zero, or when one of the three lines above is malformed.
Result<MemInfo> ParseMeminfo(std::string_view text);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_PROC_PARSERS_H_
