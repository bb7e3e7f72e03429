#include "worker/memory/cleanup_runner.h"

#include <utility>
#include <vector>

#include "common/log.h"

namespace dynoguard::worker {

CleanupRunner::CleanupRunner(MemoryManager& memory, const common::Logger& log,
                             std::function<void(CleanupLevel)> counted)
    : memory_(memory), log_(log), counted_(std::move(counted)) {}

CleanupReport CleanupRunner::Run(CleanupLevel level, std::string_view trigger,
                                 int requests) {
  if (level == CleanupLevel::kEmergency) memory_.SetPressure(true);
  CleanupReport report = memory_.RunCleanup(level);
  if (counted_) counted_(level);
  std::vector<common::LogField> fields = {
      {"level", ToString(level)},
      {"freed", common::FormatMegabytes(report.freed())},
      {"rss", common::FormatMegabytes(report.rss_after)},
      {"caches", common::FormatMegabytes(report.cache_bytes_after)},
      {"trigger", trigger}};
  if (requests > 1) fields.emplace_back("requests", requests);
  fields.emplace_back("ms", report.took.count());
  log_.Log(common::LogLevel::kInfo, "cleanup", fields);
  // The pressure flag stays on until a sample shows the worker back under
  // the threshold; the figure after the cleanup is such a sample.
  memory_.UpdatePressure(report.rss_after);
  return report;
}

}  // namespace dynoguard::worker
