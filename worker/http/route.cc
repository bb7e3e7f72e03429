#include "worker/http/route.h"

#include <exception>
#include <string>
#include <utility>

#include "worker/http/api_auth.h"
#include "worker/http/api_error.h"
#include "worker/http/body_limit.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

bool Authorized(const RouteContext& context, const Request& req,
                Response& res) {
  const std::string authorization = req.get_header_value("Authorization");
  const std::string x_api_key = req.get_header_value("X-Api-Key");
  const std::string host = req.get_header_value("Host");
  const std::string origin = req.get_header_value("Origin");
  CallerInfo caller;
  caller.authorization = authorization;
  caller.x_api_key = x_api_key;
  caller.remote_addr = req.remote_addr;
  caller.host = host;
  caller.origin = origin;
  caller.has_proxy_header = req.has_header("Forwarded") ||
                            req.has_header("X-Forwarded-For") ||
                            req.has_header("X-Real-IP");
  AuthDecision decision =
      Authorize(context.config->api_key, context.config->host, caller);
  switch (decision.result) {
    case AuthResult::kAllowed:
      return true;
    case AuthResult::kUnauthorized:
      res.set_header("WWW-Authenticate", "Bearer");
      SendError(res, 401, api_error::kUnauthorized, decision.message);
      return false;
    case AuthResult::kForbidden:
      SendError(res, 403, api_error::kForbidden, decision.message);
      return false;
  }
  return false;
}

HttpHandler Guard(const RouteContext& context, Access access,
                  HttpHandler handler) {
  return [context, access, handler = std::move(handler)](const Request& req,
                                                         Response& res) {
    try {
      // The server reads up to the largest route limit (LargestBodyLimit);
      // each route holds its own here.
      const uint64_t max_body = context.config->max_body_bytes;
      const uint64_t limit = BodyLimitFor(max_body, req.method, req.path);
      if (req.body.size() > limit) {
        SendError(res, 413, api_error::kPayloadTooLarge,
                  "request body larger than " + std::to_string(limit) +
                      " bytes" +
                      (limit == max_body ? " (MAX_BODY_BYTES)" : ""));
        return;
      }
      if (access == Access::kProtected && !Authorized(context, req, res)) {
        return;
      }
      handler(req, res);
    } catch (const std::exception& e) {
      context.log->Error("http-handler-failed",
                         {{"path", req.path}, {"error", e.what()}});
      SendError(res, 500, api_error::kInternal, "internal error");
    } catch (...) {
      context.log->Error("http-handler-failed", {{"path", req.path}});
      SendError(res, 500, api_error::kInternal, "internal error");
    }
  };
}

}  // namespace

void AddRoute(httplib::Server& server, const RouteContext& context,
              const std::string& pattern, unsigned methods, Access access,
              HttpHandler handler) {
  std::string allow;
  for (auto [bit, name] : {std::pair{kGet, "GET"}, std::pair{kPost, "POST"},
                           std::pair{kDelete, "DELETE"}}) {
    if (methods & bit) allow += (allow.empty() ? "" : ", ") + std::string(name);
  }
  HttpHandler refuse = [allow](const Request&, Response& res) {
    res.set_header("Allow", allow);
    SendError(res, 405, api_error::kMethodNotAllowed,
              "method not allowed; use " + allow);
  };
  HttpHandler guarded = Guard(context, access, std::move(handler));
  server.Get(pattern, (methods & kGet) ? guarded : refuse);
  server.Post(pattern, (methods & kPost) ? guarded : refuse);
  server.Delete(pattern, (methods & kDelete) ? guarded : refuse);
  server.Put(pattern, refuse);
  server.Patch(pattern, refuse);
  server.Options(pattern, refuse);
}

void SendJson(Response& res, int status, const common::JsonWriter& json) {
  res.status = status;
  res.set_content(json.str(), "application/json");
}

void SendRequestError(Response& res, const RequestError& error) {
  SendError(res, 400, error.code, error.message, error.field);
}

bool RequireJsonBody(const Request& req, Response& res) {
  if (IsJsonContentType(req.get_header_value("Content-Type"))) return true;
  SendError(res, 415, api_error::kInvalidField,
            "Content-Type must be application/json", "Content-Type");
  return false;
}

}  // namespace dynoguard::worker
