#include "worker/app/periodic_tasks.h"

#include <uv.h>

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;

TEST_CASE("periodic tasks: each row runs at its period, a 0 period is off",
          "[periodic_tasks]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  int fast = 0;
  int off = 0;
  PeriodicTimers timers;
  timers.Start(&loop, {
                          {"fast", milliseconds(1),
                           [&] {
                             if (++fast == 3) timers.Close();
                           }},
                          {"off", milliseconds(0), [&] { ++off; }},
                      });
  CHECK(timers.tasks().size() == 2);
  CHECK(timers.tasks()[0].name == "fast");
  // Runs until the fast task closed the timers (and their close callbacks
  // freed them): the loop then has nothing left and returns.
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(fast == 3);
  CHECK(off == 0);
  timers.Close();  // idempotent
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace dynoguard::worker
