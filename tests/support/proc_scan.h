// Looks at processes through /proc: children, zombies, existence, memory.
// Tests use it to check that the supervisor reaps everything it starts and
// leaves nothing behind.
#ifndef DYNOGUARD_TESTS_SUPPORT_PROC_SCAN_H_
#define DYNOGUARD_TESTS_SUPPORT_PROC_SCAN_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace dynoguard::testing {

// Pids whose parent (field 4 of /proc/<pid>/stat) is `pid`, zombies included,
// in ascending order. Processes that vanish during the scan are skipped.
std::vector<pid_t> ChildrenOf(pid_t pid);

// Every process below `pid` (children, their children, ...), not `pid`.
std::vector<pid_t> DescendantsOf(pid_t pid);

// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or nullopt when
// the process does not exist.
std::optional<char> ProcessState(pid_t pid);

// True when the process exists and has exited but is not reaped yet.
bool IsZombie(pid_t pid);

// True while /proc/<pid> exists, zombies included.
bool ProcessExists(pid_t pid);

// Exists and is not a zombie: it can still run and hold memory.
bool ProcessAlive(pid_t pid);

// VmRSS + VmSwap of one process in bytes, or nullopt when it is gone.
std::optional<uint64_t> ProcessMemoryBytes(pid_t pid);

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_PROC_SCAN_H_
