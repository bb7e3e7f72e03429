// ConnectionStateMachine: the Cloud API keep-alive as a pure state × event
// table (SPEC §5 states starting, connected, reconnecting, disconnected). The
// driver feeds it heartbeat and send outcomes and periodic ticks, each with
// `now`; it answers the next state and the actions to take (send a heartbeat,
// schedule the next one with backoff, pause or resume the queue, emit a
// `connection` event). No clock, no I/O.
#ifndef DYNOGUARD_WORKER_TRANSPORT_CLOUD_CONNECTION_STATE_MACHINE_H_
#define DYNOGUARD_WORKER_TRANSPORT_CLOUD_CONNECTION_STATE_MACHINE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// What happened. Heartbeat events answer a kSendHeartbeat action; send events
// come from the dispatcher's sends.
enum class ConnectionEvent {
  kHeartbeatOk,         // GET /{phone-number-id} answered 200
  kNetworkFailure,      // a heartbeat got no answer or a 5xx (reason: the code)
  kAuthError,           // a heartbeat got 0/190 or HTTP 401, or another
                        // 4xx (reason: "token_invalid" by default, else the
                        // code: a wrong phone number id is no network
                        // problem). Sends report every pause-class code,
                        // token included, as kPauseError
  kPauseError,          // a send got a pause-class code (reason: PauseReason)
  kSendOk,              // a send was accepted
  kSendNetworkFailure,  // a send got no answer or a 5xx
  kTick,                // time passes (CONNECTION_CHECK_S, or a timer firing)
};
inline constexpr int kConnectionEventCount = 7;

// "heartbeat_ok", "network_failure", "auth_error", "pause_error", "send_ok",
// "send_network_failure", "tick".
std::string_view ToString(ConnectionEvent event);

// Bits of ConnectionStep::actions.
enum ConnectionAction : unsigned {
  kSendHeartbeat = 1u << 0,        // start a heartbeat now
  kScheduleHeartbeat = 1u << 1,    // arm a timer for next_heartbeat_ms
  kPauseQueue = 1u << 2,           // stop sending; nothing fails (reason)
  kResumeQueue = 1u << 3,          // sending may go on
  kEmitConnectionEvent = 1u << 4,  // forward {"state","reason"?}
};

struct ConnectionOptions {
  // Time between heartbeats while connected. Default: 30 s (HEARTBEAT_S).
  int64_t heartbeat_interval_ms = 30'000;
  // Consecutive network failures (heartbeats or sends) that take a connected
  // transport to reconnecting. From starting, the first failure does.
  // Default: 2.
  int failures_to_reconnect = 2;
  // Reconnect attempts: base * 2^(n-1) after the n-th failure, capped.
  // Defaults: 1 s, 60 s.
  int64_t reconnect_base_ms = 1'000;
  int64_t reconnect_max_ms = 60'000;
  // While disconnected (token or account), heartbeats continue at this pace
  // so a fixed token resumes by itself. Default: 30 s.
  int64_t disconnected_retry_ms = 30'000;
  // Connected but no successful heartbeat for this long (a hung call, a lost
  // timer): reconnecting. Checked on kTick. Default: 3 heartbeats (90 s).
  int64_t stale_after_ms = 90'000;
};

// One step's outcome.
struct ConnectionStep {
  ConnectionState state = ConnectionState::kStarting;
  std::string reason;             // why not connected; empty when connected
  unsigned actions = 0;           // ConnectionAction bits
  int64_t next_heartbeat_ms = 0;  // meaningful with kScheduleHeartbeat

  bool Has(ConnectionAction action) const { return (actions & action) != 0; }
};

// The machine. Not thread-safe: the loop thread owns it.
class ConnectionStateMachine {
 public:
  // Starts in `starting` with a heartbeat due at `now_ms`.
  ConnectionStateMachine(ConnectionOptions options, int64_t now_ms);

  // Applies `event` at `now_ms`. `reason` is the error code or pause reason
  // for failure events (a default is used when empty), ignored otherwise.
  // kEmitConnectionEvent is set exactly when the state or the reason
  // changed; kPauseQueue when entering reconnecting/disconnected (or when the
  // pause reason changes), kResumeQueue when entering connected. A heartbeat
  // is never started while one is in flight.
  ConnectionStep OnEvent(ConnectionEvent event, int64_t now_ms,
                         std::string_view reason = {});

  ConnectionState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  int consecutive_failures() const { return failures_; }
  bool heartbeat_in_flight() const { return heartbeat_in_flight_; }
  int64_t next_heartbeat_ms() const { return next_heartbeat_ms_; }
  int64_t last_heartbeat_ok_ms() const { return last_ok_ms_; }  // 0: never

  // The delay before the reconnect attempt after `failures` failures.
  int64_t ReconnectDelayMs(int failures) const;

 private:
  using Handler = void (ConnectionStateMachine::*)(int64_t now_ms,
                                                   std::string_view reason,
                                                   ConnectionStep& step);
  static const Handler kTable[4][kConnectionEventCount];

  // The table's cells.
  void Connect(int64_t now, std::string_view reason, ConnectionStep& step);
  void KeepAlive(int64_t now, std::string_view reason, ConnectionStep& step);
  void Fail(int64_t now, std::string_view reason, ConnectionStep& step);
  void FailSend(int64_t now, std::string_view reason, ConnectionStep& step);
  void RetryLater(int64_t now, std::string_view reason, ConnectionStep& step);
  void FailWhileDown(int64_t now, std::string_view reason,
                     ConnectionStep& step);
  void Unauthorized(int64_t now, std::string_view reason, ConnectionStep& step);
  void Pause(int64_t now, std::string_view reason, ConnectionStep& step);
  void SendOk(int64_t now, std::string_view reason, ConnectionStep& step);
  void Ignore(int64_t now, std::string_view reason, ConnectionStep& step);
  void Tick(int64_t now, std::string_view reason, ConnectionStep& step);
  void TickConnected(int64_t now, std::string_view reason,
                     ConnectionStep& step);

  void Enter(ConnectionState state, std::string_view reason,
             ConnectionStep& step);
  void Schedule(int64_t at_ms, ConnectionStep& step);

  ConnectionOptions options_;
  ConnectionState state_ = ConnectionState::kStarting;
  std::string reason_;
  int failures_ = 0;
  bool heartbeat_in_flight_ = false;
  int64_t next_heartbeat_ms_ = 0;
  int64_t last_ok_ms_ = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_CLOUD_CONNECTION_STATE_MACHINE_H_
