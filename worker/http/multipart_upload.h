// The `file` part of a stored multipart/form-data upload (POST /api/media):
// read from the body file the server streamed to DATA_DIR/tmp, 64 KiB at a
// time, through the streaming MultipartReader, into a file of its own, so no
// upload is ever whole in memory. Small text fields (`type`, …) are kept.
#ifndef DYNOGUARD_WORKER_HTTP_MULTIPART_UPLOAD_H_
#define DYNOGUARD_WORKER_HTTP_MULTIPART_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "worker/http/server/temp_file.h"

namespace dynoguard::worker {

// The most text fields, and bytes of one, an upload may carry.
inline constexpr size_t kMaxUploadFields = 16;
inline constexpr size_t kMaxUploadFieldBytes = 1024;

struct MultipartUpload {
  http_server::TempFile file;  // the part's bytes (closed; removed with it)
  std::string filename;        // as the client named it; may be empty
  std::string content_type;    // the part's Content-Type; may be empty
  // The text parts (no filename) by name.
  std::map<std::string, std::string, std::less<>> fields;
};

// Why an upload was refused: `status` 400 (code invalid_field, `field`
// names what is wrong: "Content-Type", "file" or the text field), 413
// (payload_too_large: the file part is larger than allowed) or 503 (code
// unavailable: the file could not be read or written).
struct UploadError {
  int status = 400;
  std::string code;
  std::string field;
  std::string message;
};

// Extracts the part named `file` of the body stored at `body_path` (its
// request Content-Type `content_type`) into a new file in `tmp_dir`; a file
// part larger than `max_file_bytes` (MEDIA_MAX_BYTES) is 413.
// Errors (400 invalid_field): not multipart/form-data or no boundary
// (field Content-Type); a malformed or truncated body, no part named
// `file`, or two of them (field file); a text field over
// kMaxUploadFieldBytes, or more than kMaxUploadFields (its name).
std::variant<MultipartUpload, UploadError> ExtractMultipartUpload(
    const std::string& body_path, std::string_view content_type,
    const std::string& tmp_dir, uint64_t max_file_bytes);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_MULTIPART_UPLOAD_H_
