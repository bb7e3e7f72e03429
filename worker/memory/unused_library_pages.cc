#include "worker/memory/unused_library_pages.h"

#include <sys/mman.h>

#include <cerrno>
#include <charconv>
#include <cstring>

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

common::Result<PageOutReport> PageOutUnusedLibraries(
    const common::ProcFs& procfs,
    const std::vector<std::string>& library_prefixes) {
  auto maps = procfs.ReadFile("/proc/self/maps");
  if (!maps.ok()) return maps.status();
  PageOutReport report;
  report.rss_before = OwnRss(procfs);
  for (const Mapping& m : ReclaimableLibraryMappings(*maps, library_prefixes)) {
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start,
                  MADV_PAGEOUT) != 0) {
      return common::Status::IOError("madvise(MADV_PAGEOUT) " + m.path,
                                     std::strerror(errno));
    }
    ++report.mappings;
  }
  report.rss_after = OwnRss(procfs);
  return report;
}

}  // namespace dynoguard::worker
