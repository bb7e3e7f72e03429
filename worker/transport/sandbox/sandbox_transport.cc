#include "worker/transport/sandbox/sandbox_transport.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "common/unique_fd.h"
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

// A download in progress. The pool thread touches fd, chunk, offset and
// error only while a read job runs (`reading`); the loop, the rest.
struct SandboxTransport::Download {
  MediaDownloadId id = 0;
  uint64_t max_bytes = 0;
  MediaStreamSink sink;
  DownloadCallback done;
  common::UniqueFd fd;
  std::string mime_type;
  uint64_t size = 0;
  uint64_t offset = 0;  // bytes taken by the sink
  std::string chunk;    // read, not taken yet
  common::Status error;
  bool reading = false;  // a pool job on it is in flight
  bool paused = false;   // the sink answered kPause
  bool cancelled = false;
};

MediaDownloadId SandboxTransport::DownloadMedia(const std::string& media_id,
                                                uint64_t max_bytes,
                                                MediaStreamSink sink,
                                                DownloadCallback done) {
  const MediaDownloadId id = next_download_++;
  const std::string dir = MediaDir();
  if (dir.empty() || !IsMediaId(media_id)) {
    // Never a path built from an id the sandbox did not make.
    RunOffLoop({}, [done = std::move(done)] {
      done(common::Status::NotFound("sandbox: unknown media id"));
    });
    return id;
  }
  auto d = std::make_shared<Download>();
  d->id = id;
  d->max_bytes = max_bytes;
  d->sink = std::move(sink);
  d->done = std::move(done);
  d->reading = true;
  downloads_[id] = d;
  RunOffLoop(
      [d, path = dir + "/" + media_id] {
        d->fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!d->fd || ::fstat(d->fd.get(), &st) != 0) {
          d->error = common::Status::NotFound("sandbox: unknown media id");
          return;
        }
        d->size = static_cast<uint64_t>(st.st_size);
        if (d->size > d->max_bytes) {
          d->error = common::Status::InvalidArgument(
              fmt::format("media is {} bytes, more than the {} allowed",
                          d->size, d->max_bytes));
          return;
        }
        std::ifstream meta(path + ".mime");
        std::getline(meta, d->mime_type);
        if (d->mime_type.empty()) d->mime_type = kDefaultMime;
      },
      [this, d] {
        d->reading = false;
        if (d->cancelled || !d->error.ok()) {
          FinishDownload(d, d->cancelled ? common::Status::Unavailable(
                                               "sandbox: download cancelled")
                                         : d->error);
          return;
        }
        MediaHead head;
        head.mime_type = d->mime_type;
        head.bytes = d->size;
        if (d->sink.on_head) d->sink.on_head(head);
        ReadNext(d);
      });
  return id;
}

void SandboxTransport::ReadNext(const std::shared_ptr<Download>& d) {
  d->reading = true;
  RunOffLoop(
      [d] {
        constexpr size_t kChunk = 64 * 1024;
        // One byte past the limit tells a file that grew.
        const uint64_t left = d->max_bytes + 1 - d->offset;
        d->chunk.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, left)));
        ssize_t n;
        do {
          n = ::pread(d->fd.get(), d->chunk.data(), d->chunk.size(),
                      static_cast<off_t>(d->offset));
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
          d->error = common::Status::IOError("read sandbox media",
                                             std::strerror(errno));
          n = 0;
        }
        d->chunk.resize(static_cast<size_t>(n));
      },
      [this, d] {
        d->reading = false;
        if (d->cancelled) {
          FinishDownload(
              d, common::Status::Unavailable("sandbox: download cancelled"));
        } else if (!d->error.ok()) {
          FinishDownload(d, d->error);
        } else if (d->offset + d->chunk.size() > d->max_bytes) {
          FinishDownload(
              d, common::Status::InvalidArgument(fmt::format(
                     "media is more than the {} bytes allowed", d->max_bytes)));
        } else if (d->chunk.empty()) {
          FinishDownload(d, common::Status::Ok());
        } else {
          Deliver(d);
        }
      });
}

void SandboxTransport::Deliver(const std::shared_ptr<Download>& d) {
  SinkAnswer answer =
      d->sink.on_data ? d->sink.on_data(d->chunk) : SinkAnswer::kContinue;
  switch (answer) {
    case SinkAnswer::kContinue:
      d->offset += d->chunk.size();
      d->chunk.clear();
      ReadNext(d);
      return;
    case SinkAnswer::kPause:
      d->paused = true;  // the chunk stays for ResumeDownload
      return;
    case SinkAnswer::kAbort:
      FinishDownload(
          d, common::Status::Unavailable("sandbox: the sink stopped the "
                                         "download"));
      return;
  }
}

void SandboxTransport::ResumeDownload(MediaDownloadId id) {
  auto it = downloads_.find(id);
  if (it == downloads_.end() || !it->second->paused) return;
  std::shared_ptr<Download> d = it->second;
  d->paused = false;
  d->reading = true;  // no job reads; it keeps Cancel from finishing twice
  // Offered again from the loop, not from within this call.
  RunOffLoop({}, [this, d] {
    d->reading = false;
    if (d->cancelled) {
      FinishDownload(
          d, common::Status::Unavailable("sandbox: download cancelled"));
      return;
    }
    Deliver(d);
  });
}

void SandboxTransport::CancelDownload(MediaDownloadId id) {
  auto it = downloads_.find(id);
  if (it == downloads_.end()) return;
  std::shared_ptr<Download> d = it->second;
  d->cancelled = true;
  // A job in flight finishes it; a paused one has none.
  if (!d->reading) {
    FinishDownload(d,
                   common::Status::Unavailable("sandbox: download cancelled"));
  }
}

void SandboxTransport::FinishDownload(const std::shared_ptr<Download>& d,
                                      common::Status status) {
  if (downloads_.erase(d->id) == 0) return;  // finished already
  d->fd.Reset();
  d->sink = {};
  DownloadCallback done = std::move(d->done);
  if (done) done(std::move(status));
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
  // A paused download waits for its client: a stop does not.
  std::vector<MediaDownloadId> downloads;
  for (const auto& [id, d] : downloads_) downloads.push_back(id);
  for (MediaDownloadId id : downloads) CancelDownload(id);
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
