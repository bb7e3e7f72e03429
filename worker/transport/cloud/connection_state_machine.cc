#include "worker/transport/cloud/connection_state_machine.h"

#include <algorithm>
#include <utility>

namespace dynoguard::worker {

namespace {

// Rows of the table. kRestoring belongs to session-store transports; here it
// behaves like starting.
int Row(ConnectionState state) {
  switch (state) {
    case ConnectionState::kStarting:
    case ConnectionState::kRestoring:
      return 0;
    case ConnectionState::kConnected:
      return 1;
    case ConnectionState::kReconnecting:
      return 2;
    case ConnectionState::kDisconnected:
      return 3;
  }
  return 0;
}

bool IsDown(ConnectionState state) {
  return state == ConnectionState::kReconnecting ||
         state == ConnectionState::kDisconnected;
}

std::string_view Or(std::string_view reason, std::string_view fallback) {
  return reason.empty() ? fallback : reason;
}

}  // namespace

std::string_view ToString(ConnectionEvent event) {
  switch (event) {
    case ConnectionEvent::kHeartbeatOk:
      return "heartbeat_ok";
    case ConnectionEvent::kNetworkFailure:
      return "network_failure";
    case ConnectionEvent::kAuthError:
      return "auth_error";
    case ConnectionEvent::kPauseError:
      return "pause_error";
    case ConnectionEvent::kSendOk:
      return "send_ok";
    case ConnectionEvent::kSendNetworkFailure:
      return "send_network_failure";
    case ConnectionEvent::kTick:
      return "tick";
  }
  return "?";
}

using M = ConnectionStateMachine;

// state × event. Columns: heartbeat_ok, network_failure, auth_error,
// pause_error, send_ok, send_network_failure, tick.
const M::Handler M::kTable[4][kConnectionEventCount] = {
    // starting: the first heartbeat decides; one failure is enough to say
    // reconnecting.
    {&M::Connect, &M::Fail, &M::Unauthorized, &M::Pause, &M::SendOk,
     &M::FailSend, &M::Tick},
    // connected: heartbeats keep it; repeated failures or a stale heartbeat
    // lose it.
    {&M::KeepAlive, &M::Fail, &M::Unauthorized, &M::Pause, &M::SendOk,
     &M::FailSend, &M::TickConnected},
    // reconnecting: heartbeats with backoff until one succeeds. The queue is
    // paused, so a straggling send's outcome changes nothing.
    {&M::Connect, &M::RetryLater, &M::Unauthorized, &M::Pause, &M::Ignore,
     &M::Ignore, &M::Tick},
    // disconnected (token or account): heartbeats at a steady pace; the first
    // success resumes.
    {&M::Connect, &M::FailWhileDown, &M::Unauthorized, &M::Pause, &M::Ignore,
     &M::Ignore, &M::Tick},
};

ConnectionStateMachine::ConnectionStateMachine(ConnectionOptions options,
                                               int64_t now_ms)
    : options_(std::move(options)), next_heartbeat_ms_(now_ms) {
  options_.failures_to_reconnect = std::max(1, options_.failures_to_reconnect);
  options_.reconnect_base_ms = std::max<int64_t>(1, options_.reconnect_base_ms);
  options_.reconnect_max_ms =
      std::max(options_.reconnect_base_ms, options_.reconnect_max_ms);
}

ConnectionStep ConnectionStateMachine::OnEvent(ConnectionEvent event,
                                               int64_t now_ms,
                                               std::string_view reason) {
  ConnectionStep step;
  int column = static_cast<int>(event);
  if (column >= 0 && column < kConnectionEventCount) {
    (this->*kTable[Row(state_)][column])(now_ms, reason, step);
  }
  step.state = state_;
  step.reason = reason_;
  return step;
}

int64_t ConnectionStateMachine::ReconnectDelayMs(int failures) const {
  int64_t delay = options_.reconnect_base_ms;
  for (int i = 1; i < failures && delay < options_.reconnect_max_ms; ++i) {
    delay *= 2;
  }
  return std::min(delay, options_.reconnect_max_ms);
}

void ConnectionStateMachine::Enter(ConnectionState state,
                                   std::string_view reason,
                                   ConnectionStep& step) {
  bool was_down = IsDown(state_);
  bool changed = state != state_ || reason != reason_;
  if (!changed) return;
  step.actions |= kEmitConnectionEvent;
  if (state == ConnectionState::kConnected && state_ != state) {
    step.actions |= kResumeQueue;
  }
  if (IsDown(state) && (!was_down || reason != reason_)) {
    step.actions |= kPauseQueue;
  }
  state_ = state;
  reason_ = std::string(reason);
}

void ConnectionStateMachine::Schedule(int64_t at_ms, ConnectionStep& step) {
  next_heartbeat_ms_ = at_ms;
  step.actions |= kScheduleHeartbeat;
  step.next_heartbeat_ms = at_ms;
}

void ConnectionStateMachine::Connect(int64_t now, std::string_view,
                                     ConnectionStep& step) {
  heartbeat_in_flight_ = false;
  failures_ = 0;
  last_ok_ms_ = now;
  Enter(ConnectionState::kConnected, "", step);
  Schedule(now + options_.heartbeat_interval_ms, step);
}

void ConnectionStateMachine::KeepAlive(int64_t now, std::string_view,
                                       ConnectionStep& step) {
  heartbeat_in_flight_ = false;
  failures_ = 0;
  last_ok_ms_ = now;
  Schedule(now + options_.heartbeat_interval_ms, step);
}

void ConnectionStateMachine::Fail(int64_t now, std::string_view reason,
                                  ConnectionStep& step) {
  heartbeat_in_flight_ = false;
  ++failures_;
  if (state_ != ConnectionState::kConnected ||
      failures_ >= options_.failures_to_reconnect) {
    Enter(ConnectionState::kReconnecting, Or(reason, "network_error"), step);
  }
  // Still connected after one failure: check again soon rather than in a
  // full heartbeat interval.
  Schedule(now + ReconnectDelayMs(failures_), step);
}

void ConnectionStateMachine::FailSend(int64_t now, std::string_view reason,
                                      ConnectionStep& step) {
  ++failures_;
  if (failures_ < options_.failures_to_reconnect) return;
  Enter(ConnectionState::kReconnecting, Or(reason, "network_error"), step);
  if (!heartbeat_in_flight_) Schedule(now + ReconnectDelayMs(failures_), step);
}

void ConnectionStateMachine::RetryLater(int64_t now, std::string_view reason,
                                        ConnectionStep& step) {
  heartbeat_in_flight_ = false;
  ++failures_;
  Enter(ConnectionState::kReconnecting, Or(reason, "network_error"), step);
  Schedule(now + ReconnectDelayMs(failures_), step);
}

void ConnectionStateMachine::FailWhileDown(int64_t now, std::string_view,
                                           ConnectionStep& step) {
  // The token or account problem is still the reason to show; the network
  // failing too does not make it better.
  heartbeat_in_flight_ = false;
  Schedule(now + options_.disconnected_retry_ms, step);
}

void ConnectionStateMachine::Unauthorized(int64_t now, std::string_view reason,
                                          ConnectionStep& step) {
  heartbeat_in_flight_ = false;
  failures_ = 0;
  Enter(ConnectionState::kDisconnected, Or(reason, "token_invalid"), step);
  Schedule(now + options_.disconnected_retry_ms, step);
}

void ConnectionStateMachine::Pause(int64_t now, std::string_view reason,
                                   ConnectionStep& step) {
  failures_ = 0;
  Enter(ConnectionState::kDisconnected, Or(reason, "paused"), step);
  // An in-flight heartbeat schedules the next one when it ends.
  if (!heartbeat_in_flight_) {
    Schedule(now + options_.disconnected_retry_ms, step);
  }
}

void ConnectionStateMachine::SendOk(int64_t, std::string_view,
                                    ConnectionStep&) {
  failures_ = 0;
}

void ConnectionStateMachine::Ignore(int64_t, std::string_view,
                                    ConnectionStep&) {}

void ConnectionStateMachine::Tick(int64_t now, std::string_view,
                                  ConnectionStep& step) {
  if (heartbeat_in_flight_ || now < next_heartbeat_ms_) return;
  heartbeat_in_flight_ = true;
  step.actions |= kSendHeartbeat;
}

void ConnectionStateMachine::TickConnected(int64_t now, std::string_view reason,
                                           ConnectionStep& step) {
  if (now - last_ok_ms_ > options_.stale_after_ms) {
    Enter(ConnectionState::kReconnecting, "heartbeat_stale", step);
  }
  Tick(now, reason, step);
}

}  // namespace dynoguard::worker
