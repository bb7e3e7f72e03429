// WebhookReceiver: a local HTTP server that plays the user's bot for the
// forwarding tests, on 127.0.0.1 (port 0 = any), on its own thread. It
// records every POST (any path) with its headers and raw body, and answers
// each one as scripted: a status (200 by default), an optional Retry-After,
// a delay first, or a dropped connection. It can be stopped and started
// again on the same port (a receiver that goes down and comes back).
//
// Thread-safe: every method may be called from any thread while requests are
// served.
#ifndef DYNOGUARD_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
#define DYNOGUARD_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace dynoguard::testing {

// How one POST is answered.
struct ReceiverAnswer {
  int status = 200;
  std::string retry_after;             // non-empty: sent as Retry-After
  std::chrono::milliseconds delay{0};  // wait first (cut short by Stop)
  bool drop_connection = false;        // close the socket without answering

  static ReceiverAnswer Status(int status) {
    ReceiverAnswer answer;
    answer.status = status;
    return answer;
  }
  static ReceiverAnswer RetryAfter(int status, std::string seconds) {
    ReceiverAnswer answer = Status(status);
    answer.retry_after = std::move(seconds);
    return answer;
  }
  static ReceiverAnswer Delayed(int status, std::chrono::milliseconds delay) {
    ReceiverAnswer answer = Status(status);
    answer.delay = delay;
    return answer;
  }
  static ReceiverAnswer Drop() {
    ReceiverAnswer answer;
    answer.drop_connection = true;
    return answer;
  }
};

// One POST as received.
struct ReceivedPost {
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;                                          // raw bytes
  int status = 0;  // the status answered; 0 for a dropped connection
  // The client's port: two requests with the same one came on one kept
  // connection.
  int remote_port = 0;

  // The first header named `name` (any case); "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // X-Dynoguard-Event-Id.
  std::string event_id() const { return Header("X-Dynoguard-Event-Id"); }
};

class WebhookReceiver {
 public:
  struct Options {
    int port = 0;  // 0: any free port (kept across Stop/Start)
  };

  // Starts serving; REQUIREs (Catch2) that the port could be bound.
  explicit WebhookReceiver(Options options);
  WebhookReceiver() : WebhookReceiver(Options{}) {}
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/hook") const;

  // Stops serving: the listening socket and every open connection are
  // closed (a client then sees refused connections), pending delays end.
  // Idempotent.
  void Stop();
  // Serves again on the same port. Fails when the port cannot be bound.
  common::Status Start();
  bool running() const;

  // The answer for requests with no script. Default: 200.
  void SetDefault(ReceiverAnswer answer);
  // The next request (any event) gets `answer` (first in, first out).
  void ScriptNext(ReceiverAnswer answer);
  // The next `times` requests carrying X-Dynoguard-Event-Id `event_id`
  // (negative: all, until cleared) get `answer`; before ScriptNext.
  void ScriptEvent(const std::string& event_id, ReceiverAnswer answer,
                   int times = 1);
  void ClearScripts();

  // The requests answered (or dropped), in the order they were answered.
  std::vector<ReceivedPost> requests() const;
  size_t count() const;
  // Requests whose handling began (a delayed one counts before it is
  // answered).
  size_t arrived() const;
  // The requests answered 2xx, in the order they arrived.
  std::vector<ReceivedPost> delivered() const;
  // The event ids of delivered(), in order.
  std::vector<std::string> delivered_ids() const;

 private:
  void Handle(const httplib::Request& request, httplib::Response& response);
  ReceiverAnswer TakeAnswer(const std::string& event_id);
  bool Sleep(std::chrono::milliseconds delay);

  std::atomic<int> port_{0};

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;            // guarded by mu_
  ReceiverAnswer default_answer_;    // guarded by mu_
  std::deque<ReceiverAnswer> next_;  // guarded by mu_
  struct EventScript {
    ReceiverAnswer answer;
    int times;
  };
  std::map<std::string, EventScript> events_;  // guarded by mu_
  std::vector<ReceivedPost> requests_;         // guarded by mu_
  size_t arrived_ = 0;                         // guarded by mu_

  std::mutex lifecycle_mu_;  // serializes Start/Stop
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
