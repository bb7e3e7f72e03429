#include "common/proc_parsers.h"

#include <charconv>
#include <limits>

#include "common/number.h"

namespace dynoguard::common {
namespace {

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

// The whole of `s` as an unsigned number; nullopt for empty, signs, trailing
// junk or overflow.
std::optional<uint64_t> ParseU64(std::string_view s) {
  return ParseDecimal<uint64_t>(s);
}

std::optional<int> ParseInt(std::string_view s) { return ParseInteger<int>(s); }

// Calls `fn(line)` for each line of `text` (without its '\n'); stops early when
// fn returns false.
template <typename Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    if (!fn(line)) return;
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

// Splits "Key:   value" into {"Key", "value"}; nullopt when the line has no
// ':'.
std::optional<std::pair<std::string_view, std::string_view>> SplitKey(
    std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::pair{line.substr(0, colon), Trim(line.substr(colon + 1))};
}

// "1234 kB" → 1234 * 1024. The unit is required: a line cut short by a
// truncated read
// ("VmRSS:   12") must not be taken for a smaller value.
Result<uint64_t> ParseKilobytes(std::string_view key, std::string_view value) {
  const size_t space = value.find_first_of(kWhitespace);
  const std::string_view number = value.substr(0, space);
  const std::string_view unit = space == std::string_view::npos
                                    ? std::string_view()
                                    : Trim(value.substr(space));
  const std::optional<uint64_t> kb = ParseU64(number);
  if (!kb || unit != "kB") {
    return Status::InvalidArgument(std::string(key) +
                                   ": expected '<number> kB', got '" +
                                   std::string(value) + "'");
  }
  if (*kb > std::numeric_limits<uint64_t>::max() / 1024) {
    return Status::InvalidArgument(std::string(key) + ": value out of range");
  }
  return *kb * 1024;
}

// Sums `*total += ` with an overflow check.
bool AddChecked(uint64_t* total, uint64_t value) {
  if (*total > std::numeric_limits<uint64_t>::max() - value) return false;
  *total += value;
  return true;
}

}  // namespace

Result<StatusMemory> ParseProcStatusMemory(std::string_view status) {
  if (Trim(status).empty()) return Status::InvalidArgument("status: empty");
  StatusMemory memory;
  Status error;
  ForEachLine(status, [&](std::string_view line) {
    auto kv = SplitKey(line);
    if (!kv) return true;
    uint64_t* target = nullptr;
    if (kv->first == "VmRSS") target = &memory.rss_bytes;
    if (kv->first == "VmSwap") target = &memory.swap_bytes;
    if (target == nullptr) return true;
    Result<uint64_t> bytes = ParseKilobytes(kv->first, kv->second);
    if (!bytes.ok()) {
      error = bytes.status();
      return false;
    }
    *target = *bytes;
    return true;
  });
  if (!error.ok()) return error;
  return memory;
}

Result<uint64_t> ParseSmapsRollupPss(std::string_view smaps_rollup) {
  uint64_t total = 0;
  bool saw_pss = false;
  Status error;
  ForEachLine(smaps_rollup, [&](std::string_view line) {
    auto kv = SplitKey(line);
    if (!kv || (kv->first != "Pss" && kv->first != "SwapPss")) return true;
    Result<uint64_t> bytes = ParseKilobytes(kv->first, kv->second);
    if (!bytes.ok()) {
      error = bytes.status();
      return false;
    }
    if (!AddChecked(&total, *bytes)) {
      error = Status::InvalidArgument("smaps: Pss total out of range");
      return false;
    }
    if (kv->first == "Pss") saw_pss = true;
    return true;
  });
  if (!error.ok()) return error;
  if (!saw_pss) return Status::InvalidArgument("smaps_rollup: no Pss line");
  return total;
}

Result<int> ParseStatParentPid(std::string_view stat) {
  // "pid (comm) state ppid ...": comm is whatever the process named itself, so
  // only the last ')' reliably ends it.
  const size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) {
    return Status::InvalidArgument("stat: no ')' after the command name");
  }
  std::string_view rest = stat.substr(paren + 1);
  std::string_view fields[2];
  for (std::string_view& field : fields) {
    const size_t begin = rest.find_first_not_of(kWhitespace);
    if (begin == std::string_view::npos) {
      return Status::InvalidArgument("stat: truncated after the command name");
    }
    rest.remove_prefix(begin);
    const size_t end = rest.find_first_of(kWhitespace);
    field = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  const std::optional<int> ppid = ParseInt(fields[1]);
  if (fields[0].size() != 1 || !ppid || *ppid < 0) {
    return Status::InvalidArgument("stat: malformed state/ppid '" +
                                   std::string(fields[0]) + " " +
                                   std::string(fields[1]) + "'");
  }
  return *ppid;
}

Result<std::vector<int>> ParsePidList(std::string_view text) {
  std::vector<int> pids;
  while (true) {
    const size_t begin = text.find_first_not_of(kWhitespace);
    if (begin == std::string_view::npos) break;
    text.remove_prefix(begin);
    const size_t end = text.find_first_of(kWhitespace);
    const std::string_view token = text.substr(0, end);
    const std::optional<int> pid = ParseInt(token);
    if (!pid || *pid <= 0) {
      return Status::InvalidArgument("pid list: not a pid: '" +
                                     std::string(token) + "'");
    }
    pids.push_back(*pid);
    text.remove_prefix(token.size());
  }
  return pids;
}

Result<std::vector<CgroupEntry>> ParseProcCgroup(std::string_view text) {
  std::vector<CgroupEntry> entries;
  Status error;
  ForEachLine(text, [&](std::string_view line) {
    if (Trim(line).empty()) return true;
    const size_t first = line.find(':');
    const size_t second =
        first == std::string_view::npos ? first : line.find(':', first + 1);
    const std::optional<int> id = first == std::string_view::npos
                                      ? std::nullopt
                                      : ParseInt(line.substr(0, first));
    if (second == std::string_view::npos || !id || *id < 0) {
      error = Status::InvalidArgument("cgroup: malformed line '" +
                                      std::string(line) + "'");
      return false;
    }
    CgroupEntry entry;
    entry.hierarchy_id = *id;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    while (!controllers.empty()) {
      const size_t comma = controllers.find(',');
      const std::string_view name = controllers.substr(0, comma);
      if (!name.empty()) entry.controllers.emplace_back(name);
      if (comma == std::string_view::npos) break;
      controllers.remove_prefix(comma + 1);
    }
    // The path is everything after the second ':' (a path may itself contain
    // ':').
    std::string_view path = line.substr(second + 1);
    if (!path.empty() && path.back() == '\r') path.remove_suffix(1);
    entry.path = std::string(path);
    entries.push_back(std::move(entry));
    return true;
  });
  if (!error.ok()) return error;
  return entries;
}

Result<std::optional<uint64_t>> ParseCgroupMemoryLimit(std::string_view text) {
  const std::string_view value = Trim(text);
  if (value == "max") return std::optional<uint64_t>();
  const std::optional<uint64_t> bytes = ParseU64(value);
  if (!bytes) {
    return Status::InvalidArgument(
        "cgroup memory limit: expected a number or 'max', got '" +
        std::string(value) + "'");
  }
  // cgroup v1 spells "unlimited" as PAGE_COUNTER_MAX pages (9223372036854771712
  // on 4 KiB pages, a little different on other page sizes): nothing real comes
  // near 2^62 bytes.
  constexpr uint64_t kUnlimited = uint64_t{1} << 62;
  if (*bytes >= kUnlimited) return std::optional<uint64_t>();
  return std::optional<uint64_t>(*bytes);
}

Result<uint64_t> ParseCgroupBytes(std::string_view text) {
  const std::string_view value = Trim(text);
  const std::optional<uint64_t> bytes = ParseU64(value);
  if (!bytes) {
    return Status::InvalidArgument(
        "cgroup byte count: expected a number, got '" + std::string(value) +
        "'");
  }
  return *bytes;
}

Result<MemInfo> ParseMeminfo(std::string_view text) {
  MemInfo info;
  bool saw_total = false;
  Status error;
  ForEachLine(text, [&](std::string_view line) {
    auto kv = SplitKey(line);
    if (!kv) return true;
    uint64_t* target = nullptr;
    if (kv->first == "MemTotal") target = &info.total_bytes;
    if (kv->first == "MemFree") target = &info.free_bytes;
    if (kv->first == "MemAvailable") target = &info.available_bytes;
    if (target == nullptr) return true;
    Result<uint64_t> bytes = ParseKilobytes(kv->first, kv->second);
    if (!bytes.ok()) {
      error = bytes.status();
      return false;
    }
    *target = *bytes;
    if (target == &info.total_bytes) saw_total = true;
    return true;
  });
  if (!error.ok()) return error;
  if (!saw_total || info.total_bytes == 0) {
    return Status::InvalidArgument("meminfo: no MemTotal");
  }
  return info;
}

}  // namespace dynoguard::common
