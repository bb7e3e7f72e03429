#include "worker/session/stores/file_store.h"

#include <memory>
#include <utility>

#include "worker/storage/atomic_file.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;

namespace {

// The same code with "file store: " in front, so that a log line or
// /session-status names the store.
Status Named(const Status& status) {
  if (status.ok()) return status;
  const std::string message = "file store: " + status.message();
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(message);
    case Status::Code::kNotFound:
      return Status::NotFound(message);
    case Status::Code::kIOError:
      return Status::IOError("file store", status.message());
    case Status::Code::kUnavailable:
      return Status::Unavailable(message);
    case Status::Code::kPermissionDenied:
      return Status::PermissionDenied(message);
    case Status::Code::kFailedPrecondition:
      return Status::FailedPrecondition(message);
    case Status::Code::kInternal:
    case Status::Code::kOk:
      break;
  }
  return Status::Internal(message);
}

Status Stopped() { return Status::Unavailable("file store: stopped"); }

}  // namespace

std::string FileSessionStore::PathIn(const std::string& data_dir) {
  return data_dir + "/session.snapshot";
}

FileSessionStore::FileSessionStore(std::string path, PostToLoop post,
                                   SequenceOf sequence_of)
    : path_(std::move(path)),
      post_(std::move(post)),
      sequence_of_(std::move(sequence_of)),
      thread_("session-file") {}

FileSessionStore::~FileSessionStore() {
  *alive_ = false;
  stopping_ = true;
  thread_.Join();
}

void FileSessionStore::Answer(std::function<void()> task) const {
  post_(std::move(task));  // false: the loop is closing, nobody waits
}

void FileSessionStore::Load(LoadDone done) {
  auto shared = std::make_shared<LoadDone>(std::move(done));
  bool queued = !stopping_ && thread_.Submit([this, shared] {
    Result<std::optional<std::string>> result =
        stopping_ ? Result<std::optional<std::string>>(Stopped()) : DoLoad();
    Answer([shared, result = std::move(result)]() mutable {
      (*shared)(std::move(result));
    });
  });
  if (!queued) Answer([shared] { (*shared)(Stopped()); });
}

void FileSessionStore::Save(std::string document, uint64_t sequence,
                            SaveDone done) {
  auto shared = std::make_shared<SaveDone>(std::move(done));
  bool queued = !stopping_ && thread_.Submit([this, shared, sequence,
                                              document = std::move(document)] {
    Status status = stopping_ ? Stopped() : DoSave(document, sequence);
    Answer([shared, status] { (*shared)(status); });
  });
  if (!queued) Answer([shared] { (*shared)(Stopped()); });
}

void FileSessionStore::Stop(std::function<void()> done) {
  stopping_ = true;
  // Runs on the loop once the thread has nothing left: joins it (a matter of
  // microseconds, the thread is ending) and reports. `alive_` guards against
  // an owner that destroyed the store without waiting for `done`.
  auto finish = [this, alive = alive_,
                 shared =
                     std::make_shared<std::function<void()>>(std::move(done))] {
    if (*alive) thread_.Join();
    (*shared)();
  };
  // The last job: everything queued before it has been answered (Unavailable
  // when it had not started).
  bool queued = thread_.Submit([this, finish] { Answer(finish); });
  thread_.Stop();
  if (!queued) Answer(finish);  // Stop called twice
}

Result<std::optional<std::string>> FileSessionStore::DoLoad() {
  Result<std::optional<std::string>> read =
      storage::ReadWholeFile(path_, kMaxDocumentBytes);
  if (!read.ok()) return Named(read.status());
  if (sequence_of_ && !sequence_known_) {
    stored_sequence_ =
        read->has_value() ? sequence_of_(**read) : std::optional<uint64_t>();
    sequence_known_ = true;
  }
  return read;
}

Status FileSessionStore::DoSave(const std::string& document,
                                uint64_t sequence) {
  if (document.size() > kMaxDocumentBytes) {
    return Status::InvalidArgument(
        "file store: the snapshot is " + std::to_string(document.size()) +
        " bytes, the file takes at most " + std::to_string(kMaxDocumentBytes));
  }
  if (!sequence_known_ && sequence_of_) {
    // The file may be an earlier process's: read its sequence once. An
    // unreadable or foreign file is replaced.
    Result<std::optional<std::string>> read =
        storage::ReadWholeFile(path_, kMaxDocumentBytes);
    if (read.ok() && read->has_value()) stored_sequence_ = sequence_of_(**read);
    sequence_known_ = true;
  }
  if (stored_sequence_ && sequence < *stored_sequence_) {
    return Status::FailedPrecondition(
        "file store: " + path_ + " holds snapshot sequence " +
        std::to_string(*stored_sequence_) + ", newer than " +
        std::to_string(sequence) + "; kept it");
  }
  if (Status written = storage::WriteFileAtomically(path_, document);
      !written.ok()) {
    return Named(written);
  }
  stored_sequence_ = sequence;
  return Status::Ok();
}

}  // namespace dynoguard::worker
