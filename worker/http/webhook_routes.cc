#include "worker/http/webhook_routes.h"

#include <memory>
#include <string>
#include <utility>

#include "common/json_writer.h"
#include "worker/http/api_auth.h"
#include "worker/http/api_error.h"
#include "worker/inbound/cloud/webhook_signature.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

class WebhookRoutes {
 public:
  WebhookRoutes(const RouteContext& context, WebhookRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void Verify(const Request& req, Response& res);
  void Receive(const Request& req, Response& res);

 private:
  const RouteContext ctx_;
  const WebhookRouteDeps d_;
};

void WebhookRoutes::Verify(const Request& req, Response& res) {
  const std::string& token = ctx_.config->whatsapp_verify_token.Reveal();
  if (token.empty()) {
    SendError(res, 403, api_error::kForbidden,
              "webhook verification is not configured: set "
              "WHATSAPP_VERIFY_TOKEN to the verify token entered in the "
              "Meta app's webhook settings");
    return;
  }
  const std::string mode = req.get_param_value("hub.mode");
  const std::string presented = req.get_param_value("hub.verify_token");
  // Both checks always run: the answer's timing does not say which failed.
  const bool token_ok = SecretEquals(presented, token);
  if (mode != "subscribe" || !token_ok) {
    ctx_.log->Warn("webhook-verify-refused",
                   {{"mode_ok", mode == "subscribe"}, {"token_ok", token_ok}});
    SendError(res, 403, api_error::kForbidden,
              "webhook verification failed: hub.mode must be subscribe and "
              "hub.verify_token must equal WHATSAPP_VERIFY_TOKEN");
    return;
  }
  ctx_.log->Info("webhook-verified");
  res.status = 200;
  res.set_content(req.get_param_value("hub.challenge"), "text/plain");
}

void WebhookRoutes::Receive(const Request& req, Response& res) {
  const std::string& secret = ctx_.config->whatsapp_app_secret.Reveal();
  if (secret.empty()) {
    SendError(res, 503, api_error::kUnavailable,
              "webhook signatures cannot be checked: set WHATSAPP_APP_SECRET "
              "(the Meta app's secret)");
    return;
  }
  // The raw body, before anything reads it.
  SignatureCheck check = VerifyWebhookSignature(
      secret, req.body, req.get_header_value("X-Hub-Signature-256"));
  if (check != SignatureCheck::kValid) {
    ctx_.log->Warn("webhook-signature-refused",
                   {{"check", ToString(check)}, {"bytes", req.body.size()}});
    if (check == SignatureCheck::kMissing) {
      SendError(res, 401, api_error::kUnauthorized,
                "X-Hub-Signature-256 is required (sha256=<hex HMAC-SHA256 of "
                "the body with the app secret>)");
    } else {
      SendError(res, 403, api_error::kForbidden,
                "X-Hub-Signature-256 does not match the body");
    }
    return;
  }
  if (d_.inbox == nullptr) {
    SendError(res, 503, api_error::kUnavailable, "inbound path not ready");
    return;
  }
  common::Result<int64_t> seq =
      d_.inbox->Append(InboxSource::kWebhook, req.body, d_.now_ms());
  if (!seq.ok()) {
    // Meta retries what is not answered 200: nothing is lost.
    ctx_.log->Error("webhook-store-failed",
                    {{"error", seq.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the inbox is unavailable; Meta will deliver again");
    return;
  }
  ctx_.log->Debug("webhook-received",
                  {{"seq", *seq}, {"bytes", req.body.size()}});
  common::JsonWriter j;
  j.StartObject().Key("received").Bool(true).EndObject();
  SendJson(res, 200, j);
  if (d_.wake_processor) d_.wake_processor();
}

}  // namespace

void InstallWebhookRoutes(httplib::Server& server, const RouteContext& context,
                          WebhookRouteDeps deps) {
  auto routes = std::make_shared<WebhookRoutes>(context, std::move(deps));
  // GET verifies, POST receives: one AddRoute for both (405 for the rest).
  auto verify = Bind(routes, &WebhookRoutes::Verify);
  auto receive = Bind(routes, &WebhookRoutes::Receive);
  AddRoute(server, context, "/webhook", kGet | kPost, Access::kPublic,
           [verify, receive](const Request& req, Response& res) {
             if (req.method == "GET") {
               verify(req, res);
             } else {
               receive(req, res);
             }
           });
}

}  // namespace dynoguard::worker
