#include "worker/http/media_routes.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "worker/http/api_error.h"
#include "worker/http/multipart_upload.h"
#include "worker/http/server/streamed_body.h"
#include "worker/http/stream_buffer.h"
#include "worker/http/transport_error.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

constexpr std::string_view kDefaultMimeType = "application/octet-stream";
constexpr size_t kStreamChunk = 64 * 1024;
// A download's answer is cut when no byte came from the upstream for this
// long: a stalled provider holds no request thread (nor a worker's stop)
// longer.
constexpr std::chrono::seconds kStallTimeout{10};
// How often a provider waiting for bytes checks that its client is there.
constexpr std::chrono::milliseconds kClientCheck{100};

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

// One download between the loop (the transport's sink and callback) and
// the request's content provider. The loop side holds it until the
// transport's callback ran, the request until its answer is written or
// abandoned; the last one frees the kMaxMediaDownloads slot.
struct MediaStream {
  MediaStream(std::function<void()> request_resume,
              std::shared_ptr<std::atomic<int>> slots)
      : buffer(StreamBuffer::Options{}, std::move(request_resume)),
        slots_(std::move(slots)) {}
  ~MediaStream() { --*slots_; }
  MediaStream(const MediaStream&) = delete;
  MediaStream& operator=(const MediaStream&) = delete;

  StreamBuffer buffer;
  // Loop thread only.
  MediaDownloadId id = 0;
  bool started = false;  // DownloadMedia was called
  bool ended = false;    // its callback ran

 private:
  const std::shared_ptr<std::atomic<int>> slots_;
};

// The content provider's side: one buffer for the whole answer, and why it
// was cut. HTTP thread only.
class StreamReader {
 public:
  explicit StreamReader(std::shared_ptr<MediaStream> stream)
      : stream_(std::move(stream)), buf_(kStreamChunk) {}

  const std::shared_ptr<MediaStream>& stream() const { return stream_; }
  const char* data() const { return buf_.data(); }
  const std::string& cut_reason() const { return cut_reason_; }
  void set_cut_reason(std::string reason) { cut_reason_ = std::move(reason); }
  void set_sized(bool sized) { sized_ = sized; }

  // Up to `length` bytes into data(), waiting in slices of kClientCheck
  // (ending early when the client is gone) and kStallTimeout in all.
  StreamBuffer::Wait Read(size_t length, httplib::DataSink& sink, size_t* n) {
    const auto deadline = StreamBuffer::Clock::now() + kStallTimeout;
    for (;;) {
      const auto slice =
          std::min(deadline, StreamBuffer::Clock::now() + kClientCheck);
      StreamBuffer::Wait wait = stream_->buffer.Read(
          std::span<char>(buf_.data(), std::min(length, buf_.size())), slice,
          n);
      if (wait != StreamBuffer::Wait::kTimedOut) return wait;
      if (sink.is_writable && !sink.is_writable()) {
        cut_reason_ = "client gone";
        return StreamBuffer::Wait::kCancelled;
      }
      if (StreamBuffer::Clock::now() >= deadline) return wait;
    }
  }

  // The stream ended, failed or stalled: the last chunk (chunked) or a cut.
  bool End(StreamBuffer::Wait wait, httplib::DataSink& sink) {
    switch (wait) {
      case StreamBuffer::Wait::kEnded:
        if (sized_) {
          cut_reason_ = "the upstream body ended short";
          return false;
        }
        sink.done();
        return true;
      case StreamBuffer::Wait::kFailed:
        cut_reason_ = stream_->buffer.status().message();
        return false;
      case StreamBuffer::Wait::kTimedOut:
        cut_reason_ = "no byte from the upstream in 10 s";
        return false;
      default:
        if (cut_reason_.empty()) cut_reason_ = "cancelled";
        return false;
    }
  }

 private:
  const std::shared_ptr<MediaStream> stream_;
  std::vector<char> buf_;
  std::string cut_reason_;
  bool sized_ = false;
};

class MediaRoutes {
 public:
  MediaRoutes(const RouteContext& context, MediaRouteDeps deps)
      : ctx_(context),
        d_(std::move(deps)),
        tmp_dir_(context.config->data_dir + "/tmp") {}

  void Upload(const Request& req, Response& res);
  void Download(const Request& req, Response& res);

 private:
  // Cancels the stream's download (the buffer at once, the transport on
  // the loop).
  void CancelOnLoop(const std::shared_ptr<MediaStream>& stream);
  // The answer is written (`success`) or abandoned: logs it, stops the
  // download if it still runs.
  void Released(const StreamReader& reader, bool success);

  const RouteContext ctx_;
  const MediaRouteDeps d_;
  const std::string tmp_dir_;
  // Downloads in progress, shared with their streams (which may outlive a
  // request by a loop turn).
  const std::shared_ptr<std::atomic<int>> downloads_ =
      std::make_shared<std::atomic<int>>(0);
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
  if (downloads_->fetch_add(1) >= kMaxMediaDownloads) {
    --*downloads_;
    SendError(res, 503, api_error::kUnavailable,
              "too many media downloads in progress; retry in a moment");
    return;
  }
  // The slot is held by the stream: until the answer is written and the
  // transport is done with it.
  auto self = std::make_shared<std::weak_ptr<MediaStream>>();
  Transport* transport = d_.transport;
  const RunOnLoop run_on_loop = d_.run_on_loop;
  auto stream = std::make_shared<MediaStream>(
      [self, run_on_loop, transport] {
        run_on_loop([self, transport] {
          std::shared_ptr<MediaStream> s = self->lock();
          if (s && s->started && !s->ended) transport->ResumeDownload(s->id);
        });
      },
      downloads_);
  *self = stream;
  const uint64_t max_bytes = ctx_.config->media_max_bytes;
  run_on_loop([stream, transport, id, max_bytes] {
    if (stream->buffer.cancelled()) return;  // the request gave up already
    MediaStreamSink sink;
    sink.on_head = [stream](const MediaHead& head) {
      stream->buffer.SetHead(head);
    };
    sink.on_data = [stream](std::string_view chunk) {
      return stream->buffer.Push(chunk);
    };
    stream->started = true;
    stream->id = transport->DownloadMedia(
        id, max_bytes, std::move(sink), [stream](common::Status status) {
          stream->ended = true;
          stream->buffer.Finish(std::move(status));
        });
  });

  switch (stream->buffer.WaitHead(StreamBuffer::Clock::now() + d_.timeout)) {
    case StreamBuffer::Wait::kReady:
      break;
    case StreamBuffer::Wait::kFailed: {
      const common::Status status = stream->buffer.status();
      if (status.code() != common::Status::Code::kNotFound) {
        ctx_.log->Warn("media-download-failed", {{"error", status.message()}});
      }
      SendTransportError(res, status, "media download");
      return;
    }
    default:
      ctx_.log->Warn("media-download-timeout", {});
      CancelOnLoop(stream);
      SendTransportTimeout(res, "media download");
      return;
  }
  const MediaHead head = stream->buffer.head();
  const std::string mime = IsMimeType(head.mime_type)
                               ? head.mime_type
                               : std::string(kDefaultMimeType);
  res.status = 200;
  // Each piece: what the buffer holds, waited for in short slices so that a
  // client that went away is noticed while the upstream is slow, and at
  // most kStallTimeout in all.
  auto reader = std::make_shared<StreamReader>(stream);
  auto provide = [reader](size_t length, httplib::DataSink& sink) {
    size_t n = 0;
    StreamBuffer::Wait wait = reader->Read(length, sink, &n);
    if (wait == StreamBuffer::Wait::kReady) {
      if (sink.write(reader->data(), n)) return true;
      reader->set_cut_reason("client gone");
      return false;
    }
    return reader->End(wait, sink);
  };
  auto release = [this, reader](bool success) { Released(*reader, success); };
  if (head.bytes && *head.bytes > 0) {
    reader->set_sized(true);
    res.set_content_provider(
        static_cast<size_t>(*head.bytes), mime,
        [provide](size_t, size_t length, httplib::DataSink& sink) {
          return provide(length, sink);
        },
        release);
  } else {
    res.set_chunked_content_provider(
        mime,
        [provide](size_t, httplib::DataSink& sink) {
          return provide(kStreamChunk, sink);
        },
        release);
  }
}

void MediaRoutes::CancelOnLoop(const std::shared_ptr<MediaStream>& stream) {
  stream->buffer.Cancel();
  Transport* transport = d_.transport;
  d_.run_on_loop([stream, transport] {
    if (stream->started && !stream->ended)
      transport->CancelDownload(stream->id);
  });
}

void MediaRoutes::Released(const StreamReader& reader, bool success) {
  const std::shared_ptr<MediaStream>& stream = reader.stream();
  const StreamBuffer& buffer = stream->buffer;
  if (success) {
    ctx_.log->Info("media-downloaded", {{"bytes", buffer.bytes_in()},
                                        {"max_buffered", buffer.max_buffered()},
                                        {"pauses", buffer.pauses()}});
  } else {
    // The status line is out: all we can do is cut the connection, so the
    // client sees a short body (or no last chunk), never a complete one.
    ctx_.log->Warn(
        "media-download-cut",
        {{"bytes", buffer.bytes_in()},
         {"reason", reader.cut_reason().empty() ? std::string("client gone")
                                                : reader.cut_reason()}});
  }
  CancelOnLoop(stream);  // nothing when it ended
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
