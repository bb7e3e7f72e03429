#include "worker/transport/sandbox/sandbox_transport.h"

#include <fmt/format.h>

#include <algorithm>

#include "worker/model/provider_error.h"

namespace dynoguard::worker {

SandboxTransport::SandboxTransport(Options options,
                                   std::function<int64_t()> now_ms)
    : options_(options), now_ms_(std::move(now_ms)) {}

SandboxTransport::~SandboxTransport() = default;

common::Status SandboxTransport::OpenStore(const std::string& path) {
  auto store = SandboxStore::Open(path);
  if (!store.ok()) return store.status();
  auto contents = (*store)->Load(options_.outbox_capacity);
  if (!contents.ok()) return contents.status();
  std::lock_guard lock(mu_);
  store_ = std::move(store.value());
  outbox_.assign(contents->outbox.begin(), contents->outbox.end());
  pending_ = std::move(contents->receipts);
  sequence_ = std::max(sequence_, contents->last_sequence);
  return common::Status::Ok();
}

SendResult SandboxTransport::Send(const SendRequest& request) {
  int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  SendResult result;
  if (fail_count_ > 0) {
    --fail_count_;
    // The Graph API answers errors with HTTP 400 for request problems, 5xx for
    // its own.
    int http_status =
        fail_code_ == 131000 || fail_code_ == 1 || fail_code_ == 2 ? 500 : 400;
    result.error = ClassifyGraphError(http_status, fail_code_, fail_message_);
    return result;
  }
  ++sequence_;
  OutboxEntry entry;
  entry.id = fmt::format("wamid.sandbox.{}.{}", now, sequence_);
  entry.to = request.to;
  entry.sent_at_ms = now;
  if (!request.template_json.empty()) {
    entry.text = "template:" + request.template_json;
  } else {
    entry.text = request.text;
  }
  std::vector<PendingStatus> receipts = {
      {now + options_.delivered_after_ms, entry.id, MessageStatus::kDelivered},
      {now + options_.read_after_ms, entry.id, MessageStatus::kRead}};
  if (store_) {
    // Accepted only once recorded: the outbox is the proof of what was sent.
    if (common::Status status = store_->RecordSend(sequence_, entry, receipts,
                                                   options_.outbox_capacity);
        !status.ok()) {
      result.error = {"sandbox_storage", status.message(), true};
      return result;
    }
  }
  outbox_.push_back(entry);
  while (outbox_.size() > options_.outbox_capacity) outbox_.pop_front();
  pending_.insert(pending_.end(), receipts.begin(), receipts.end());
  result.ok = true;
  result.provider_id = entry.id;
  return result;
}

void SandboxTransport::Poll(int64_t now_ms, TransportEvents& events) {
  std::vector<PendingStatus> due;
  {
    std::lock_guard lock(mu_);
    auto split = std::stable_partition(
        pending_.begin(), pending_.end(),
        [now_ms](const PendingStatus& p) { return p.due_ms > now_ms; });
    due.assign(split, pending_.end());
    pending_.erase(split, pending_.end());
  }
  // Events go out without the lock: the sink writes to the queue.
  for (const auto& p : due) {
    events.OnStatus({p.provider_id, p.status, p.due_ms, std::nullopt});
  }
  // Forgotten once emitted: a worker killed in between emits them again,
  // which the queue ignores (statuses only move forward).
  if (!due.empty()) {
    std::lock_guard lock(mu_);
    if (store_) (void)store_->RemoveReceipts(due);
  }
}

std::vector<SandboxTransport::OutboxEntry> SandboxTransport::Outbox() const {
  std::lock_guard lock(mu_);
  return {outbox_.begin(), outbox_.end()};
}

void SandboxTransport::FailNext(int count, int code, std::string message) {
  std::lock_guard lock(mu_);
  fail_count_ = count;
  fail_code_ = code;
  fail_message_ = std::move(message);
}

InboundMessage SandboxTransport::SimulateInbound(std::string from,
                                                 std::string text,
                                                 int64_t now_ms,
                                                 TransportEvents& events) {
  InboundMessage message;
  {
    std::lock_guard lock(mu_);
    ++sequence_;
    message.id = fmt::format("wamid.sandbox.in.{}.{}", now_ms, sequence_);
  }
  message.from = std::move(from);
  message.text = std::move(text);
  message.timestamp_ms = now_ms;
  events.OnInbound(message);
  return message;
}

}  // namespace dynoguard::worker
