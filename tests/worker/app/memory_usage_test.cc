// The worker's pressure flag measures what MEMORY_SOURCE names, as the
// supervisor does: with pss, pages shared with another process count half.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "common/memory_probe.h"
#include "common/proc_fs.h"
#include "worker/app/worker_app.h"
#include "worker/memory/memory_manager.h"

namespace dynoguard::worker {
namespace {

constexpr size_t kShared = 96 * 1024 * 1024;

TEST_CASE("memory usage: the pressure flag follows MEMORY_SOURCE=pss",
          "[memory_usage]") {
  // 96 MiB shared with a child: in the RSS of both, half in each one's PSS.
  void* shared = ::mmap(nullptr, kShared, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(shared != MAP_FAILED);
  std::memset(shared, 1, kShared);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    volatile char sum = 0;
    for (size_t i = 0; i < kShared; i += 4096) {
      sum = static_cast<char>(sum + static_cast<char*>(shared)[i]);
    }
    (void)sum;
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);

  common::ProcFs procfs;
  const uint64_t rss =
      ReadMemoryUsage(procfs, getpid(), common::MemorySource::kRss);
  const uint64_t pss =
      ReadMemoryUsage(procfs, getpid(), common::MemorySource::kPss);
  INFO("rss " << rss << " pss " << pss);
  REQUIRE(rss > 0);
  REQUIRE(pss > 0);
  CHECK(pss + kShared / 2 < rss);

  // A budget the RSS is over (emergency at 85 %) and the PSS well under.
  const uint64_t limit = rss;
  MemoryManager by_rss(limit, 85, [&] {
    return ReadMemoryUsage(procfs, getpid(), common::MemorySource::kRss);
  });
  MemoryManager by_pss(limit, 85, [&] {
    return ReadMemoryUsage(procfs, getpid(), common::MemorySource::kPss);
  });
  by_rss.UpdatePressure(by_rss.ReadRss());
  by_pss.UpdatePressure(by_pss.ReadRss());
  CHECK(by_rss.under_pressure());
  CHECK_FALSE(by_pss.under_pressure());

  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ::munmap(shared, kShared);
}

}  // namespace
}  // namespace dynoguard::worker
