#include "worker/inbound/inbound_processor.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "worker/inbound/cloud/webhook_parser.h"
#include "worker/inbound/inbound_policy.h"

namespace dynoguard::worker {
namespace {

using common::Status;

// A phone number is personal data: logs show its last four digits only.
std::string MaskPhone(std::string_view phone) {
  if (phone.size() <= 4) return "…";
  return "…" + std::string(phone.substr(phone.size() - 4));
}

// A sink's failure, with the kind of event it refused.
Status SinkFailure(std::string_view sink, const Status& status) {
  return Status::Unavailable(std::string(sink) + " sink: " + status.ToString());
}

// `message`'s entry in its sender's chat. A message without a time of its
// own is placed at its arrival.
ChatEntry ChatEntryFor(const WebhookMessage& message, int64_t received_ms) {
  ChatEntry entry;
  entry.id = message.message.id;
  entry.wa_id = message.message.from;
  entry.type = message.type.empty() ? "text" : message.type;
  entry.text = message.message.text;
  entry.timestamp_ms = message.message.timestamp_ms > 0
                           ? message.message.timestamp_ms
                           : received_ms;
  return entry;
}

}  // namespace

InboundProcessor::InboundProcessor(const common::Logger& log,
                                   InboundStore& store, InboundSinks sinks,
                                   std::function<int64_t()> now_ms,
                                   Options options)
    : log_(log),
      store_(store),
      sinks_(std::move(sinks)),
      now_ms_(std::move(now_ms)),
      options_(options) {}

InboundProcessor::~InboundProcessor() { Stop(); }

void InboundProcessor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void InboundProcessor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void InboundProcessor::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

InboundCounters InboundProcessor::counters() const {
  InboundCounters c;
  c.messages = messages_.load();
  c.statuses = statuses_.load();
  c.errors = errors_.load();
  c.duplicates = duplicates_.load();
  c.unparsable = unparsable_.load();
  c.malformed_parts = malformed_parts_.load();
  c.failures = failures_.load();
  return c;
}

void InboundProcessor::Run() {
  using Clock = std::chrono::steady_clock;
  std::chrono::milliseconds delay = options_.retry_min;
  bool backing_off = false;
  Clock::time_point retry_at;
  // The first pass runs at once: rows an earlier run left behind.
  bool pass_due = true;
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (!pass_due) {
      if (backing_off) {
        cv_.wait_until(lock, retry_at, [this] { return stop_; });
      } else {
        // Wakes at least every minute to prune when due.
        cv_.wait_for(lock, std::chrono::minutes(1),
                     [this] { return stop_ || woken_; });
      }
      if (stop_) break;
    }
    woken_ = false;
    pass_due = false;
    lock.unlock();
    PruneIfDue();
    Status status = ProcessPending();
    lock.lock();
    if (status.ok()) {
      backing_off = false;
      delay = options_.retry_min;
      // Rows committed while the pass ran were seen by it or set woken_.
    } else {
      backing_off = true;
      retry_at = Clock::now() + delay;
      delay = std::min(delay * 2, options_.retry_max);
    }
    if (backing_off && Clock::now() >= retry_at) pass_due = true;
  }
}

void InboundProcessor::PruneIfDue() {
  std::lock_guard lock(process_mu_);
  const int64_t now = now_ms_();
  if (last_prune_ms_ && now - *last_prune_ms_ < options_.prune_interval_ms) {
    return;
  }
  last_prune_ms_ = now;
  common::Result<InboundPruneResult> pruned = store_.Prune(now);
  if (!pruned.ok()) {
    log_.Warn("inbound-prune-failed", {{"error", pruned.status().ToString()}});
    return;
  }
  if (pruned->seen + pruned->inbox + pruned->contacts + pruned->chat > 0) {
    log_.Info("inbound-pruned", {{"seen", pruned->seen},
                                 {"inbox", pruned->inbox},
                                 {"contacts", pruned->contacts},
                                 {"chat", pruned->chat}});
  }
}

Status InboundProcessor::ProcessPending() {
  std::lock_guard lock(process_mu_);
  Status status = Status::Ok();
  while (status.ok()) {
    common::Result<std::vector<InboxRow>> rows =
        store_.Unprocessed(std::max<size_t>(options_.batch_rows, 1));
    if (!rows.ok()) {
      status = rows.status();
      break;
    }
    if (rows->empty()) break;
    for (const InboxRow& row : *rows) {
      status = ProcessRow(row);
      if (!status.ok()) break;
    }
  }
  if (!status.ok()) {
    failures_.fetch_add(1);
    if (!failing_) {
      log_.Warn("inbound-processing-failed",
                {{"error", status.ToString()},
                 {"",
                  "the inbox row stays unprocessed and is retried with "
                  "backoff"}});
    }
    failing_ = true;
  } else if (failing_) {
    failing_ = false;
    log_.Info("inbound-processing-recovered");
  }
  return status;
}

Status InboundProcessor::ProcessRow(const InboxRow& row) {
  common::Result<WebhookBatch> batch = ParseWebhook(row.body);
  if (!batch.ok()) {
    // It passed the signature check: Meta's own body in a shape we do not
    // read. Kept for inspection, never retried (it would never parse).
    unparsable_.fetch_add(1);
    log_.Warn("webhook-unparsable", {{"seq", row.seq},
                                     {"source", ToString(row.source)},
                                     {"bytes", row.body.size()},
                                     {"error", batch.status().ToString()}});
    return store_.MarkProcessed(row.seq, /*parsed=*/false, now_ms_());
  }

  // Which events are new: not seen before, nor earlier in this body (Meta
  // may repeat an event within one batch).
  std::unordered_set<std::string> in_row;
  bool failed_read = false;
  Status read_status = Status::Ok();
  auto is_new = [&](const std::string& key) {
    if (!in_row.insert(key).second) return false;
    common::Result<bool> seen = store_.IsSeen(key);
    if (!seen.ok()) {
      failed_read = true;
      read_status = seen.status();
      return false;
    }
    return !*seen;
  };
  struct Pending {
    std::string key;
    const WebhookMessage* message = nullptr;
    const WebhookStatus* status = nullptr;
    const WebhookError* error = nullptr;
  };
  std::vector<Pending> pending;
  std::vector<std::pair<std::string, int64_t>> windows;
  std::vector<ChatEntry> chat;
  for (const WebhookMessage& message : batch->messages) {
    std::string key = SeenMessageKey(message.message.id);
    if (!is_new(key)) {
      if (failed_read) return read_status;
      duplicates_.fetch_add(1);
      log_.Debug("inbound-duplicate", {{"id", message.message.id}});
      continue;
    }
    windows.emplace_back(
        message.message.from,
        WindowStartMs(message.message.timestamp_ms, row.received_ms));
    chat.push_back(ChatEntryFor(message, row.received_ms));
    pending.push_back({std::move(key), &message, nullptr, nullptr});
  }
  for (const WebhookStatus& status : batch->statuses) {
    std::string key = SeenStatusKey(status.update.provider_id,
                                    ToString(status.update.status));
    if (!is_new(key)) {
      if (failed_read) return read_status;
      duplicates_.fetch_add(1);
      continue;
    }
    pending.push_back({std::move(key), nullptr, &status, nullptr});
  }
  for (size_t i = 0; i < batch->errors.size(); ++i) {
    std::string key = SeenErrorKey(row.seq, i);
    if (!is_new(key)) {
      if (failed_read) return read_status;
      continue;
    }
    pending.push_back({std::move(key), nullptr, nullptr, &batch->errors[i]});
  }

  // The contacts' windows and the chats' messages first, in one commit: a
  // message a sink has taken always has its window and its place in the
  // chat recorded.
  if (Status s = store_.RecordInbounds(windows, chat); !s.ok()) return s;

  // The sinks, in body order. The keys of the events they took are recorded
  // after them (one commit with the row's processed mark): a crash before
  // that commit only repeats those events to their sinks.
  std::vector<std::string> done;
  auto stop = [&](std::string_view sink, const Status& status) {
    // Keep what went through, so a retry does not repeat it; if even that
    // fails, the retry repeats it (allowed).
    (void)store_.MarkSeenAll(done, now_ms_(), std::nullopt);
    return SinkFailure(sink, status);
  };
  for (const Pending& p : pending) {
    if (p.message != nullptr) {
      const WebhookMessage& message = *p.message;
      if (sinks_.on_message) {
        if (Status s = sinks_.on_message(message); !s.ok()) {
          return stop("message", s);
        }
      }
      messages_.fetch_add(1);
      log_.Info("inbound", {{"id", message.message.id},
                            {"from", MaskPhone(message.message.from)},
                            {"type", message.type},
                            {"source", ToString(row.source)}});
    } else if (p.status != nullptr) {
      const WebhookStatus& status = *p.status;
      if (sinks_.on_status) {
        if (Status s = sinks_.on_status(status); !s.ok()) {
          return stop("status", s);
        }
      }
      statuses_.fetch_add(1);
      log_.Debug("inbound-status",
                 {{"provider_id", status.update.provider_id},
                  {"status", ToString(status.update.status)}});
    } else {
      const WebhookError& error = *p.error;
      log_.Warn("webhook-error",
                {{"code", error.code}, {"title", error.title}});
      if (sinks_.on_error) {
        if (Status s = sinks_.on_error(error); !s.ok()) {
          return stop("error", s);
        }
      }
      errors_.fetch_add(1);
    }
    done.push_back(p.key);
  }
  if (Status s = store_.MarkSeenAll(done, now_ms_(), row.seq); !s.ok()) {
    return s;
  }
  // The parts the parser left out, once the row is done: a pass retried
  // after a sink failure does not log them again.
  for (const MalformedWebhookPart& part : batch->malformed) {
    malformed_parts_.fetch_add(1);
    log_.Warn("webhook-part-skipped", {{"seq", row.seq},
                                       {"source", ToString(row.source)},
                                       {"part", part.part},
                                       {"error", part.error}});
  }
  return Status::Ok();
}

}  // namespace dynoguard::worker
