#include "worker/http/sandbox_routes.h"

#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "worker/http/api_error.h"
#include "worker/outbound/message_request.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;
using Json = common::JsonWriter;

class SandboxRoutes {
 public:
  SandboxRoutes(const RouteContext& context, SandboxRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void SandboxInbound(const Request& req, Response& res);
  void SandboxOutbox(const Request& req, Response& res);
  void SandboxFail(const Request& req, Response& res);

 private:
  // False (answered 404) unless the sandbox is in use.
  bool SandboxReady(Response& res) const;

  const RouteContext ctx_;
  const SandboxRouteDeps d_;
};

bool SandboxRoutes::SandboxReady(Response& res) const {
  if (d_.sandbox == nullptr) {
    SendError(res, 404, api_error::kNotFound,
              "the sandbox transport is not in use (TRANSPORT=cloud)");
    return false;
  }
  return true;
}

void SandboxRoutes::SandboxInbound(const Request& req, Response& res) {
  if (!SandboxReady(res)) return;
  if (!RequireJsonBody(req, res)) return;
  if (d_.events == nullptr) {
    SendError(res, 503, api_error::kUnavailable, "inbound path not ready");
    return;
  }
  Parsed<InboundRequest> parsed = ParseInboundRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  InboundRequest& in = std::get<InboundRequest>(parsed);
  InboundMessage message = d_.sandbox->SimulateInbound(
      std::move(in.from), std::move(in.text), d_.now_ms(), *d_.events);
  Json j;
  j.StartObject().Key("id").String(message.id).EndObject();
  SendJson(res, 202, j);
}

void SandboxRoutes::SandboxOutbox(const Request&, Response& res) {
  if (!SandboxReady(res)) return;
  Json j;
  j.StartObject().Key("messages").StartArray();
  for (const SandboxTransport::OutboxEntry& e : d_.sandbox->Outbox()) {
    j.StartObject();
    j.Key("id").String(e.id);
    j.Key("to").String(e.to);
    j.Key("type").String(e.type);
    j.Key("text").String(e.text);
    j.Key("sentAt").Int(e.sent_at_ms);
    // The sandbox accepted only JSON objects or arrays here (or nothing).
    if (!e.content_json.empty()) j.Key("content").RawValue(e.content_json);
    j.EndObject();
  }
  j.EndArray().EndObject();
  SendJson(res, 200, j);
}

void SandboxRoutes::SandboxFail(const Request& req, Response& res) {
  if (!SandboxReady(res)) return;
  if (!RequireJsonBody(req, res)) return;
  Parsed<FailRequest> parsed = ParseFailRequest(req.body);
  if (auto* error = std::get_if<RequestError>(&parsed)) {
    SendRequestError(res, *error);
    return;
  }
  FailRequest& fail = std::get<FailRequest>(parsed);
  d_.sandbox->FailNext(fail.count, fail.code, fail.message);
  ctx_.log->Info("sandbox-fail-next",
                 {{"count", fail.count}, {"code", fail.code}});
  Json j;
  j.StartObject()
      .Key("count")
      .Int(fail.count)
      .Key("code")
      .Int(fail.code)
      .EndObject();
  SendJson(res, 200, j);
}

}  // namespace

void InstallSandboxRoutes(httplib::Server& server, const RouteContext& context,
                          SandboxRouteDeps deps) {
  auto routes = std::make_shared<SandboxRoutes>(context, std::move(deps));
  AddRoute(server, context, "/api/sandbox/inbound", kPost, Access::kProtected,
           Bind(routes, &SandboxRoutes::SandboxInbound));
  AddRoute(server, context, "/api/sandbox/outbox", kGet, Access::kProtected,
           Bind(routes, &SandboxRoutes::SandboxOutbox));
  AddRoute(server, context, "/api/sandbox/fail", kPost, Access::kProtected,
           Bind(routes, &SandboxRoutes::SandboxFail));
}

}  // namespace dynoguard::worker
