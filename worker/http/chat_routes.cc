#include "worker/http/chat_routes.h"

#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json_writer.h"
#include "worker/http/api_error.h"
#include "worker/inbound/inbound_policy.h"
#include "worker/outbound/message_request.h"

namespace dynoguard::worker {
namespace {

using httplib::Request;
using httplib::Response;

// `text` as a limit of 1..kMaxChatMessages; nullopt otherwise.
std::optional<size_t> ParseLimit(std::string_view text) {
  size_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < 1 || value > kMaxChatMessages) {
    return std::nullopt;
  }
  return value;
}

class ChatRoutes {
 public:
  ChatRoutes(const RouteContext& context, ChatRouteDeps deps)
      : ctx_(context), d_(std::move(deps)) {}

  void Messages(const Request& req, Response& res);

 private:
  const RouteContext ctx_;
  const ChatRouteDeps d_;
};

void ChatRoutes::Messages(const Request& req, Response& res) {
  if (d_.history == nullptr) {
    SendError(res, 503, api_error::kUnavailable, "chat history not ready");
    return;
  }
  const std::string raw = req.matches.size() > 1 ? req.matches[1].str() : "";
  std::optional<std::string> wa_id = NormalizePhoneNumber(raw);
  if (!wa_id) {
    SendError(res, 400, api_error::kInvalidField,
              "waId must be the contact's number, 8 to 15 digits", "waId");
    return;
  }
  size_t limit = kDefaultChatMessages;
  if (req.has_param("limit")) {
    std::optional<size_t> parsed = ParseLimit(req.get_param_value("limit"));
    if (!parsed) {
      SendError(res, 400, api_error::kInvalidField,
                "limit must be an integer from 1 to " +
                    std::to_string(kMaxChatMessages),
                "limit");
      return;
    }
    limit = *parsed;
  }

  std::optional<int64_t> open_until;
  if (d_.inbox != nullptr) {
    common::Result<std::optional<int64_t>> last = d_.inbox->LastInbound(*wa_id);
    if (!last.ok()) {
      ctx_.log->Error("inbound-window-read-failed",
                      {{"error", last.status().ToString()}});
      SendError(res, 503, api_error::kUnavailable,
                "the inbound store is unavailable; try again");
      return;
    }
    if (WindowOpenAt(*last, d_.now_ms())) {
      open_until = WindowClosesAtMs(**last);
    }
  }

  common::Result<std::vector<ChatEntry>> entries =
      d_.history->Recent(*wa_id, limit);
  if (!entries.ok()) {
    ctx_.log->Error("chat-read-failed",
                    {{"error", entries.status().ToString()}});
    SendError(res, 503, api_error::kUnavailable,
              "the chat history is unavailable; try again");
    return;
  }
  common::JsonWriter j;
  j.StartObject();
  j.Key("waId").String(*wa_id);
  j.Key("windowOpenUntil");
  if (open_until) {
    j.Int(*open_until);
  } else {
    j.Null();
  }
  j.Key("messages").StartArray();
  for (const ChatEntry& e : *entries) {
    j.StartObject();
    j.Key("id").String(e.id);
    j.Key("direction").String(e.outbound ? "out" : "in");
    j.Key("type").String(e.type);
    if (!e.text.empty()) j.Key("text").String(e.text);
    if (!e.status.empty()) j.Key("status").String(e.status);
    j.Key("timestamp").Int(e.timestamp_ms);
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  SendJson(res, 200, j);
}

}  // namespace

void InstallChatRoutes(httplib::Server& server, const RouteContext& context,
                       ChatRouteDeps deps) {
  if (!deps.now_ms) {
    // Not wired yet: the wall clock, so the route still answers.
    deps.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  auto routes = std::make_shared<ChatRoutes>(context, std::move(deps));
  AddRoute(server, context, "/api/chats/([^/]+)/messages", kGet,
           Access::kProtected, Bind(routes, &ChatRoutes::Messages));
}

}  // namespace dynoguard::worker
