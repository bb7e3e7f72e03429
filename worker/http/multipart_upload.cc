#include "worker/http/multipart_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "worker/http/api_error.h"
#include "worker/http/server/multipart_reader.h"

namespace dynoguard::worker {
namespace {

using http_server::MultipartPartHead;
using http_server::MultipartReader;
using http_server::TempFile;

constexpr size_t kReadChunk = 64 * 1024;

UploadError Invalid(std::string field, std::string message) {
  return UploadError{400, std::string(api_error::kInvalidField),
                     std::move(field), std::move(message)};
}

UploadError Unavailable(std::string message) {
  return UploadError{503, std::string(api_error::kUnavailable), "",
                     std::move(message)};
}

// Keeps the `file` part in a file and the text fields in memory.
class UploadSink : public http_server::MultipartSink {
 public:
  UploadSink(const std::string& tmp_dir, uint64_t max_file_bytes)
      : tmp_dir_(tmp_dir), max_file_bytes_(max_file_bytes) {}

  bool OnPart(const MultipartPartHead& head, std::string& error) override {
    current_ = Part::kSkip;
    if (head.name == "file") {
      if (upload_.file.valid()) {
        return Refuse(Invalid("file", "more than one part named file"), error);
      }
      common::Result<TempFile> file = TempFile::Create(tmp_dir_, "part-");
      if (!file.ok()) {
        return Refuse(Unavailable("the upload cannot be stored now; try again"),
                      error);
      }
      upload_.file = std::move(*file);
      upload_.filename = head.filename;
      upload_.content_type = head.content_type;
      current_ = Part::kFile;
      return true;
    }
    if (head.has_filename) return true;  // another file: ignored
    if (upload_.fields.size() >= kMaxUploadFields) {
      return Refuse(
          Invalid(head.name, "more than " + std::to_string(kMaxUploadFields) +
                                 " form fields"),
          error);
    }
    field_name_ = head.name;
    field_value_.clear();
    current_ = Part::kField;
    return true;
  }

  bool OnData(std::string_view data, std::string& error) override {
    switch (current_) {
      case Part::kFile:
        if (upload_.file.bytes() + data.size() > max_file_bytes_) {
          return Refuse(
              UploadError{413, std::string(api_error::kPayloadTooLarge), "file",
                          "file larger than " +
                              std::to_string(max_file_bytes_) +
                              " bytes (MEDIA_MAX_BYTES)"},
              error);
        }
        if (common::Status w = upload_.file.Write(data); !w.ok()) {
          return Refuse(
              Unavailable("the upload cannot be stored now; try again"), error);
        }
        return true;
      case Part::kField:
        if (field_value_.size() + data.size() > kMaxUploadFieldBytes) {
          return Refuse(
              Invalid(field_name_,
                      "form field " + field_name_ + " is longer than " +
                          std::to_string(kMaxUploadFieldBytes) + " bytes"),
              error);
        }
        field_value_.append(data);
        return true;
      case Part::kSkip:
        return true;
    }
    return true;
  }

  bool OnPartEnd(std::string&) override {
    if (current_ == Part::kField) {
      upload_.fields.emplace(field_name_, std::move(field_value_));
    } else if (current_ == Part::kFile) {
      upload_.file.CloseFd();
    }
    current_ = Part::kSkip;
    return true;
  }

  MultipartUpload& upload() { return upload_; }
  std::optional<UploadError>& refused() { return refused_; }

 private:
  enum class Part { kSkip, kFile, kField };

  bool Refuse(UploadError e, std::string& error) {
    error = e.message;
    refused_ = std::move(e);
    return false;
  }

  const std::string& tmp_dir_;
  const uint64_t max_file_bytes_;
  MultipartUpload upload_;
  Part current_ = Part::kSkip;
  std::string field_name_;
  std::string field_value_;
  std::optional<UploadError> refused_;
};

}  // namespace

std::variant<MultipartUpload, UploadError> ExtractMultipartUpload(
    const std::string& body_path, std::string_view content_type,
    const std::string& tmp_dir, uint64_t max_file_bytes) {
  std::optional<std::string> boundary =
      http_server::MultipartBoundary(content_type);
  if (!boundary) {
    return Invalid("Content-Type",
                   "Content-Type must be multipart/form-data with a boundary");
  }
  common::UniqueFd fd(::open(body_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Unavailable("the stored upload cannot be read; try again");
  MultipartReader reader(*boundary);
  UploadSink sink(tmp_dir, max_file_bytes);
  std::vector<char> buf(kReadChunk);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Unavailable("the stored upload cannot be read; try again");
    if (n == 0) break;
    reader.Feed(std::string_view(buf.data(), static_cast<size_t>(n)), sink);
    if (reader.state() != MultipartReader::State::kRunning) break;
  }
  reader.Finish();
  if (sink.refused()) return std::move(*sink.refused());
  if (reader.state() == MultipartReader::State::kError) {
    return Invalid("file", reader.error());
  }
  if (!sink.upload().file.valid()) {
    return Invalid("file", "the multipart body has no part named file");
  }
  return std::move(sink.upload());
}

}  // namespace dynoguard::worker
