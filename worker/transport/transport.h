// Transport: the seam between the worker and WhatsApp. The sandbox (an
// in-process simulated WhatsApp) implements it now; the Cloud API transport
// implements the same interface.
#ifndef DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_
#define DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_

#include <cstdint>
#include <string_view>

#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// Receives what the transport hears from WhatsApp. Implementations are
// thread-safe: events may arrive from the loop thread or an HTTP thread.
class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  virtual void OnInbound(const InboundMessage& message) = 0;
  virtual void OnStatus(const StatusUpdate& update) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // "sandbox" or "cloud".
  virtual std::string_view name() const = 0;
  virtual ConnectionState state() const = 0;

  // Delivers one message and returns the provider's answer. Blocking; the
  // dispatcher calls it from one thread at a time (single-flight), never from
  // the loop thread.
  virtual SendResult Send(const SendRequest& request) = 0;

  // Called on the loop thread by one owner, the worker's "transport-poll"
  // periodic task (the dispatcher does not poll): emits the events that are
  // due at `now_ms` (e.g. the sandbox's delivered/read receipts) to `events`.
  virtual void Poll(int64_t now_ms, TransportEvents& events) = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_TRANSPORT_H_
