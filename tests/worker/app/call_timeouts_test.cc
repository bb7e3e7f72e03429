#include "worker/app/call_timeouts.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("call timeouts: every call ends 3 s before the stop timeout",
          "[call_timeouts]") {
  // The default (20 s): the ceilings apply.
  CallTimeouts d = CallTimeoutsFor(seconds(20));
  CHECK(d.client_max == milliseconds(15000));
  CHECK(d.graph_total == milliseconds(10000));
  CHECK(d.graph_connect == milliseconds(5000));

  // A short stop timeout shortens every call.
  CallTimeouts s = CallTimeoutsFor(seconds(8));
  CHECK(s.client_max == milliseconds(5000));
  CHECK(s.graph_total == milliseconds(5000));
  CHECK(s.graph_connect == milliseconds(5000));
  CallTimeouts t = CallTimeoutsFor(seconds(5));
  CHECK(t.client_max == milliseconds(2000));
  CHECK(t.graph_total == milliseconds(2000));
  CHECK(t.graph_connect == milliseconds(2000));

  // Never below 1 s, whatever the stop timeout (the config allows 1 s).
  CallTimeouts m = CallTimeoutsFor(seconds(1));
  CHECK(m.client_max == milliseconds(1000));
  CHECK(m.graph_total == milliseconds(1000));
  CHECK(m.graph_connect == milliseconds(1000));

  // A long one keeps the ceilings.
  CallTimeouts l = CallTimeoutsFor(seconds(300));
  CHECK(l.client_max == milliseconds(15000));
  CHECK(l.graph_total == milliseconds(10000));
}

}  // namespace
}  // namespace dynoguard::worker
