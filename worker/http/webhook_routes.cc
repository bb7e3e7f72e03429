#include "worker/http/webhook_routes.h"

#include <atomic>
#include <chrono>
#include <climits>
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

// Refused requests come from anyone (the route is public): their warnings are
// logged at most once a minute, with how many were not logged in between.
constexpr int64_t kRefusedLogIntervalMs = 60 * 1000;

class WebhookRoutes {
 public:
  WebhookRoutes(const RouteContext& context, WebhookRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void Verify(const Request& req, Response& res);
  void Receive(const Request& req, Response& res);

 private:
  // True when a refusal at `now_ms` may be logged; `suppressed` gets how
  // many were not logged since the last one.
  bool MayLogRefusal(int64_t now_ms, uint64_t& suppressed);

  const RouteContext ctx_;
  const WebhookRouteDeps d_;
  std::atomic<int64_t> refusal_logged_ms_{INT64_MIN};
  std::atomic<uint64_t> refusals_suppressed_{0};
};

bool WebhookRoutes::MayLogRefusal(int64_t now_ms, uint64_t& suppressed) {
  int64_t last = refusal_logged_ms_.load();
  if (last != INT64_MIN && now_ms - last < kRefusedLogIntervalMs) {
    refusals_suppressed_.fetch_add(1);
    return false;
  }
  // One thread wins the minute; the others count as suppressed.
  if (!refusal_logged_ms_.compare_exchange_strong(last, now_ms)) {
    refusals_suppressed_.fetch_add(1);
    return false;
  }
  suppressed = refusals_suppressed_.exchange(0);
  return true;
}

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
    if (uint64_t suppressed = 0; MayLogRefusal(d_.now_ms(), suppressed)) {
      ctx_.log->Warn("webhook-verify-refused",
                     {{"mode_ok", mode == "subscribe"},
                      {"token_ok", token_ok},
                      {"suppressed", suppressed}});
    }
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
    if (uint64_t suppressed = 0; MayLogRefusal(d_.now_ms(), suppressed)) {
      ctx_.log->Warn("webhook-signature-refused", {{"check", ToString(check)},
                                                   {"bytes", req.body.size()},
                                                   {"suppressed", suppressed}});
    }
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
  if (!deps.now_ms) {
    // Not wired yet: the wall clock, so the route still answers.
    deps.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
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
