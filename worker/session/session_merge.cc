#include "worker/session/session_merge.h"

#include <string>
#include <utility>
#include <vector>

#include "worker/inbound/inbound_policy.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;

namespace {

// Restores `messages` in order; counts into `restored` / `skipped`.
Status RestoreMessages(MessageQueue& queue,
                       const std::vector<OutboundMessage>& messages,
                       size_t* restored, size_t* skipped) {
  for (const OutboundMessage& message : messages) {
    Result<bool> inserted = queue.Restore(message);
    if (!inserted.ok()) return inserted.status();
    ++*(inserted.value() ? restored : skipped);
  }
  return Status::Ok();
}

}  // namespace

Result<MergeReport> MergeSession(const SessionState& state,
                                 const SessionSources& sources,
                                 int64_t now_ms) {
  MergeReport report;
  if (Status s =
          RestoreMessages(*sources.queue, state.pending,
                          &report.restored.pending, &report.skipped.pending);
      !s.ok()) {
    return s;
  }
  if (Status s = RestoreMessages(*sources.queue, state.awaiting_status,
                                 &report.restored.awaiting_status,
                                 &report.skipped.awaiting_status);
      !s.ok()) {
    return s;
  }

  std::vector<std::pair<std::string, int64_t>> seen;
  for (const SeenKey& key : state.seen) {
    if (key.at_ms < SeenPruneCutoffMs(now_ms)) {
      ++report.skipped.seen;
      continue;
    }
    seen.emplace_back(key.key, key.at_ms);
  }
  if (Status s = sources.inbox->RestoreSeen(seen); !s.ok()) return s;
  report.restored.seen = seen.size();

  std::vector<std::pair<std::string, int64_t>> windows;
  for (const ContactWindow& window : state.windows) {
    if (!WindowOpenAt(window.last_inbound_ms, now_ms)) {
      ++report.skipped.windows;
      continue;
    }
    windows.emplace_back(window.wa_id, window.last_inbound_ms);
  }
  if (Status s = sources.inbox->RecordInbounds(windows); !s.ok()) return s;
  report.restored.windows = windows.size();

  // Bodies answered 200 that the old instance had not processed: processed
  // here (the dedup keys just restored keep a repeat from counting twice).
  for (const InboxRow& row : state.inbox) {
    Result<int64_t> seq =
        sources.inbox->Append(row.source, row.body, row.received_ms);
    if (!seq.ok()) return seq.status();
    ++report.restored.inbox;
  }

  if (sources.outbox == nullptr) {
    report.skipped.outbox = state.outbox.size();
  } else if (!state.outbox.empty()) {
    Result<int> inserted = sources.outbox->Restore(state.outbox);
    if (!inserted.ok()) return inserted.status();
    report.restored.outbox = static_cast<size_t>(inserted.value());
    report.skipped.outbox = state.outbox.size() - report.restored.outbox;
  }
  return report;
}

}  // namespace dynoguard::worker
