// SandboxDriver: runs a SandboxTransport on a private libuv loop for tests.
// Each helper starts one call and runs the loop until nothing is left to do,
// so the call's callback has run when it returns. It is also the events sink
// given to Start and records what the sandbox reports.
#ifndef DYNOGUARD_TESTS_WORKER_TRANSPORT_SANDBOX_SANDBOX_DRIVER_H_
#define DYNOGUARD_TESTS_WORKER_TRANSPORT_SANDBOX_SANDBOX_DRIVER_H_

#include <uv.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "worker/transport/sandbox/sandbox_transport.h"

namespace dynoguard::worker::sandbox_test {

// A text message request.
inline SendRequest TextRequest(std::string message_id, std::string to,
                               std::string text) {
  SendRequest request;
  request.message_id = std::move(message_id);
  request.to = std::move(to);
  request.type = "text";
  request.content_json = "{\"body\":\"" + text + "\"}";
  request.text = std::move(text);
  return request;
}

// A template request; `template_json` is the template object.
inline SendRequest TemplateRequest(std::string message_id, std::string to,
                                   std::string template_json) {
  SendRequest request;
  request.message_id = std::move(message_id);
  request.to = std::move(to);
  request.type = "template";
  request.content_json = template_json;
  request.template_json = std::move(template_json);
  return request;
}

// Not thread-safe: one test thread.
class SandboxDriver : public TransportEvents {
 public:
  explicit SandboxDriver(SandboxTransport& sandbox) : sandbox_(sandbox) {
    uv_loop_init(&loop_);
    REQUIRE(sandbox_.Start(&loop_, *this).ok());
  }
  ~SandboxDriver() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  SandboxDriver(const SandboxDriver&) = delete;
  SandboxDriver& operator=(const SandboxDriver&) = delete;

  uv_loop_t* loop() { return &loop_; }

  // Sends and waits for the answer; checks the callback did not run inside
  // the call.
  SendResult Send(const SendRequest& request) {
    std::optional<SendResult> answer;
    sandbox_.Send(request, [&](SendResult result) { answer = result; });
    CHECK_FALSE(answer.has_value());
    uv_run(&loop_, UV_RUN_DEFAULT);
    REQUIRE(answer.has_value());
    return *answer;
  }
  // Emits what is due at `now_ms` and lets the store forget it.
  void Poll(int64_t now_ms) {
    sandbox_.Poll(now_ms);
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

  void OnInbound(const InboundMessage& message) override {
    inbound.push_back(message);
  }
  void OnStatus(const StatusUpdate& update) override {
    statuses.push_back(update);
  }
  void OnConnection(ConnectionState state, std::string_view) override {
    connections.push_back(state);
  }

  std::vector<InboundMessage> inbound;
  std::vector<StatusUpdate> statuses;
  std::vector<ConnectionState> connections;

 private:
  SandboxTransport& sandbox_;
  uv_loop_t loop_{};
};

}  // namespace dynoguard::worker::sandbox_test

#endif  // DYNOGUARD_TESTS_WORKER_TRANSPORT_SANDBOX_SANDBOX_DRIVER_H_
