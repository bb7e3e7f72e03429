#include "common/memory_probe.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dynoguard::common {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;

// A fake /proc + /sys tree in a fresh temp directory, removed on destruction.
class FakeRoot {
 public:
  FakeRoot() {
    std::string pattern =
        (fs::temp_directory_path() / "dynoguard-procfs-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    root_ = pattern;
  }
  ~FakeRoot() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;

  ProcFs procfs() const { return ProcFs(root_.string()); }

  // Writes `contents` at the absolute fake path, creating directories.
  void Write(const std::string& path, const std::string& contents) {
    const fs::path full = root_.string() + path;
    fs::create_directories(full.parent_path());
    std::ofstream out(full, std::ios::binary);
    out << contents;
    REQUIRE(out.good());
  }
  void MakeDir(const std::string& path) {
    fs::create_directories(root_.string() + path);
  }

  // /proc/<pid>/{stat,status,smaps_rollup,task/<pid>/}, RSS/swap/PSS in kB.
  void AddProcess(int pid, int ppid, uint64_t rss_kb, uint64_t swap_kb = 0,
                  uint64_t pss_kb = 0) {
    const std::string dir = "/proc/" + std::to_string(pid);
    Write(dir + "/stat", std::to_string(pid) + " (proc " + std::to_string(pid) +
                             ") S " + std::to_string(ppid) +
                             " 1 1 0 -1 4194304 0 0\n");
    Write(dir + "/status", "Name:\tproc\nPid:\t" + std::to_string(pid) +
                               "\nPPid:\t" + std::to_string(ppid) +
                               "\nVmRSS:\t" + std::to_string(rss_kb) +
                               " kB\nVmSwap:\t" + std::to_string(swap_kb) +
                               " kB\nThreads:\t1\n");
    Write(dir + "/smaps_rollup", "00-ff ---p 00000000 00:00 0 [rollup]\nRss: " +
                                     std::to_string(rss_kb) +
                                     " kB\nPss: " + std::to_string(pss_kb) +
                                     " kB\nPss_Anon: 999 kB\nSwapPss: 0 kB\n");
    MakeDir(dir + "/task/" + std::to_string(pid));
  }
  // The kernel's /proc/<pid>/task/<tid>/children file.
  void SetChildren(int pid, int tid, const std::string& children) {
    Write("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) +
              "/children",
          children);
  }
  void SetMeminfo(uint64_t total_kb) {
    Write("/proc/meminfo",
          "MemTotal: " + std::to_string(total_kb) +
              " kB\nMemFree: 1000 kB\nMemAvailable: 2000 kB\n");
  }

 private:
  fs::path root_;
};

bool Contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// 100 ─┬─ 200 ── 400
//      ├─ 201
//      └─ 300 (forked by 100's second thread, 101)
// 500 is unrelated.
void AddFamily(FakeRoot& root) {
  root.AddProcess(100, 1, 1000, 100, 800);
  root.AddProcess(200, 100, 2000, 0, 1500);
  root.AddProcess(201, 100, 3000, 0, 2500);
  root.AddProcess(300, 100, 4000, 0, 3500);
  root.AddProcess(400, 200, 5000, 50, 4500);
  root.AddProcess(500, 1, 70000, 0, 60000);
}

void AddChildrenFiles(FakeRoot& root) {
  root.SetChildren(100, 100, "200 201 ");
  root.SetChildren(100, 101, "300 ");
  root.SetChildren(200, 200, "400 ");
  root.SetChildren(201, 201, "");
  root.SetChildren(300, 300, "");
  root.SetChildren(400, 400, "");
  root.SetChildren(500, 500, "");
}

TEST_CASE("memory source names", "[memory_probe]") {
  CHECK(ToString(MemorySource::kRss) == "rss");
  CHECK(ToString(MemorySource::kPss) == "pss");
  CHECK(ToString(MemorySource::kCgroup) == "cgroup");
}

TEST_CASE("process tree: children files of every thread, root first",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  auto tree = ProcessTree(root.procfs(), 100);
  REQUIRE(tree.ok());
  CHECK(*tree == std::vector<int>{100, 200, 201, 300, 400});
}

TEST_CASE("process tree: parent-pid scan when the kernel has no children files",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  // A command name crafted to look like "ppid 100" to a naive parser.
  root.Write("/proc/600/stat", "600 (x) S 100 (y) S 1 600 600 0 -1 0\n");
  auto tree = ProcessTree(root.procfs(), 100);
  REQUIRE(tree.ok());
  REQUIRE_FALSE(tree->empty());
  CHECK(tree->front() == 100);
  std::vector<int> sorted = *tree;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>{100, 200, 201, 300, 400});
}

TEST_CASE("process tree: a child that vanished during the walk is left out",
          "[memory_probe]") {
  SECTION("children files") {
    FakeRoot root;
    AddFamily(root);
    AddChildrenFiles(root);
    root.SetChildren(100, 100,
                     "200 201 777 ");  // 777 exited: no /proc/777 any more
    auto tree = ProcessTree(root.procfs(), 100);
    REQUIRE(tree.ok());
    CHECK_FALSE(Contains(*tree, 777));
    CHECK(tree->size() == 5);
  }
  SECTION("parent scan") {
    FakeRoot root;
    AddFamily(root);
    root.MakeDir("/proc/777");  // listed, but gone before its stat was read
    auto tree = ProcessTree(root.procfs(), 100);
    REQUIRE(tree.ok());
    CHECK_FALSE(Contains(*tree, 777));
    CHECK(tree->size() == 5);
  }
}

TEST_CASE("process tree: a missing root is NotFound", "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  auto tree = ProcessTree(root.procfs(), 999);
  REQUIRE_FALSE(tree.ok());
  CHECK(tree.status().code() == Status::Code::kNotFound);
}

TEST_CASE("measure: rss sums VmRSS + VmSwap over the tree", "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kRss);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == (1000 + 100 + 2000 + 3000 + 4000 + 5000 + 50) * kKiB);
  CHECK(reading->processes == 5);
}

// 100 is the supervisor (a subreaper), 200 its worker; 201 and 300 were the
// worker's double-forked helpers, re-parented to the supervisor.
TEST_CASE(
    "worker processes: the worker's tree plus the supervisor's other "
    "descendants",
    "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  auto pids = WorkerProcesses(root.procfs(), 100, 200);
  REQUIRE(pids.ok());
  REQUIRE_FALSE(pids->empty());
  CHECK(pids->front() == 200);
  std::vector<int> sorted = *pids;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>{200, 201, 300, 400});

  auto reading = MeasureWorker(root.procfs(), 100, 200, MemorySource::kRss);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == (2000 + 3000 + 4000 + 5000 + 50) * kKiB);
  CHECK(reading->processes == 4);
}

TEST_CASE("worker processes: a worker that is not a descendant is NotFound",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  auto pids = WorkerProcesses(root.procfs(), 100, 500);
  REQUIRE_FALSE(pids.ok());
  CHECK(pids.status().code() == Status::Code::kNotFound);
  CHECK_FALSE(MeasureWorker(root.procfs(), 100, 999, MemorySource::kRss).ok());
}

TEST_CASE("measure: a zombie child counts as a process with no memory",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  root.Write("/proc/201/status",
             "Name:\tproc\nState:\tZ (zombie)\nPPid:\t100\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kRss);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == (1000 + 100 + 2000 + 4000 + 5000 + 50) * kKiB);
  CHECK(reading->processes == 5);
}

TEST_CASE("measure: a process that exits after the walk is skipped",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  fs::remove(root.procfs().root() + "/proc/201/status");
  fs::remove(root.procfs().root() + "/proc/201/smaps_rollup");
  fs::remove_all(root.procfs().root() + "/proc/201/task");
  // 201 is still listed by its parent but has no task dir: it exited mid-walk.
  auto rss = MeasureTree(root.procfs(), 100, MemorySource::kRss);
  REQUIRE(rss.ok());
  CHECK(rss->processes == 4);
  CHECK(rss->bytes == (1000 + 100 + 2000 + 4000 + 5000 + 50) * kKiB);
}

TEST_CASE("measure: pss sums Pss + SwapPss over the tree", "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kPss);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == (800 + 1500 + 2500 + 3500 + 4500) * kKiB);
  CHECK(reading->processes == 5);
}

TEST_CASE("measure: pss falls back to smaps on kernels without smaps_rollup",
          "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(100, 1, 1000);
  fs::remove(root.procfs().root() + "/proc/100/smaps_rollup");
  root.Write("/proc/100/smaps",
             "00-10 r-xp 0 0 0 /bin/x\nPss: 10 kB\nSwapPss: 1 kB\n"
             "10-20 rw-p 0 0 0\nPss: 20 kB\nSwapPss: 0 kB\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kPss);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == 31 * kKiB);
}

TEST_CASE("measure: a garbled status is an error naming the file",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  root.Write("/proc/400/status", "VmRSS: abc kB\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kRss);
  REQUIRE_FALSE(reading.ok());
  CHECK(reading.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(reading.status().message(), Catch::Contains("/proc/400/status"));
}

TEST_CASE("measure: a missing root is NotFound", "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  auto reading = MeasureTree(root.procfs(), 999, MemorySource::kRss);
  REQUIRE_FALSE(reading.ok());
  CHECK(reading.status().code() == Status::Code::kNotFound);
}

TEST_CASE("measure: cgroup v2 memory.current of the root's cgroup",
          "[memory_probe]") {
  FakeRoot root;
  AddFamily(root);
  AddChildrenFiles(root);
  root.Write("/proc/100/cgroup", "0::/app.slice/bot\n");
  root.Write("/sys/fs/cgroup/app.slice/bot/memory.current", "123456789\n");
  root.Write("/sys/fs/cgroup/app.slice/memory.current", "999999999\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kCgroup);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == 123456789);
  CHECK(reading->processes == 5);
}

TEST_CASE("measure: cgroup v1 memory.usage_in_bytes of the memory controller",
          "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(100, 1, 1000);
  root.Write("/proc/100/cgroup", "5:cpu,cpuacct:/x\n4:memory:/bot\n0::/\n");
  root.Write("/sys/fs/cgroup/memory/bot/memory.usage_in_bytes", "4096\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kCgroup);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == 4096);
}

TEST_CASE("measure: cgroup path namespaced away falls back to the mount root",
          "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(100, 1, 1000);
  root.Write("/proc/100/cgroup", "0::/docker/0123abcd\n");
  root.Write("/sys/fs/cgroup/memory.current", "777\n");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kCgroup);
  REQUIRE(reading.ok());
  CHECK(reading->bytes == 777);
}

TEST_CASE("measure: no cgroup usage file is NotFound", "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(100, 1, 1000);
  root.Write("/proc/100/cgroup", "0::/\n");
  root.MakeDir("/sys/fs/cgroup");
  auto reading = MeasureTree(root.procfs(), 100, MemorySource::kCgroup);
  REQUIRE_FALSE(reading.ok());
  CHECK(reading.status().code() == Status::Code::kNotFound);
}

TEST_CASE("limit: cgroup v2 nested limits, the smallest wins",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(16 * 1024 * 1024);  // 16 GiB
  root.Write("/proc/self/cgroup", "0::/a/b/c\n");
  root.Write("/sys/fs/cgroup/a/memory.max", "1073741824\n");
  root.Write("/sys/fs/cgroup/a/b/memory.max", "max\n");
  SECTION("leaf smaller") {
    root.Write("/sys/fs/cgroup/a/b/c/memory.max", "805306368\n");
    auto limit = DetectMemoryLimit(root.procfs());
    REQUIRE(limit.ok());
    CHECK(limit->bytes == 768 * kMiB);
    CHECK(limit->source == "cgroup v2 /sys/fs/cgroup/a/b/c/memory.max");
  }
  SECTION("ancestor smaller") {
    root.Write("/sys/fs/cgroup/a/b/c/memory.max", "2147483648\n");
    auto limit = DetectMemoryLimit(root.procfs());
    REQUIRE(limit.ok());
    CHECK(limit->bytes == 1024 * kMiB);
    CHECK(limit->source == "cgroup v2 /sys/fs/cgroup/a/memory.max");
  }
}

TEST_CASE("limit: v2 max everywhere falls back to MemTotal", "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(2014732);
  root.Write("/proc/self/cgroup", "0::/user.slice/app\n");
  root.Write("/sys/fs/cgroup/user.slice/app/memory.max", "max\n");
  root.Write("/sys/fs/cgroup/user.slice/memory.max", "max\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 2014732 * kKiB);
  CHECK(limit->source == "MemTotal");
}

TEST_CASE("limit: cgroup v1 memory controller", "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(16 * 1024 * 1024);
  std::string cgroup =
      "12:hugetlb:/\n10:memory:/user.slice/user-1000.slice/s.scope\n"
      "9:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n";
  root.Write("/proc/self/cgroup", cgroup);
  root.Write("/sys/fs/cgroup/memory/memory.limit_in_bytes",
             "9223372036854771712\n");
  root.Write("/sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes",
             "1073741824\n");
  root.Write(
      "/sys/fs/cgroup/memory/user.slice/user-1000.slice/s.scope/"
      "memory.limit_in_bytes",
      "9223372036854771712\n");
  // The cpu controller's files must not be mistaken for memory limits.
  root.Write("/sys/fs/cgroup/cpu,cpuacct/user.slice/memory.limit_in_bytes",
             "1\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 1024 * kMiB);
  CHECK(limit->source ==
        "cgroup v1 /sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes");
}

TEST_CASE(
    "limit: Heroku-like dyno, 512 MiB at the mount root of a namespaced path",
    "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(62 * 1024 *
                  1024);  // the host's RAM, far above the dyno's budget
  root.Write("/proc/self/cgroup", "4:memory:/lxc/8c6e4a27-0c1f-4d2a\n0::/\n");
  root.Write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 536870912);
  CHECK(limit->source ==
        "cgroup v1 /sys/fs/cgroup/memory/memory.limit_in_bytes");
}

TEST_CASE(
    "limit: a cgroup path escaping the namespace reads only the mount root",
    "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(16 * 1024 * 1024);
  root.Write("/proc/self/cgroup", "0::/../../outside\n");
  root.Write("/sys/fs/cgroup/memory.max", "268435456\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 256 * kMiB);
}

TEST_CASE("limit: MemTotal caps a cgroup limit above the machine's RAM",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(1024 * 1024);  // 1 GiB
  root.Write("/proc/self/cgroup", "0::/big\n");
  root.Write("/sys/fs/cgroup/big/memory.max", "8589934592\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 1024 * kMiB);
  CHECK(limit->source == "MemTotal");
}

TEST_CASE("limit: of a given pid", "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(100, 1, 1000);
  root.SetMeminfo(16 * 1024 * 1024);
  root.Write("/proc/100/cgroup", "0::/worker\n");
  root.Write("/sys/fs/cgroup/worker/memory.max", "536870912\n");
  auto limit = DetectMemoryLimit(root.procfs(), "100");
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 536870912);
  CHECK(DetectMemoryLimit(root.procfs(), "12ab").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(DetectMemoryLimit(root.procfs(), "").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(DetectMemoryLimit(root.procfs(), "999").status().code() ==
        Status::Code::kNotFound);
}

TEST_CASE("limit: a garbled memory.max is an error naming the file",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(1024 * 1024);
  root.Write("/proc/self/cgroup", "0::/app\n");
  root.Write("/sys/fs/cgroup/app/memory.max", "lots\n");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE_FALSE(limit.ok());
  CHECK(limit.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(limit.status().message(),
             Catch::Contains("/sys/fs/cgroup/app/memory.max"));
}

TEST_CASE("limit: without cgroups and meminfo there is nothing to go by",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE_FALSE(limit.ok());
  CHECK(limit.status().code() == Status::Code::kNotFound);
}

TEST_CASE("limit: without a cgroup file MemTotal is the budget",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(4096);
  auto limit = DetectMemoryLimit(root.procfs());
  REQUIRE(limit.ok());
  CHECK(limit->bytes == 4096 * kKiB);
  CHECK(limit->source == "MemTotal");
}

TEST_CASE("limit: MEMORY_LIMIT_MB wins over detection, else detection",
          "[memory_probe]") {
  FakeRoot root;
  root.MakeDir("/proc/self");
  root.SetMeminfo(4096);
  auto configured = ResolveMemoryLimit(256 * kMiB, root.procfs());
  REQUIRE(configured.ok());
  CHECK(configured->bytes == 256 * kMiB);
  CHECK(configured->source == "MEMORY_LIMIT_MB");
  auto detected = ResolveMemoryLimit(0, root.procfs());
  REQUIRE(detected.ok());
  CHECK(detected->bytes == 4096 * kKiB);
  CHECK(detected->source == "MemTotal");
}

TEST_CASE("proc fs: ReadFile errors say NotFound and name the path",
          "[memory_probe]") {
  FakeRoot root;
  auto missing = root.procfs().ReadFile("/proc/1/status");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK_THAT(missing.status().message(), Catch::Contains("/proc/1/status"));
  CHECK(root.procfs().ReadFile("relative").status().code() ==
        Status::Code::kInvalidArgument);
  root.MakeDir("/proc/1");
  CHECK(root.procfs().ReadFile("/proc/1").status().code() ==
        Status::Code::kIOError);  // EISDIR
  CHECK(root.procfs().Exists("/proc/1"));
  CHECK_FALSE(root.procfs().Exists("/proc/2"));
}

TEST_CASE("proc fs: ListPids and ListTasks keep numeric entries",
          "[memory_probe]") {
  FakeRoot root;
  root.AddProcess(30, 1, 1);
  root.AddProcess(4, 1, 1);
  root.MakeDir("/proc/30/task/31");
  root.MakeDir("/proc/sys");
  root.MakeDir("/proc/12abc");
  root.Write("/proc/meminfo", "MemTotal: 1 kB\n");
  auto pids = root.procfs().ListPids();
  REQUIRE(pids.ok());
  CHECK(*pids == std::vector<int>{4, 30});
  auto tasks = root.procfs().ListTasks(30);
  REQUIRE(tasks.ok());
  CHECK(*tasks == std::vector<int>{30, 31});
  CHECK(root.procfs().ListTasks(5).status().code() == Status::Code::kNotFound);
}

// The real /proc with this test process: nothing here depends on the machine's
// cgroup layout.
TEST_CASE("real /proc: this process, its memory and a forked child",
          "[memory_probe]") {
  const ProcFs procfs;
  const int self = static_cast<int>(::getpid());

  auto tree = ProcessTree(procfs, self);
  REQUIRE(tree.ok());
  REQUIRE_FALSE(tree->empty());
  CHECK(tree->front() == self);

  auto rss = MeasureTree(procfs, self, MemorySource::kRss);
  REQUIRE(rss.ok());
  CHECK(rss->bytes > 0);
  CHECK(rss->processes >= 1);

  auto meminfo = ReadMeminfo(procfs);
  REQUIRE(meminfo.ok());
  CHECK(meminfo->total_bytes > 0);

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (;;) ::pause();  // async-signal-safe only; killed by the parent
  }
  auto with_child = ProcessTree(procfs, self);
  auto child_rss = MeasureTree(procfs, self, MemorySource::kRss);
  ::kill(child, SIGKILL);
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  REQUIRE(with_child.ok());
  CHECK(Contains(*with_child, static_cast<int>(child)));
  REQUIRE(child_rss.ok());
  CHECK(child_rss->processes >= 2);

  auto after = ProcessTree(procfs, self);
  REQUIRE(after.ok());
  CHECK_FALSE(Contains(*after, static_cast<int>(child)));
}

TEST_CASE("real /proc: a pid that does not exist is NotFound",
          "[memory_probe]") {
  // pid_max is at most 2^22, so this pid cannot exist.
  auto tree = ProcessTree(ProcFs(), 1 << 23);
  REQUIRE_FALSE(tree.ok());
  CHECK(tree.status().code() == Status::Code::kNotFound);
}

}  // namespace
}  // namespace dynoguard::common
