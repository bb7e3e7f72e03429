#include "worker/memory/unused_library_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "common/proc_parsers.h"

namespace dynoguard::worker {
namespace {

// The next space-separated field of `rest`, consumed (with its spaces).
std::string_view NextField(std::string_view& rest) {
  size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  size_t end = rest.find(' ');
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return field;
}

bool ParseHex(std::string_view text, uintptr_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] =
      std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

uint64_t OwnRss(const common::ProcFs& procfs) {
  auto status = procfs.ReadFile("/proc/self/status");
  if (!status.ok()) return 0;
  auto memory = common::ParseProcStatusMemory(*status);
  return memory.ok() ? memory->rss_bytes : 0;
}

// madvise(`advice`) on each of `mappings`, with this process's RSS before and
// after.
common::Result<PageOutReport> Advise(const common::ProcFs& procfs,
                                     const std::vector<Mapping>& mappings,
                                     int advice, std::string_view name) {
  PageOutReport report;
  report.rss_before = OwnRss(procfs);
  for (const Mapping& m : mappings) {
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, advice) !=
        0) {
      return common::Status::IOError(
          "madvise(" + std::string(name) + ") " + m.path, std::strerror(errno));
    }
    ++report.mappings;
  }
  report.rss_after = OwnRss(procfs);
  return report;
}

}  // namespace

std::optional<Mapping> ParseMapsLine(std::string_view line) {
  std::string_view rest = line;
  std::string_view range = NextField(rest);
  std::string_view perms = NextField(rest);
  std::string_view offset = NextField(rest);
  std::string_view device = NextField(rest);
  std::string_view inode = NextField(rest);
  if (inode.empty() || perms.size() != 4 || offset.empty() || device.empty()) {
    return std::nullopt;
  }
  size_t dash = range.find('-');
  Mapping m;
  if (dash == std::string_view::npos ||
      !ParseHex(range.substr(0, dash), m.start) ||
      !ParseHex(range.substr(dash + 1), m.end) || m.end <= m.start) {
    return std::nullopt;
  }
  m.perms = std::string(perms);
  size_t path_start = rest.find_first_not_of(' ');
  if (path_start != std::string_view::npos) {
    m.path = std::string(rest.substr(path_start));
  }
  return m;
}

std::vector<Mapping> ReclaimableLibraryMappings(
    std::string_view maps, const std::vector<std::string>& library_prefixes) {
  std::vector<Mapping> out;
  while (!maps.empty()) {
    size_t newline = maps.find('\n');
    std::string_view line = maps.substr(0, newline);
    maps.remove_prefix(newline == std::string_view::npos ? maps.size()
                                                         : newline + 1);
    std::optional<Mapping> m = ParseMapsLine(line);
    if (!m || m->path.empty() || m->path[0] != '/') continue;
    if (m->perms[1] == 'w' || m->perms[3] != 'p') continue;
    std::string_view name = BaseName(m->path);
    for (const std::string& prefix : library_prefixes) {
      if (name.starts_with(prefix)) {
        out.push_back(std::move(*m));
        break;
      }
    }
  }
  return out;
}

std::vector<Mapping> UnmappableImageMappings(std::string_view smaps) {
  // Each mapping's header line (a maps line) is followed by "Key: value kB"
  // lines. "Anonymous:" counts the resident copied pages, "Swap:" (later) the
  // copied pages swapped out: a mapping can be dropped when both are 0.
  std::vector<Mapping> clean;
  std::set<std::string> images;
  std::optional<Mapping> current;
  bool no_anonymous = false;
  while (!smaps.empty()) {
    size_t newline = smaps.find('\n');
    std::string_view line = smaps.substr(0, newline);
    smaps.remove_prefix(newline == std::string_view::npos ? smaps.size()
                                                          : newline + 1);
    std::string_view first = line.substr(0, line.find(' '));
    if (first.empty()) continue;
    if (first.back() == ':') {  // a field of the current mapping
      if (!current) continue;
      std::string_view value = line.substr(first.size());
      value.remove_prefix(std::min(value.find_first_not_of(' '), value.size()));
      const bool zero = value.starts_with("0 ");
      if (first == "Anonymous:") {
        no_anonymous = zero;
      } else if (first == "Swap:") {
        if (no_anonymous && zero) clean.push_back(std::move(*current));
        current.reset();
      }
      continue;
    }
    current = ParseMapsLine(line);  // the next mapping's header
    no_anonymous = false;
    if (!current || current->path.empty() || current->path[0] != '/') {
      current.reset();
      continue;
    }
    if (current->perms == "r-xp") images.insert(current->path);
    if (current->perms[1] == 'w' || current->perms[3] != 'p') current.reset();
  }
  std::vector<Mapping> out;
  for (Mapping& m : clean) {
    if (images.count(m.path) != 0) out.push_back(std::move(m));
  }
  return out;
}

common::Result<PageOutReport> UnmapIdleImagePages(
    const common::ProcFs& procfs) {
  auto smaps = procfs.ReadFile("/proc/self/smaps");
  if (!smaps.ok()) return smaps.status();
  return Advise(procfs, UnmappableImageMappings(*smaps), MADV_DONTNEED,
                "MADV_DONTNEED");
}

common::Result<PageOutReport> PageOutUnusedLibraries(
    const common::ProcFs& procfs,
    const std::vector<std::string>& library_prefixes) {
  auto maps = procfs.ReadFile("/proc/self/maps");
  if (!maps.ok()) return maps.status();
  return Advise(procfs, ReclaimableLibraryMappings(*maps, library_prefixes),
                MADV_PAGEOUT, "MADV_PAGEOUT");
}

}  // namespace dynoguard::worker
