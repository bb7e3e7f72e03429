#include "worker/transport/cloud/connection_state_machine.h"

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::worker {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

ConnectionOptions Options() {
  ConnectionOptions options;
  options.heartbeat_interval_ms = 30'000;
  options.failures_to_reconnect = 2;
  options.reconnect_base_ms = 1'000;
  options.reconnect_max_ms = 8'000;
  options.disconnected_retry_ms = 30'000;
  options.stale_after_ms = 90'000;
  return options;
}

// A machine brought into `state` at kT0 by real events.
ConnectionStateMachine InState(ConnectionState state) {
  ConnectionStateMachine machine(Options(), kT0);
  switch (state) {
    case ConnectionState::kStarting:
    case ConnectionState::kRestoring:
      break;
    case ConnectionState::kConnected:
      (void)machine.OnEvent(ConnectionEvent::kHeartbeatOk, kT0);
      break;
    case ConnectionState::kReconnecting:
      (void)machine.OnEvent(ConnectionEvent::kNetworkFailure, kT0, "http_503");
      break;
    case ConnectionState::kDisconnected:
      (void)machine.OnEvent(ConnectionEvent::kAuthError, kT0, "token_invalid");
      break;
  }
  REQUIRE(machine.state() == state);
  return machine;
}

struct Row {
  ConnectionState from;
  ConnectionEvent event;
  std::string_view reason;
  ConnectionState to;
  std::string_view to_reason;
  unsigned actions;
  int64_t next_heartbeat_offset;  // from kT0 + 1000, when scheduled
};

constexpr unsigned kSched = kScheduleHeartbeat;
constexpr unsigned kEmit = kEmitConnectionEvent;

// Every cell of the table, applied one second after reaching `from`.
const Row kRows[] = {
    // starting
    {ConnectionState::kStarting, ConnectionEvent::kHeartbeatOk, "",
     ConnectionState::kConnected, "", kEmit | kResumeQueue | kSched, 30'000},
    {ConnectionState::kStarting, ConnectionEvent::kNetworkFailure, "http_502",
     ConnectionState::kReconnecting, "http_502", kEmit | kPauseQueue | kSched,
     1'000},
    {ConnectionState::kStarting, ConnectionEvent::kAuthError, "",
     ConnectionState::kDisconnected, "token_invalid",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kStarting, ConnectionEvent::kPauseError,
     "account_blocked", ConnectionState::kDisconnected, "account_blocked",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kStarting, ConnectionEvent::kSendOk, "",
     ConnectionState::kStarting, "", 0, 0},
    {ConnectionState::kStarting, ConnectionEvent::kSendNetworkFailure, "",
     ConnectionState::kStarting, "", 0, 0},
    {ConnectionState::kStarting, ConnectionEvent::kTick, "",
     ConnectionState::kStarting, "", kSendHeartbeat, 0},
    // connected
    {ConnectionState::kConnected, ConnectionEvent::kHeartbeatOk, "",
     ConnectionState::kConnected, "", kSched, 30'000},
    {ConnectionState::kConnected, ConnectionEvent::kNetworkFailure,
     "network_error", ConnectionState::kConnected, "", kSched, 1'000},
    {ConnectionState::kConnected, ConnectionEvent::kAuthError, "190",
     ConnectionState::kDisconnected, "190", kEmit | kPauseQueue | kSched,
     30'000},
    {ConnectionState::kConnected, ConnectionEvent::kPauseError,
     "spam_rate_limited", ConnectionState::kDisconnected, "spam_rate_limited",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kConnected, ConnectionEvent::kSendOk, "",
     ConnectionState::kConnected, "", 0, 0},
    {ConnectionState::kConnected, ConnectionEvent::kSendNetworkFailure, "",
     ConnectionState::kConnected, "", 0, 0},
    {ConnectionState::kConnected, ConnectionEvent::kTick, "",
     ConnectionState::kConnected, "", 0, 0},
    // reconnecting (one failure so far)
    {ConnectionState::kReconnecting, ConnectionEvent::kHeartbeatOk, "",
     ConnectionState::kConnected, "", kEmit | kResumeQueue | kSched, 30'000},
    {ConnectionState::kReconnecting, ConnectionEvent::kNetworkFailure,
     "http_503", ConnectionState::kReconnecting, "http_503", kSched, 2'000},
    {ConnectionState::kReconnecting, ConnectionEvent::kNetworkFailure,
     "network_error", ConnectionState::kReconnecting, "network_error",
     kEmit | kPauseQueue | kSched, 2'000},
    {ConnectionState::kReconnecting, ConnectionEvent::kAuthError, "",
     ConnectionState::kDisconnected, "token_invalid",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kReconnecting, ConnectionEvent::kPauseError,
     "account_locked", ConnectionState::kDisconnected, "account_locked",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kReconnecting, ConnectionEvent::kSendOk, "",
     ConnectionState::kReconnecting, "http_503", 0, 0},
    {ConnectionState::kReconnecting, ConnectionEvent::kSendNetworkFailure, "",
     ConnectionState::kReconnecting, "http_503", 0, 0},
    {ConnectionState::kReconnecting, ConnectionEvent::kTick, "",
     ConnectionState::kReconnecting, "http_503", kSendHeartbeat, 0},
    // disconnected (token)
    {ConnectionState::kDisconnected, ConnectionEvent::kHeartbeatOk, "",
     ConnectionState::kConnected, "", kEmit | kResumeQueue | kSched, 30'000},
    {ConnectionState::kDisconnected, ConnectionEvent::kNetworkFailure, "",
     ConnectionState::kDisconnected, "token_invalid", kSched, 30'000},
    {ConnectionState::kDisconnected, ConnectionEvent::kAuthError,
     "token_invalid", ConnectionState::kDisconnected, "token_invalid", kSched,
     30'000},
    {ConnectionState::kDisconnected, ConnectionEvent::kPauseError,
     "payment_issue", ConnectionState::kDisconnected, "payment_issue",
     kEmit | kPauseQueue | kSched, 30'000},
    {ConnectionState::kDisconnected, ConnectionEvent::kSendOk, "",
     ConnectionState::kDisconnected, "token_invalid", 0, 0},
    {ConnectionState::kDisconnected, ConnectionEvent::kSendNetworkFailure, "",
     ConnectionState::kDisconnected, "token_invalid", 0, 0},
    {ConnectionState::kDisconnected, ConnectionEvent::kTick, "",
     ConnectionState::kDisconnected, "token_invalid", 0, 0},
};

TEST_CASE("ConnectionStateMachine: every state × event cell",
          "[connection_state]") {
  for (const Row& row : kRows) {
    INFO(ToString(row.from)
         << " + " << ToString(row.event) << "(" << row.reason << ")");
    ConnectionStateMachine machine = InState(row.from);
    int64_t now = kT0 + 1000;
    ConnectionStep step = machine.OnEvent(row.event, now, row.reason);
    CHECK(ToString(step.state) == ToString(row.to));
    CHECK(step.reason == row.to_reason);
    CHECK(step.actions == row.actions);
    if (row.actions & kScheduleHeartbeat) {
      CHECK(step.next_heartbeat_ms == now + row.next_heartbeat_offset);
      CHECK(machine.next_heartbeat_ms() == step.next_heartbeat_ms);
    }
    CHECK(machine.state() == step.state);
  }
}

TEST_CASE("ConnectionStateMachine: repeated failures reconnect with backoff",
          "[connection_state]") {
  ConnectionStateMachine machine = InState(ConnectionState::kConnected);
  int64_t now = kT0;
  ConnectionStep first =
      machine.OnEvent(ConnectionEvent::kNetworkFailure, now, "http_500");
  CHECK(first.state == ConnectionState::kConnected);
  ConnectionStep second =
      machine.OnEvent(ConnectionEvent::kNetworkFailure, now, "http_500");
  CHECK(second.state == ConnectionState::kReconnecting);
  CHECK(second.Has(kPauseQueue));
  CHECK(second.Has(kEmitConnectionEvent));
  CHECK(second.next_heartbeat_ms == now + 2'000);
  // Backoff 4, 8, then capped at 8 s.
  for (int64_t expected : {4'000, 8'000, 8'000, 8'000}) {
    ConnectionStep tick = machine.OnEvent(ConnectionEvent::kTick, now);
    CHECK_FALSE(tick.Has(kSendHeartbeat));  // not due yet
    now = machine.next_heartbeat_ms();
    tick = machine.OnEvent(ConnectionEvent::kTick, now);
    REQUIRE(tick.Has(kSendHeartbeat));
    ConnectionStep failed =
        machine.OnEvent(ConnectionEvent::kNetworkFailure, now, "http_500");
    CHECK(failed.next_heartbeat_ms == now + expected);
    CHECK_FALSE(failed.Has(kEmitConnectionEvent));  // same state and reason
  }
  now = machine.next_heartbeat_ms();
  REQUIRE(machine.OnEvent(ConnectionEvent::kTick, now).Has(kSendHeartbeat));
  ConnectionStep back = machine.OnEvent(ConnectionEvent::kHeartbeatOk, now);
  CHECK(back.state == ConnectionState::kConnected);
  CHECK(back.Has(kResumeQueue));
  CHECK(back.reason.empty());
  CHECK(machine.consecutive_failures() == 0);
}

TEST_CASE("ConnectionStateMachine: send failures count toward reconnecting",
          "[connection_state]") {
  ConnectionStateMachine machine = InState(ConnectionState::kConnected);
  CHECK(machine.OnEvent(ConnectionEvent::kSendNetworkFailure, kT0).actions ==
        0);
  (void)machine.OnEvent(ConnectionEvent::kSendOk, kT0);  // resets the count
  CHECK(machine.OnEvent(ConnectionEvent::kSendNetworkFailure, kT0).actions ==
        0);
  ConnectionStep step =
      machine.OnEvent(ConnectionEvent::kSendNetworkFailure, kT0, "http_502");
  CHECK(step.state == ConnectionState::kReconnecting);
  CHECK(step.reason == "http_502");
  CHECK(step.Has(kPauseQueue));
  CHECK(step.Has(kScheduleHeartbeat));
}

TEST_CASE("ConnectionStateMachine: never two heartbeats in flight",
          "[connection_state]") {
  ConnectionStateMachine machine(Options(), kT0);
  CHECK(machine.OnEvent(ConnectionEvent::kTick, kT0).Has(kSendHeartbeat));
  CHECK(machine.heartbeat_in_flight());
  CHECK_FALSE(machine.OnEvent(ConnectionEvent::kTick, kT0 + 60'000)
                  .Has(kSendHeartbeat));
  // A send's pause while the heartbeat is out leaves the scheduling to it.
  ConnectionStep pause =
      machine.OnEvent(ConnectionEvent::kPauseError, kT0, "account_blocked");
  CHECK_FALSE(pause.Has(kScheduleHeartbeat));
  ConnectionStep ok = machine.OnEvent(ConnectionEvent::kHeartbeatOk, kT0 + 5);
  CHECK(ok.state == ConnectionState::kConnected);
  CHECK_FALSE(machine.heartbeat_in_flight());
}

TEST_CASE("ConnectionStateMachine: a stale heartbeat means reconnecting",
          "[connection_state]") {
  ConnectionStateMachine machine = InState(ConnectionState::kConnected);
  REQUIRE(machine.OnEvent(ConnectionEvent::kTick, kT0 + 30'000)
              .Has(kSendHeartbeat));
  // The heartbeat hangs; the monitor notices.
  CHECK(machine.OnEvent(ConnectionEvent::kTick, kT0 + 90'000).actions == 0);
  ConnectionStep stale = machine.OnEvent(ConnectionEvent::kTick, kT0 + 90'001);
  CHECK(stale.state == ConnectionState::kReconnecting);
  CHECK(stale.reason == "heartbeat_stale");
  CHECK(stale.Has(kPauseQueue));
  CHECK(stale.Has(kEmitConnectionEvent));
  CHECK_FALSE(stale.Has(kSendHeartbeat));  // one is still in flight
  ConnectionStep failed =
      machine.OnEvent(ConnectionEvent::kNetworkFailure, kT0 + 95'000, "");
  CHECK(failed.reason == "network_error");
  CHECK(failed.Has(kScheduleHeartbeat));
}

TEST_CASE(
    "ConnectionStateMachine: a paused queue resumes after the token "
    "is fixed",
    "[connection_state]") {
  ConnectionStateMachine machine = InState(ConnectionState::kConnected);
  ConnectionStep pause =
      machine.OnEvent(ConnectionEvent::kPauseError, kT0, "token_invalid");
  CHECK(pause.state == ConnectionState::kDisconnected);
  int64_t now = pause.next_heartbeat_ms;
  REQUIRE(machine.OnEvent(ConnectionEvent::kTick, now).Has(kSendHeartbeat));
  ConnectionStep still = machine.OnEvent(ConnectionEvent::kAuthError, now);
  CHECK(still.state == ConnectionState::kDisconnected);
  CHECK_FALSE(still.Has(kEmitConnectionEvent));
  CHECK_FALSE(still.Has(kPauseQueue));
  now = still.next_heartbeat_ms;
  REQUIRE(machine.OnEvent(ConnectionEvent::kTick, now).Has(kSendHeartbeat));
  ConnectionStep fixed = machine.OnEvent(ConnectionEvent::kHeartbeatOk, now);
  CHECK(fixed.state == ConnectionState::kConnected);
  CHECK(fixed.Has(kResumeQueue));
  CHECK(fixed.Has(kEmitConnectionEvent));
  CHECK(machine.last_heartbeat_ok_ms() == now);
}

TEST_CASE("ConnectionStateMachine: options are clamped to sane values",
          "[connection_state]") {
  ConnectionOptions options;
  options.failures_to_reconnect = 0;
  options.reconnect_base_ms = 0;
  options.reconnect_max_ms = -5;
  ConnectionStateMachine machine(options, kT0);
  CHECK(machine.ReconnectDelayMs(1) == 1);
  CHECK(machine.ReconnectDelayMs(1000) == 1);
  CHECK(ToString(ConnectionEvent::kPauseError) == "pause_error");
  ConnectionStateMachine defaults(ConnectionOptions{}, kT0);
  CHECK(defaults.ReconnectDelayMs(1) == 1'000);
  CHECK(defaults.ReconnectDelayMs(7) == 60'000);
  CHECK(defaults.ReconnectDelayMs(100) == 60'000);
}

}  // namespace
}  // namespace dynoguard::worker
