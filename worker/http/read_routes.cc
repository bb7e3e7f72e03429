#include "worker/http/read_routes.h"

#include <rapidjson/document.h>

#include <memory>
#include <utility>

#include "common/status.h"
#include "worker/http/api_error.h"
#include "worker/http/transport_error.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

constexpr size_t kMaxMessageIdBytes = 256;

class ReadRoutes {
 public:
  ReadRoutes(const RouteContext& context, ReadRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void PostRead(const Request& req, Response& res) {
    if (d_.transport == nullptr || !d_.run_on_loop) {
      SendError(res, 503, api_error::kUnavailable,
                "no transport in this worker");
      return;
    }
    if (!RequireJsonBody(req, res)) return;
    Parsed<ReadRequest> parsed = ParseReadRequest(req.body);
    if (auto* error = std::get_if<RequestError>(&parsed)) {
      SendRequestError(res, *error);
      return;
    }
    ReadRequest read = std::get<ReadRequest>(std::move(parsed));
    Transport* transport = d_.transport;
    std::optional<common::Status> done = CallOnLoop<common::Status>(
        d_.run_on_loop, d_.timeout,
        [transport, read](std::function<void(common::Status)> answer) {
          transport->MarkRead(read.message_id, read.typing,
                              [answer = std::move(answer)](common::Status s) {
                                answer(std::move(s));
                              });
        });
    if (!done) {
      ctx_.log->Warn("mark-read-timeout", {});
      SendTransportTimeout(res, "mark read");
      return;
    }
    if (!done->ok()) {
      ctx_.log->Warn("mark-read-failed", {{"error", done->message()}});
      SendTransportError(res, *done, "mark read");
      return;
    }
    common::JsonWriter j;
    j.StartObject()
        .Key("messageId")
        .String(read.message_id)
        .Key("read")
        .Bool(true)
        .EndObject();
    SendJson(res, 200, j);
  }

 private:
  const RouteContext ctx_;
  const ReadRouteDeps d_;
};

}  // namespace

Parsed<ReadRequest> ParseReadRequest(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return RequestError{std::string(api_error::kInvalidJson), "",
                        "the body must be a JSON object"};
  }
  ReadRequest request;
  auto id = doc.FindMember("messageId");
  if (id == doc.MemberEnd() || id->value.IsNull()) {
    return FieldError("messageId", "messageId is required");
  }
  if (!id->value.IsString() || id->value.GetStringLength() == 0) {
    return FieldError("messageId",
                      "messageId must be the non-empty id of an inbound "
                      "message (wamid…)");
  }
  if (id->value.GetStringLength() > kMaxMessageIdBytes) {
    return FieldError("messageId", "messageId is longer than 256 characters");
  }
  request.message_id.assign(id->value.GetString(), id->value.GetStringLength());
  auto typing = doc.FindMember("typing");
  if (typing != doc.MemberEnd() && !typing->value.IsNull()) {
    if (!typing->value.IsBool()) {
      return FieldError("typing", "typing must be true or false");
    }
    request.typing = typing->value.GetBool();
  }
  return request;
}

void InstallReadRoutes(httplib::Server& server, const RouteContext& context,
                       ReadRouteDeps deps) {
  auto routes = std::make_shared<ReadRoutes>(context, std::move(deps));
  AddRoute(server, context, "/api/read", kPost, Access::kProtected,
           Bind(routes, &ReadRoutes::PostRead));
}

}  // namespace dynoguard::worker
