// CloudAnswerParser: reads the Graph API's success answers the Cloud API
// transport gets — a send, a media upload, a media object. (Error answers are
// ParseGraphErrorBody's, model/provider_error.h.) Pure functions of the body;
// never throw, whatever the body.
#ifndef DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_ANSWER_PARSER_H_
#define DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_ANSWER_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::worker {

// What a send's 2xx says.
struct SendAnswer {
  std::string provider_id;     // messages[0].id, the wamid
  std::string message_status;  // messages[0].message_status; "accepted" when
                               // the answer has none
};

// Parses {"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
// "messages":[{"id":"wamid…","message_status":"accepted"}]}. Fails with
// InvalidArgument ("send answer: no messages[0].id", "send answer: not a
// JSON object")
// when the body does not carry a non-empty messages[0].id: the message must
// be treated as not sent (the transport reports it retryable).
common::Result<SendAnswer> ParseSendAnswer(std::string_view body);

// Parses a media upload's {"id":"…"} (a string; a number is accepted too).
// InvalidArgument when there is no usable id.
common::Result<std::string> ParseMediaUploadAnswer(std::string_view body);

// A media object: GET /{media-id}.
struct MediaInfo {
  std::string url;         // where to download it (with the Bearer header)
  std::string mime_type;   // may be empty
  std::string sha256;      // hex; may be empty
  uint64_t file_size = 0;  // 0: not given
  std::string id;
};

// Parses {"url","mime_type","sha256","file_size","id","messaging_product"}.
// InvalidArgument when `url` is missing or empty or the body is not a JSON
// object; the other fields are optional (file_size a number or a numeric
// string).
common::Result<MediaInfo> ParseMediaInfo(std::string_view body);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_ANSWER_PARSER_H_
