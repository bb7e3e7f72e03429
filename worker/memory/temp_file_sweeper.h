// TempFileSweeper: deletes stale files from the worker's scratch directory
// (DATA_DIR/tmp): media downloads, partial uploads and the like that a crash
// or a killed request left behind. Every cleanup (a MemoryManager cleanup
// step) and a 60 s timer run it.
#ifndef DYNOGUARD_WORKER_MEMORY_TEMP_FILE_SWEEPER_H_
#define DYNOGUARD_WORKER_MEMORY_TEMP_FILE_SWEEPER_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace dynoguard::worker {

struct SweepResult {
  int files_removed = 0;
  uint64_t bytes_removed = 0;  // sizes of the regular files removed
  int files_failed = 0;        // stale entries that could not be removed
};

// Removes the entries of `dir` (not recursive) that are regular files or
// symbolic links whose modification time is more than `older_than` before
// `now`. A symbolic link is judged by its own time and only the link is
// removed: nothing outside `dir` is ever touched. Subdirectories, sockets and
// other special files are left alone.
//
// A missing `dir` is OK with zero counts. Fails (IOError naming `dir`) only
// when the directory cannot be opened or read; an entry that cannot be removed
// (or vanished meanwhile) is counted in files_failed (not for vanished ones)
// and the sweep continues. Thread-safe: concurrent sweeps of one directory
// count each removed file in exactly one of the results.
common::Result<SweepResult> SweepStaleFiles(
    const std::string& dir, std::chrono::seconds older_than,
    std::chrono::system_clock::time_point now);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_MEMORY_TEMP_FILE_SWEEPER_H_
