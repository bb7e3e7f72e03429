#include "common/proc_parsers.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

namespace dynoguard::common {
namespace {

constexpr uint64_t kKiB = 1024;

std::string ReadFixture(const std::string& name) {
  const std::string path =
      std::string(DYNOGUARD_FIXTURES_DIR) + "/proc/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST_CASE("proc status: VmRSS and VmSwap in bytes", "[proc_parsers]") {
  auto memory = ParseProcStatusMemory(ReadFixture("status_node.txt"));
  REQUIRE(memory.ok());
  CHECK(memory->rss_bytes == 204800 * kKiB);
  CHECK(memory->swap_bytes == 10240 * kKiB);
}

TEST_CASE("proc status: kernel threads and zombies count zero",
          "[proc_parsers]") {
  for (const char* name : {"status_kernel_thread.txt", "status_zombie.txt"}) {
    auto memory = ParseProcStatusMemory(ReadFixture(name));
    REQUIRE(memory.ok());
    CHECK(memory->rss_bytes == 0);
    CHECK(memory->swap_bytes == 0);
  }
}

TEST_CASE("proc status: a truncated VmRSS line is an error, not a small value",
          "[proc_parsers]") {
  auto memory = ParseProcStatusMemory(ReadFixture("status_truncated.txt"));
  REQUIRE_FALSE(memory.ok());
  CHECK(memory.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(memory.status().message(), Catch::Contains("VmRSS"));
}

TEST_CASE("proc status: garbage and empty contents are rejected",
          "[proc_parsers]") {
  CHECK(ParseProcStatusMemory("VmRSS: abc kB\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseProcStatusMemory("VmRSS: -5 kB\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseProcStatusMemory("VmRSS:\t12 MB\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseProcStatusMemory("VmSwap: 99999999999999999999 kB\n")
            .status()
            .code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(ParseProcStatusMemory("").ok());
}

TEST_CASE("proc status: inline values without trailing newline",
          "[proc_parsers]") {
  auto memory = ParseProcStatusMemory("Name:\tx\nVmRSS:\t1 kB\nVmSwap:\t2 kB");
  REQUIRE(memory.ok());
  CHECK(memory->rss_bytes == 1024);
  CHECK(memory->swap_bytes == 2048);
}

TEST_CASE("smaps_rollup: Pss plus SwapPss, other Pss_* keys ignored",
          "[proc_parsers]") {
  auto pss = ParseSmapsRollupPss(ReadFixture("smaps_rollup.txt"));
  REQUIRE(pss.ok());
  CHECK(*pss == (150000 + 2048) * kKiB);
}

TEST_CASE("smaps_rollup: full smaps blocks are summed", "[proc_parsers]") {
  auto pss = ParseSmapsRollupPss(
      "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/x\nRss: 8 "
      "kB\nPss: 4 kB\n"
      "SwapPss: 0 kB\n7f00-7f10 rw-p 00000000 00:00 0\nRss: 12 kB\nPss: 12 "
      "kB\nSwapPss: 3 kB\n");
  REQUIRE(pss.ok());
  CHECK(*pss == 19 * kKiB);
}

TEST_CASE("smaps_rollup: no Pss line or garbage is an error",
          "[proc_parsers]") {
  CHECK(ParseSmapsRollupPss("").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseSmapsRollupPss("Rss: 10 kB\nPss_Anon: 4 kB\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseSmapsRollupPss("Pss: lots kB\n").status().code() ==
        Status::Code::kInvalidArgument);
}

TEST_CASE("stat: parent pid is read after the last ')'", "[proc_parsers]") {
  auto ppid = ParseStatParentPid(ReadFixture("stat_weird_comm.txt"));
  REQUIRE(ppid.ok());
  CHECK(*ppid == 4100);
  auto simple = ParseStatParentPid("13674 (cat) R 13668 13668 2373 0 -1");
  REQUIRE(simple.ok());
  CHECK(*simple == 13668);
  auto tricky =
      ParseStatParentPid("7 (x) S 99 (y) S 5 6 7 8\n");  // comm "x) S 99 (y"
  REQUIRE(tricky.ok());
  CHECK(*tricky == 5);
  auto kernel = ParseStatParentPid("2 (kthreadd) S 0 0 0");
  REQUIRE(kernel.ok());
  CHECK(*kernel == 0);
}

TEST_CASE("stat: truncated or garbage lines are errors", "[proc_parsers]") {
  CHECK(ParseStatParentPid("").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseStatParentPid("12 (cat").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseStatParentPid("12 (cat) R").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseStatParentPid("12 (cat) R x1").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseStatParentPid("12 (cat) RR 1").status().code() ==
        Status::Code::kInvalidArgument);
}

TEST_CASE("pid list: children file contents", "[proc_parsers]") {
  auto pids = ParsePidList(ReadFixture("children.txt"));
  REQUIRE(pids.ok());
  CHECK(*pids == std::vector<int>{4301, 4302});
  auto empty = ParsePidList("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  auto blank = ParsePidList(" \n");
  REQUIRE(blank.ok());
  CHECK(blank->empty());
  CHECK(ParsePidList("12 x4").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParsePidList("12 -4").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParsePidList("0").status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("proc cgroup: v2 single line", "[proc_parsers]") {
  auto entries = ParseProcCgroup(ReadFixture("cgroup_v2.txt"));
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  CHECK((*entries)[0].hierarchy_id == 0);
  CHECK((*entries)[0].controllers.empty());
  CHECK((*entries)[0].path == "/system.slice/dynoguard.service");
}

TEST_CASE("proc cgroup: v1 and hybrid lines with controller lists",
          "[proc_parsers]") {
  auto entries = ParseProcCgroup(ReadFixture("cgroup_v1_hybrid.txt"));
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 7);
  CHECK((*entries)[2].hierarchy_id == 10);
  CHECK((*entries)[2].controllers == std::vector<std::string>{"memory"});
  CHECK((*entries)[2].path == "/user.slice/user-1000.slice/session-2.scope");
  CHECK((*entries)[3].controllers ==
        std::vector<std::string>{"cpu", "cpuacct"});
  CHECK((*entries)[5].controllers == std::vector<std::string>{"name=systemd"});
  CHECK((*entries)[6].hierarchy_id == 0);
  CHECK((*entries)[6].controllers.empty());
}

TEST_CASE("proc cgroup: a path may contain ':'", "[proc_parsers]") {
  auto entries = ParseProcCgroup("0::/a:b/c\n");
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  CHECK((*entries)[0].path == "/a:b/c");
}

TEST_CASE("proc cgroup: malformed lines are errors", "[proc_parsers]") {
  CHECK(ParseProcCgroup("garbage\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseProcCgroup("4:memory\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseProcCgroup("x:memory:/\n").status().code() ==
        Status::Code::kInvalidArgument);
  auto empty = ParseProcCgroup("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("cgroup memory limit: max and v1 unlimited mean none",
          "[proc_parsers]") {
  auto v2 = ParseCgroupMemoryLimit(ReadFixture("memory_max_unlimited.txt"));
  REQUIRE(v2.ok());
  CHECK_FALSE(v2->has_value());
  auto v1 = ParseCgroupMemoryLimit(
      ReadFixture("memory_limit_in_bytes_unlimited.txt"));
  REQUIRE(v1.ok());
  CHECK_FALSE(v1->has_value());
  auto huge = ParseCgroupMemoryLimit("4611686018427387904");  // 2^62
  REQUIRE(huge.ok());
  CHECK_FALSE(huge->has_value());
}

TEST_CASE("cgroup memory limit: a number is bytes", "[proc_parsers]") {
  auto heroku = ParseCgroupMemoryLimit(ReadFixture("memory_max_heroku.txt"));
  REQUIRE(heroku.ok());
  REQUIRE(heroku->has_value());
  CHECK(**heroku == 536870912);
  auto below = ParseCgroupMemoryLimit("4611686018427387903");  // 2^62 - 1
  REQUIRE(below.ok());
  CHECK(below->has_value());
}

TEST_CASE("cgroup memory limit: garbage is an error", "[proc_parsers]") {
  CHECK(ParseCgroupMemoryLimit("").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseCgroupMemoryLimit("maximum").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseCgroupMemoryLimit("-1").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseCgroupMemoryLimit("512M").status().code() ==
        Status::Code::kInvalidArgument);
}

TEST_CASE("cgroup bytes: memory.current and usage_in_bytes", "[proc_parsers]") {
  auto bytes = ParseCgroupBytes("123456789\n");
  REQUIRE(bytes.ok());
  CHECK(*bytes == 123456789);
  CHECK(ParseCgroupBytes("").status().code() == Status::Code::kInvalidArgument);
  CHECK(ParseCgroupBytes("12 34").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseCgroupBytes("max").status().code() ==
        Status::Code::kInvalidArgument);
}

TEST_CASE("meminfo: total, free and available in bytes", "[proc_parsers]") {
  auto info = ParseMeminfo(ReadFixture("meminfo.txt"));
  REQUIRE(info.ok());
  CHECK(info->total_bytes == 2014732 * kKiB);
  CHECK(info->free_bytes == 123456 * kKiB);
  CHECK(info->available_bytes == 1500000 * kKiB);
}

TEST_CASE("meminfo: optional lines default to zero, MemTotal is required",
          "[proc_parsers]") {
  auto old_kernel = ParseMeminfo("MemTotal: 1000 kB\n");
  REQUIRE(old_kernel.ok());
  CHECK(old_kernel->total_bytes == 1000 * kKiB);
  CHECK(old_kernel->free_bytes == 0);
  CHECK(old_kernel->available_bytes == 0);
  CHECK(ParseMeminfo("MemFree: 1000 kB\n").status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(ParseMeminfo("").status().code() == Status::Code::kInvalidArgument);
  CHECK(ParseMeminfo("MemTotal: 1000").status().code() ==
        Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace dynoguard::common
