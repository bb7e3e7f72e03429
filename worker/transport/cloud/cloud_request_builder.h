// CloudRequestBuilder: the JSON bodies the Cloud API transport POSTs to
// /{phone-number-id}/messages — one message of any kind (SPEC §5), and a
// mark-as-read. Pure functions of their arguments; no I/O.
#ifndef DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_REQUEST_BUILDER_H_
#define DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_REQUEST_BUILDER_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/model/transport_types.h"

namespace dynoguard::worker {

// The body of a send:
//   {"messaging_product":"whatsapp","recipient_type":"individual","to":…,
//    "type":…,"<type>":<content>,"context":{"message_id":reply_to}}
// ("context" only when reply_to is set). The kind is
// EffectiveType(type, template_json): text, template, image, document,
// audio, video, sticker, reaction, location, contacts or interactive.
// <content> is content_json, already validated upstream and sent as given
// (re-serialized compactly; an object, an array for contacts). A record with
// an empty content_json still builds for the two kinds older records had: a
// text gives {"body":text}, a template its template_json.
//
// Fails with InvalidArgument naming the field when the request cannot be
// sent as given: "to: missing", "type: unknown \"fax\"", "content_json: not
// valid JSON", "content_json: not an object" (not an array, for contacts),
// "content_json: missing" (another kind without content), "text: empty",
// "template_json: …". Never throws, whatever the input.
common::Result<std::string> BuildSendBody(const SendRequest& request);

// The body that marks the inbound message `message_id` (a wamid) read:
//   {"messaging_product":"whatsapp","status":"read","message_id":…}
// plus "typing_indicator":{"type":"text"} when `typing`.
std::string BuildMarkReadBody(std::string_view message_id, bool typing);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_TRANSPORT_CLOUD_CLOUD_REQUEST_BUILDER_H_
