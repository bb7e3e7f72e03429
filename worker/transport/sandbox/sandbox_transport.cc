#include "worker/transport/sandbox/sandbox_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "worker/model/provider_error.h"

namespace dynoguard::worker {

// One piece of work handed to the libuv pool.
struct SandboxTransport::Job {
  uv_work_t req{};
  SandboxTransport* self = nullptr;
  std::function<void()> work;   // pool thread; may be empty
  std::function<void()> after;  // loop thread
};

SandboxTransport::SandboxTransport(Options options,
                                   std::function<int64_t()> now_ms)
    : options_(options), now_ms_(std::move(now_ms)) {}

SandboxTransport::~SandboxTransport() = default;

common::Status SandboxTransport::OpenStore(const std::string& path) {
  auto store = SandboxStore::Open(path);
  if (!store.ok()) return store.status();
  auto contents = (*store)->Load(options_.outbox_capacity);
  if (!contents.ok()) return contents.status();
  std::lock_guard store_lock(store_mu_);
  std::lock_guard lock(mu_);
  store_ = std::move(store.value());
  outbox_.assign(contents->outbox.begin(), contents->outbox.end());
  pending_ = std::move(contents->receipts);
  sequence_ = std::max(sequence_, contents->last_sequence);
  return common::Status::Ok();
}

common::Status SandboxTransport::Start(uv_loop_t* loop,
                                       TransportEvents& events) {
  loop_ = loop;
  events_ = &events;
  return common::Status::Ok();
}

void SandboxTransport::RunOffLoop(std::function<void()> work,
                                  std::function<void()> after) {
  auto* job = new Job;
  job->req.data = job;
  job->self = this;
  job->work = std::move(work);
  job->after = std::move(after);
  ++in_flight_;
  uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<Job*>(req->data);
        if (j->work) j->work();
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<Job> j(static_cast<Job*>(req->data));
        j->after();
        j->self->OnJobDone();
      });
}

void SandboxTransport::OnJobDone() {
  --in_flight_;
  if (in_flight_ == 0 && on_stopped_) {
    auto stopped = std::move(on_stopped_);
    on_stopped_ = nullptr;
    stopped();
  }
}

void SandboxTransport::Send(const SendRequest& request, SendCallback done) {
  const int64_t now = now_ms_();
  SendResult failure;
  bool fail = false;
  auto entry = std::make_shared<OutboxEntry>();
  auto receipts = std::make_shared<std::vector<PendingStatus>>();
  uint64_t sequence = 0;
  {
    std::lock_guard lock(mu_);
    if (fail_count_ > 0) {
      --fail_count_;
      // The Graph API answers errors with HTTP 400 for request problems, 5xx
      // for its own.
      int http_status =
          fail_code_ == 131000 || fail_code_ == 1 || fail_code_ == 2 ? 500
                                                                     : 400;
      failure.error =
          ClassifyGraphError(http_status, fail_code_, fail_message_);
      fail = true;
    } else {
      sequence = ++sequence_;
    }
  }
  if (fail) {
    RunOffLoop({}, [done = std::move(done), failure = std::move(failure)] {
      done(failure);
    });
    return;
  }
  entry->id = fmt::format("wamid.sandbox.{}.{}", now, sequence);
  entry->to = request.to;
  entry->sent_at_ms = now;
  if (!request.template_json.empty()) {
    entry->text = "template:" + request.template_json;
  } else {
    entry->text = request.text;
  }
  *receipts = {
      {now + options_.delivered_after_ms, entry->id, MessageStatus::kDelivered},
      {now + options_.read_after_ms, entry->id, MessageStatus::kRead}};
  auto recorded = std::make_shared<common::Status>();
  RunOffLoop(
      [this, sequence, entry, receipts, recorded] {
        std::lock_guard store_lock(store_mu_);
        if (!store_) return;
        // Accepted only once recorded: the outbox is the proof of what was
        // sent.
        *recorded = store_->RecordSend(sequence, *entry, *receipts,
                                       options_.outbox_capacity);
      },
      [this, entry, receipts, recorded, done = std::move(done)] {
        SendResult result;
        if (!recorded->ok()) {
          result.error = {"sandbox_storage", recorded->message(), true};
          done(std::move(result));
          return;
        }
        {
          std::lock_guard lock(mu_);
          outbox_.push_back(*entry);
          while (outbox_.size() > options_.outbox_capacity) outbox_.pop_front();
          pending_.insert(pending_.end(), receipts->begin(), receipts->end());
        }
        result.ok = true;
        result.provider_id = entry->id;
        result.message_status = "accepted";
        done(std::move(result));
      });
}

void SandboxTransport::MarkRead(const std::string& message_id, bool typing,
                                DoneCallback done) {
  {
    std::lock_guard lock(mu_);
    read_marks_.push_back({message_id, typing});
  }
  RunOffLoop({}, [done = std::move(done)] { done(common::Status::Ok()); });
}

void SandboxTransport::UploadMedia(const MediaUpload&, UploadCallback done) {
  RunOffLoop({}, [done = std::move(done)] {
    done(common::Status::Unavailable("sandbox: media upload not available"));
  });
}

void SandboxTransport::DownloadMedia(const std::string&, const std::string&,
                                     uint64_t, DownloadCallback done) {
  RunOffLoop({}, [done = std::move(done)] {
    done(common::Status::Unavailable("sandbox: media download not available"));
  });
}

void SandboxTransport::Poll(int64_t now_ms) {
  if (events_ == nullptr) return;
  auto due = std::make_shared<std::vector<PendingStatus>>();
  {
    std::lock_guard lock(mu_);
    auto split = std::stable_partition(
        pending_.begin(), pending_.end(),
        [now_ms](const PendingStatus& p) { return p.due_ms > now_ms; });
    due->assign(split, pending_.end());
    pending_.erase(split, pending_.end());
  }
  if (due->empty()) return;
  // Events go out without the lock: the sink writes to the queue.
  for (const auto& p : *due) {
    events_->OnStatus({p.provider_id, p.status, p.due_ms, std::nullopt});
  }
  // Forgotten once emitted: a worker killed in between emits them again,
  // which the queue ignores (statuses only move forward).
  RunOffLoop(
      [this, due] {
        std::lock_guard store_lock(store_mu_);
        if (store_) (void)store_->RemoveReceipts(*due);
      },
      [] {});
}

void SandboxTransport::Stop(std::function<void()> on_stopped) {
  on_stopped_ = std::move(on_stopped);
  // Through the pool like the rest, so that on_stopped runs later, after
  // every job started before it.
  RunOffLoop({}, [] {});
}

std::vector<SandboxTransport::OutboxEntry> SandboxTransport::Outbox() const {
  std::lock_guard lock(mu_);
  return {outbox_.begin(), outbox_.end()};
}

std::vector<SandboxTransport::ReadMark> SandboxTransport::ReadMarks() const {
  std::lock_guard lock(mu_);
  return read_marks_;
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
