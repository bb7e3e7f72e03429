#include "worker/http/media_routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/unique_fd.h"
#include "worker/http/api_error.h"
#include "worker/http/multipart_upload.h"
#include "worker/http/server/streamed_body.h"
#include "worker/http/server/temp_file.h"
#include "worker/http/transport_error.h"

namespace dynoguard::worker {
namespace {

using http_server::TempFile;
using httplib::Request;
using httplib::Response;

constexpr std::string_view kDefaultMimeType = "application/octet-stream";
constexpr size_t kStreamChunk = 64 * 1024;

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// "type/subtype" with optional parameters, no control characters: safe to
// hand to the provider and to write back as a header.
bool IsMimeType(std::string_view v) {
  if (v.empty() || v.size() > 255) return false;
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  std::string_view essence = v.substr(0, v.find(';'));
  while (!essence.empty() && essence.back() == ' ') essence.remove_suffix(1);
  size_t slash = essence.find('/');
  if (slash == 0 || slash == std::string_view::npos ||
      slash + 1 == essence.size())
    return false;
  for (size_t i = 0; i < essence.size(); ++i) {
    if (i != slash && !IsTokenChar(essence[i])) return false;
  }
  return true;
}

// Ids as the providers give them ("1234567890", "sbx-media-0a1b…").
bool IsMediaId(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

class MediaRoutes {
 public:
  MediaRoutes(const RouteContext& context, MediaRouteDeps deps)
      : ctx_(context),
        d_(std::move(deps)),
        tmp_dir_(context.config->data_dir + "/tmp") {}

  void Upload(const Request& req, Response& res);
  void Download(const Request& req, Response& res);

 private:
  const RouteContext ctx_;
  const MediaRouteDeps d_;
  const std::string tmp_dir_;
  std::atomic<int> downloads_{0};
};

void MediaRoutes::Upload(const Request& req, Response& res) {
  if (d_.transport == nullptr || !d_.run_on_loop) {
    SendError(res, 503, api_error::kUnavailable, "no transport in this worker");
    return;
  }
  std::optional<http_server::StreamedBody> body =
      http_server::StreamedBodyOf(req);
  if (!body) {
    // Only when the server did not stream this route: never from a client.
    SendError(res, 500, api_error::kInternal, "upload body not stored");
    return;
  }
  std::variant<MultipartUpload, UploadError> extracted = ExtractMultipartUpload(
      body->path, body->content_type, tmp_dir_, ctx_.config->media_max_bytes);
  if (auto* error = std::get_if<UploadError>(&extracted)) {
    SendError(res, error->status, error->code, error->message, error->field);
    return;
  }
  // Shared with the transport's callback: the part file goes once both the
  // answer is sent and the transport is done with it.
  auto upload = std::make_shared<MultipartUpload>(
      std::get<MultipartUpload>(std::move(extracted)));
  std::string mime = upload->content_type;
  std::string_view field = "file";
  if (auto type = upload->fields.find("type");
      type != upload->fields.end() && !type->second.empty()) {
    mime = type->second;
    field = "type";
  }
  if (mime.empty()) mime = kDefaultMimeType;
  if (!IsMimeType(mime)) {
    SendError(res, 400, api_error::kInvalidField,
              "not a MIME type (type/subtype): " + mime.substr(0, 64), field);
    return;
  }
  if (upload->file.bytes() == 0) {
    SendError(res, 400, api_error::kInvalidField, "the file part is empty",
              "file");
    return;
  }
  MediaUpload media;
  media.file_path = upload->file.path();
  media.mime_type = mime;
  media.filename = upload->filename;
  media.bytes = upload->file.bytes();
  Transport* transport = d_.transport;
  std::optional<common::Result<std::string>> answer =
      CallOnLoop<common::Result<std::string>>(
          d_.run_on_loop, d_.timeout,
          [transport, media,
           upload](std::function<void(common::Result<std::string>)> done) {
            transport->UploadMedia(
                media, [done = std::move(done),
                        upload](common::Result<std::string> id) mutable {
                  done(std::move(id));
                  upload.reset();  // the part file goes with the last owner
                });
          });
  if (!answer) {
    ctx_.log->Warn("media-upload-timeout", {{"bytes", media.bytes}});
    SendTransportTimeout(res, "media upload");
    return;
  }
  if (!answer->ok()) {
    ctx_.log->Warn("media-upload-failed",
                   {{"error", answer->status().message()}});
    SendTransportError(res, answer->status(), "media upload");
    return;
  }
  ctx_.log->Info("media-uploaded", {{"bytes", media.bytes}});
  common::JsonWriter j;
  j.StartObject()
      .Key("id")
      .String(**answer)
      .Key("mimeType")
      .String(mime)
      .Key("bytes")
      .Int(static_cast<int64_t>(media.bytes))
      .EndObject();
  SendJson(res, 200, j);
}

void MediaRoutes::Download(const Request& req, Response& res) {
  if (d_.transport == nullptr || !d_.run_on_loop) {
    SendError(res, 503, api_error::kUnavailable, "no transport in this worker");
    return;
  }
  std::string id = req.matches.size() > 1 ? req.matches[1].str() : "";
  if (!IsMediaId(id)) {
    SendError(res, 404, api_error::kNotFound, "no media with this id");
    return;
  }
  if (downloads_.fetch_add(1) >= kMaxMediaDownloads) {
    --downloads_;
    SendError(res, 503, api_error::kUnavailable,
              "too many media downloads in progress; retry in a moment");
    return;
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { --n; }
  } release{downloads_};

  common::Result<TempFile> created = TempFile::Create(tmp_dir_, "media-");
  if (!created.ok()) {
    ctx_.log->Error("media-store-failed",
                    {{"error", created.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the download cannot be stored now; try again");
    return;
  }
  auto dest = std::make_shared<TempFile>(std::move(*created));
  dest->CloseFd();
  const std::string dest_path = dest->path();
  const uint64_t max_bytes = ctx_.config->media_max_bytes;
  Transport* transport = d_.transport;
  std::optional<common::Result<MediaDownload>> answer =
      CallOnLoop<common::Result<MediaDownload>>(
          d_.run_on_loop, d_.timeout,
          [transport, id, dest_path, max_bytes,
           dest](std::function<void(common::Result<MediaDownload>)> done) {
            transport->DownloadMedia(
                id, dest_path, max_bytes,
                [done = std::move(done),
                 dest](common::Result<MediaDownload> media) mutable {
                  done(std::move(media));
                  dest.reset();
                });
          });
  if (!answer) {
    ctx_.log->Warn("media-download-timeout", {});
    SendTransportTimeout(res, "media download");
    return;
  }
  if (!answer->ok()) {
    if (answer->status().code() != common::Status::Code::kNotFound) {
      ctx_.log->Warn("media-download-failed",
                     {{"error", answer->status().message()}});
    }
    SendTransportError(res, answer->status(), "media download");
    return;
  }
  // Opened, then removed from the directory at once: the descriptor keeps
  // the data until the answer is written (or the client goes).
  auto fd = std::make_shared<common::UniqueFd>(
      ::open(dest_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!*fd || ::fstat(fd->get(), &st) != 0) {
    SendError(res, 503, api_error::kUnavailable,
              "the download cannot be read now; try again");
    return;
  }
  dest->Remove();
  std::string mime = (*answer)->mime_type;
  if (!IsMimeType(mime)) mime = kDefaultMimeType;
  const size_t size = static_cast<size_t>(st.st_size);
  res.status = 200;
  res.set_content_provider(
      size, mime,
      // One buffer for the whole answer, not one per piece.
      [fd, buf = std::make_shared<std::vector<char>>(kStreamChunk)](
          size_t offset, size_t length, httplib::DataSink& sink) {
        ssize_t n;
        do {
          n = ::pread(fd->get(), buf->data(), std::min(length, buf->size()),
                      static_cast<off_t>(offset));
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return false;
        return sink.write(buf->data(), static_cast<size_t>(n));
      },
      [fd](bool) { fd->Reset(); });
}

}  // namespace

void InstallMediaRoutes(httplib::Server& server, const RouteContext& context,
                        MediaRouteDeps deps) {
  auto routes = std::make_shared<MediaRoutes>(context, std::move(deps));
  AddRoute(server, context, "/api/media", kPost, Access::kProtected,
           Bind(routes, &MediaRoutes::Upload));
  AddRoute(server, context, "/api/media/([^/]+)", kGet, Access::kProtected,
           Bind(routes, &MediaRoutes::Download));
}

}  // namespace dynoguard::worker
