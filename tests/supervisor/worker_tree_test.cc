#include "supervisor/worker_tree.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace dynoguard::supervisor {
namespace {

// /proc/<pid>/stat with its parent, under a fake root.
void AddStat(const testing::TempDir& root, int pid, int ppid) {
  std::string dir = root.path() + "/proc/" + std::to_string(pid);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/stat")
      << pid << " (p) S " << ppid << " 1 1 0 -1 0 0 0\n";
}

TEST_CASE("worker tree: descendants of the supervisor belong to the worker",
          "[worker_tree]") {
  testing::TempDir root;
  // 10 supervisor ── 20 worker ── 30 ── 40; 50 re-parented to 10 after a
  // double fork; 60 unrelated under init; 70 a child of unrelated 60.
  AddStat(root, 10, 1);
  AddStat(root, 20, 10);
  AddStat(root, 30, 20);
  AddStat(root, 40, 30);
  AddStat(root, 50, 10);
  AddStat(root, 60, 1);
  AddStat(root, 70, 60);
  common::ProcFs fs(root.path());
  WorkerTree tree(fs, 10);
  CHECK(tree.Contains(20, 20));
  CHECK(tree.Contains(20, 40));
  CHECK(tree.Contains(20, 50));
  CHECK_FALSE(tree.Contains(20, 60));
  CHECK_FALSE(tree.Contains(20, 70));
  CHECK_FALSE(tree.Contains(20, 99));  // gone
  CHECK_FALSE(tree.Contains(20, 10));  // the supervisor itself
  CHECK_FALSE(tree.Contains(20, 0));
}

TEST_CASE("worker tree: supervisor as PID 1 trusts its descendants",
          "[worker_tree]") {
  testing::TempDir root;
  AddStat(root, 7, 1);
  AddStat(root, 8, 7);
  common::ProcFs fs(root.path());
  WorkerTree tree(fs, 1);
  CHECK(tree.Contains(7, 8));
}

// A child of this test that left its group by a double fork is signalled by
// SignalAll, and once only.
TEST_CASE("worker tree: SignalAll reaches a process that left the group",
          "[worker_tree]") {
  // This test process plays the subreaper.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t worker = fork();
  REQUIRE(worker >= 0);
  if (worker == 0) {
    setpgid(0, 0);
    if (fork() == 0) {
      setsid();  // leaves the worker's group
      (void)!write(ready[1], "x", 1);
      for (;;) pause();
    }
    for (;;) pause();
  }
  setpgid(worker, worker);
  char byte;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  close(ready[0]);
  close(ready[1]);

  common::ProcFs fs;
  WorkerTree tree(fs, getpid());
  CHECK(tree.AnyLeft(worker));
  CHECK(tree.SignalAll(worker, SIGKILL) == 1);
  int status = 0;
  int reaped = 0;
  // Both the worker and the re-parented helper come back to us.
  while (reaped < 2 && waitpid(-1, &status, 0) > 0) {
    CHECK(WIFSIGNALED(status));
    ++reaped;
  }
  CHECK(reaped == 2);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
}  // namespace dynoguard::supervisor
