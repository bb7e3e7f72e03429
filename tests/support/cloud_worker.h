// CloudWorker: the real worker on TRANSPORT=cloud in its own DATA_DIR,
// pointed at a local Graph API server (graph_api_server.h), with the helpers
// the integration tests share: signed webhooks, the 24-hour window, message
// status polling, a graceful stop.
#ifndef DYNOGUARD_TESTS_SUPPORT_CLOUD_WORKER_H_
#define DYNOGUARD_TESTS_SUPPORT_CLOUD_WORKER_H_

#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/graph_api_server.h"
#include "tests/support/json_fields.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_payloads.h"

namespace dynoguard::testing {

inline constexpr char kAppSecret[] = "test-app-secret";
// The approved template every test sends (no 24-hour window needed): the
// "template" member, and a whole POST /api/messages body to `to`.
inline const std::string kTemplate =
    R"("template":{"name":"hello_world","language":{"code":"en_US"}})";
inline std::string TemplateTo(const std::string& to) {
  return R"({"to":")" + to + R"(",)" + kTemplate + "}";
}
inline constexpr char kVerifyToken[] = "test-verify-token";

inline int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A cloud worker in its own DATA_DIR, pointed at `graph`.
class CloudWorker {
 public:
  CloudWorker(const TempDir& dir, const GraphApiServer& graph,
              std::map<std::string, std::string> extra = {},
              const std::string& log_name = "worker.log") {
    SpawnOptions options;
    options.env = {
        {"HOST", "127.0.0.1"},
        {"PORT", "0"},
        {"DATA_DIR", dir.path()},
        {"TRANSPORT", "cloud"},
        {"WHATSAPP_TOKEN", graph.options().access_token},
        {"WHATSAPP_PHONE_NUMBER_ID", graph.options().phone_number_id},
        {"WHATSAPP_APP_SECRET", kAppSecret},
        {"WHATSAPP_VERIFY_TOKEN", kVerifyToken},
        {"WHATSAPP_API_BASE", graph.base_url()},
        {"SEND_DELAY_MS", "0"},
        {"HEARTBEAT_S", "1"},
        {"CONNECTION_CHECK_S", "1"}};
    for (auto& [k, v] : extra) options.env[k] = v;
    options.log_path = dir.File(log_name);
    auto process = Process::Spawn(DYNOGUARD_WORKER_BIN, options);
    REQUIRE(process.ok());
    process_.emplace(std::move(process.value()));
    REQUIRE(process_->WaitForLog("worker: ready", std::chrono::seconds(20)));
    port_ = ListenPort(*process_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(std::chrono::seconds(10));
  }

  Process& process() { return *process_; }
  httplib::Client& client() { return *client_; }
  int port() const { return port_; }

  // GET /session-status's JSON (not an object when it did not answer 200).
  rapidjson::Document Session() {
    auto r = client_->Get("/session-status");
    return Json(r && r->status == 200 ? r->body : "");
  }

  std::string State() {
    auto doc = Session();
    // {"transport","state",…} or {"connection":{"state"}}: accept both.
    std::string state = StringAt(doc, "state");
    if (state.empty() && doc.IsObject() && doc.HasMember("connection"))
      state = StringAt(doc["connection"], "state");
    return state;
  }

  // POST /api/messages → the id (empty unless 202).
  std::string Send(const std::string& body, int* status = nullptr) {
    auto r = client_->Post("/api/messages", body, "application/json");
    if (status != nullptr) *status = r ? r->status : 0;
    if (!r || r->status != 202) return "";
    return StringAt(Json(r->body), "id");
  }

  rapidjson::Document Message(const std::string& id) {
    auto r = client_->Get(("/api/messages/" + id).c_str());
    return Json(r ? r->body : "{}");
  }

  std::string StatusOf(const std::string& id) {
    return StringAt(Message(id), "status");
  }

  // A signed POST /webhook.
  int Webhook(const std::string& body, const std::string& signature) {
    httplib::Headers headers;
    if (!signature.empty()) headers.emplace("X-Hub-Signature-256", signature);
    auto r = client_->Post("/webhook", headers, body, "application/json");
    return r ? r->status : 0;
  }
  int Webhook(const std::string& body) {
    return Webhook(body, SignatureHeader(kAppSecret, body));
  }

  // `from` writes to the business number now: its 24-hour window opens.
  void Inbound(const std::string& from, const std::string& wamid,
               const std::string& text = "hello") {
    MessageHeader header;
    header.from = from;
    header.id = wamid;
    header.timestamp_s = NowS();
    REQUIRE(Webhook(MessagesWebhook({TextMessage(header, text)},
                                    {Contact(from, "Test User")})) == 200);
    REQUIRE(WaitWindowOpen(from));
  }

  // The webhook is answered before it is processed: wait for the contact's
  // window (GET /api/chats/{waId}/messages "windowOpenUntil").
  bool WaitWindowOpen(const std::string& wa_id) {
    return WaitUntil(
        [&] {
          auto r = client_->Get(("/api/chats/" + wa_id + "/messages").c_str());
          if (!r || r->status != 200) return false;
          auto doc = Json(r->body);
          return doc.IsObject() && doc.HasMember("windowOpenUntil") &&
                 doc["windowOpenUntil"].IsNumber();
        },
        std::chrono::seconds(10));
  }

  void Stop() {
    REQUIRE(process_->Signal(SIGTERM).ok());
    CHECK(process_->WaitExit(std::chrono::seconds(20)) ==
          std::optional<int>(0));
  }

 private:
  std::optional<Process> process_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

inline bool WaitStatus(
    CloudWorker& worker, const std::string& id, const std::string& status,
    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return WaitUntil([&] { return worker.StatusOf(id) == status; }, timeout);
}

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_CLOUD_WORKER_H_
