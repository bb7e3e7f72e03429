// CleanupRunner: the one cleanup path of the worker. SIGUSR1, SIGUSR2 and
// /cleanup?level=… all run a cleanup through it, so every trigger does the
// same thing: trim the caches and run the cleanup steps (MemoryManager), take
// the figure after the cleanup as a fresh memory sample (the 503 pressure flag
// follows it), count it, and log one `cleanup` line with the figures.
#ifndef DYNOGUARD_WORKER_MEMORY_CLEANUP_RUNNER_H_
#define DYNOGUARD_WORKER_MEMORY_CLEANUP_RUNNER_H_

#include <functional>
#include <string_view>

#include "common/log.h"
#include "worker/memory/memory_manager.h"

namespace dynoguard::worker {

// Thread-safe (cleanups are serialized by the MemoryManager). `memory` and
// `log` must outlive it.
class CleanupRunner {
 public:
  // `counted` (may be empty) is called after every cleanup with its level,
  // e.g. to count it in /metrics.
  CleanupRunner(MemoryManager& memory, const common::Logger& log,
                std::function<void(CleanupLevel)> counted = {});

  // Runs a cleanup at `level`. An emergency cleanup turns the pressure flag
  // on; after any cleanup the flag follows the figure measured after it (on
  // while still at or above the emergency threshold). Logs
  //   cleanup level=… freed=…MB rss=…MB caches=…MB trigger=… ms=…
  // (`trigger`: "SIGUSR1", "SIGUSR2", "http", …), with `requests=…` after
  // the trigger when the cleanup answers more than one request (signals
  // merged by the CleanupPacer), and returns the figures.
  CleanupReport Run(CleanupLevel level, std::string_view trigger,
                    int requests = 1);

 private:
  MemoryManager& memory_;
  const common::Logger& log_;
  const std::function<void(CleanupLevel)> counted_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_CLEANUP_RUNNER_H_
