#include "worker/transport/sandbox/sandbox_transport.h"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "worker/model/provider_error.h"
#include "worker/storage/private_files.h"

namespace dynoguard::worker {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMediaPrefix = "sbx-media-";
constexpr std::string_view kDefaultMime = "application/octet-stream";

// The message kinds of SPEC §5 (the Cloud API's "type").
bool KnownType(std::string_view type) {
  static constexpr std::array<std::string_view, 11> kTypes = {
      "text",    "template", "image",    "document", "audio",      "video",
      "sticker", "reaction", "location", "contacts", "interactive"};
  return std::find(kTypes.begin(), kTypes.end(), type) != kTypes.end();
}

// Why the Graph API would refuse `request` (code 100), or "" when it is fine.
std::string RequestProblem(const SendRequest& request) {
  const std::string_view type =
      EffectiveType(request.type, request.template_json);
  if (!KnownType(type)) {
    return fmt::format("(#100) Invalid parameter: unknown type \"{}\"",
                       std::string(type).substr(0, 40));
  }
  if (!request.content_json.empty()) {
    rapidjson::Document doc;
    doc.Parse(request.content_json.data(), request.content_json.size());
    // An object; for contacts the Cloud API's array.
    if (doc.HasParseError() || !(doc.IsObject() || doc.IsArray())) {
      return fmt::format(
          "(#100) Invalid parameter: {} is not a JSON object or array", type);
    }
  }
  return "";
}

// "sbx-media-" + 32 lowercase hex.
bool IsMediaId(std::string_view id) {
  if (id.size() != kMediaPrefix.size() + 32) return false;
  if (id.substr(0, kMediaPrefix.size()) != kMediaPrefix) return false;
  return std::all_of(id.begin() + kMediaPrefix.size(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string NewMediaId() {
  static std::mutex mu;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mu);
  return fmt::format("{}{:016x}{:016x}", kMediaPrefix, random(), random());
}

// Copies `from` to `to` (replacing it); the copy is 0600.
common::Status CopyPrivate(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return common::Status::IOError("copy " + from + " to " + to, ec.message());
  return storage::RestrictIfExists(to);
}

}  // namespace

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
  store_dir_ = std::filesystem::path(path).parent_path().string();
  if (store_dir_.empty()) store_dir_ = ".";
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
  const std::string problem = RequestProblem(request);
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
    } else if (!problem.empty()) {
      failure.error = ClassifyGraphError(400, 100, problem);
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
  entry->type = std::string(EffectiveType(request.type, request.template_json));
  entry->content_json = request.content_json;
  entry->text = request.text;
  if (entry->text.empty() && !request.template_json.empty() &&
      request.content_json.empty()) {
    // A template from before message kinds: no summary, no object.
    entry->text = "template:" + request.template_json;
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
          last_send_ok_ms_ = entry->sent_at_ms;
        }
        result.ok = true;
        result.provider_id = entry->id;
        result.message_status = "accepted";
        done(std::move(result));
      });
}

std::optional<int64_t> SandboxTransport::last_send_ok_ms() const {
  std::lock_guard lock(mu_);
  return last_send_ok_ms_;
}

void SandboxTransport::MarkRead(const std::string& message_id, bool typing,
                                DoneCallback done) {
  {
    std::lock_guard lock(mu_);
    read_marks_.push_back({message_id, typing});
  }
  RunOffLoop({}, [done = std::move(done)] { done(common::Status::Ok()); });
}

std::string SandboxTransport::MediaDir() const {
  if (!options_.media_dir.empty()) return options_.media_dir;
  if (!store_dir_.empty()) return store_dir_ + "/sandbox-media";
  return "";
}

void SandboxTransport::UploadMedia(const MediaUpload& upload,
                                   UploadCallback done) {
  const std::string dir = MediaDir();
  if (dir.empty()) {
    RunOffLoop({}, [done = std::move(done)] {
      done(common::Status::Unavailable(
          "sandbox: no media directory (the sandbox has no DATA_DIR)"));
    });
    return;
  }
  auto answer = std::make_shared<common::Result<std::string>>(
      common::Status::Internal("sandbox: upload did not run"));
  RunOffLoop(
      [upload, dir, answer] {
        if (common::Status s = storage::EnsurePrivateDirectory(dir); !s.ok()) {
          *answer = s;
          return;
        }
        const std::string id = NewMediaId();
        const std::string path = dir + "/" + id;
        if (common::Status s = CopyPrivate(upload.file_path, path); !s.ok()) {
          *answer = s;
          return;
        }
        // The MIME type beside it, for the download.
        const std::string mime = upload.mime_type.empty()
                                     ? std::string(kDefaultMime)
                                     : upload.mime_type;
        const std::string meta = path + ".mime";
        if (common::Status s = storage::EnsurePrivateFile(meta); !s.ok()) {
          *answer = s;
          return;
        }
        std::ofstream out(meta, std::ios::trunc);
        out << mime;
        out.close();
        if (!out) {
          *answer = common::Status::IOError("write " + meta, "failed");
          return;
        }
        *answer = id;
      },
      [answer, done = std::move(done)] { done(std::move(*answer)); });
}

void SandboxTransport::DownloadMedia(const std::string& media_id,
                                     const std::string& dest_path,
                                     uint64_t max_bytes,
                                     DownloadCallback done) {
  const std::string dir = MediaDir();
  if (dir.empty() || !IsMediaId(media_id)) {
    // Never a path built from an id the sandbox did not make.
    RunOffLoop({}, [done = std::move(done)] {
      done(common::Status::NotFound("sandbox: unknown media id"));
    });
    return;
  }
  auto answer = std::make_shared<common::Result<MediaDownload>>(
      common::Status::Internal("sandbox: download did not run"));
  RunOffLoop(
      [path = dir + "/" + media_id, dest_path, max_bytes, answer] {
        std::error_code ec;
        const uint64_t size = fs::file_size(path, ec);
        if (ec) {
          *answer = common::Status::NotFound("sandbox: unknown media id");
          return;
        }
        if (size > max_bytes) {
          *answer = common::Status::InvalidArgument(fmt::format(
              "media is {} bytes, more than the {} allowed", size, max_bytes));
          return;
        }
        if (common::Status s = CopyPrivate(path, dest_path); !s.ok()) {
          *answer = s;
          return;
        }
        MediaDownload media;
        media.file_path = dest_path;
        media.bytes = size;
        std::ifstream meta(path + ".mime");
        std::getline(meta, media.mime_type);
        if (media.mime_type.empty()) media.mime_type = kDefaultMime;
        *answer = std::move(media);
      },
      [answer, done = std::move(done)] { done(std::move(*answer)); });
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
