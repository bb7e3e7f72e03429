#include "worker/session/session_collector.h"

#include <utility>

#include "worker/inbound/inbound_policy.h"
#include "worker/session/compressed_size.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;

Result<SessionState> CollectSession(const SessionSources& sources,
                                    int64_t now_ms, const CollectLimits& limits,
                                    CollectReport* report) {
  SessionState state;
  state.saved_ms = now_ms;
  CollectReport unused;
  if (report == nullptr) report = &unused;
  *report = CollectReport();

  if (limits.pending_max_bytes != 0) {
    // A first pass that keeps nothing: only when they fit are the messages
    // read again to be kept (then they are at most a snapshot's worth).
    CompressedSize size;
    Status read = sources.queue->ForEachPending([&](OutboundMessage&& m) {
      size.Add(MessageToJson(m));
      return size.encoded_bytes() <= limits.pending_max_bytes;
    });
    if (!read.ok()) return read;
    size.Finish();
    if (size.encoded_bytes() > limits.pending_max_bytes) {
      report->pending_over_cap = true;
      return state;
    }
  }
  auto pending = sources.queue->Pending();
  if (!pending.ok()) return pending.status();
  state.pending = std::move(pending.value());
  auto awaiting = sources.queue->AwaitingStatus(now_ms - kSeenRetentionMs,
                                                limits.awaiting_status);
  if (!awaiting.ok()) return awaiting.status();
  state.awaiting_status = std::move(awaiting.value());

  auto inbox = sources.inbox->Unprocessed(limits.inbox);
  if (!inbox.ok()) return inbox.status();
  state.inbox = std::move(inbox.value());
  auto seen = sources.inbox->SeenKeys(limits.seen);
  if (!seen.ok()) return seen.status();
  state.seen.reserve(seen->size());
  for (auto& [key, at_ms] : seen.value()) {
    state.seen.push_back(SeenKey{std::move(key), at_ms});
  }
  auto windows = sources.inbox->OpenWindows(now_ms, limits.windows);
  if (!windows.ok()) return windows.status();
  state.windows.reserve(windows->size());
  for (auto& [wa_id, at_ms] : windows.value()) {
    state.windows.push_back(ContactWindow{std::move(wa_id), at_ms});
  }

  if (sources.outbox != nullptr) {
    auto outbox = sources.outbox->Pending(limits.outbox);
    if (!outbox.ok()) return outbox.status();
    state.outbox = std::move(outbox.value());
  }
  if (sources.connection) state.connection = sources.connection();
  if (sources.counters) state.counters = sources.counters();
  return state;
}

}  // namespace dynoguard::worker
