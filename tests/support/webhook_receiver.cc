#include "tests/support/webhook_receiver.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstdlib>

namespace dynoguard::testing {

namespace {

// Calls f(fd, peer_port) for each socket of this process bound to 127.0.0.1
// `port` (peer_port -1: the listening socket). cpp-httplib gives handlers no
// socket, so a connection to drop is found by its peer's port.
template <typename F>
void ForEachSocketOnPort(int port, F f) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0' && fd != dirfd(dir)) {
      fds.push_back(static_cast<int>(fd));
    }
  }
  closedir(dir);
  for (int fd : fds) {
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t local_len = sizeof(local);
    socklen_t peer_len = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != port) {
      continue;
    }
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      f(fd, -1);
      continue;
    }
    f(fd, ntohs(peer.sin_port));
  }
}

}  // namespace

std::string ReceivedPost::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        strncasecmp(key.data(), name.data(), name.size()) == 0) {
      return value;
    }
  }
  return "";
}

bool ReceivedPost::HasHeader(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        strncasecmp(key.data(), name.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

WebhookReceiver::WebhookReceiver(Options options) : port_(options.port) {
  common::Status started = Start();
  INFO(started.ToString());
  REQUIRE(started.ok());
}

WebhookReceiver::~WebhookReceiver() { Stop(); }

std::string WebhookReceiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

common::Status WebhookReceiver::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (server_) return common::Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(16); };
  auto handler = [this](const httplib::Request& request,
                        httplib::Response& response) {
    Handle(request, response);
  };
  server->Post(".*", handler);
  int port = port_;
  if (port == 0) {
    port = server->bind_to_any_port("127.0.0.1");
    if (port <= 0) return common::Status::Unavailable("bind 127.0.0.1:0");
  } else if (!server->bind_to_port("127.0.0.1", port)) {
    return common::Status::Unavailable("bind 127.0.0.1:" +
                                       std::to_string(port));
  }
  port_ = port;
  // cpp-httplib listens with a backlog of 5; parallel chats connect at once.
  ForEachSocketOnPort(port, [](int fd, int peer_port) {
    if (peer_port < 0) listen(fd, SOMAXCONN);
  });
  httplib::Server* raw = server.get();
  server_ = std::move(server);
  thread_ = std::thread([raw] {
    // A write to a dropped connection gives EPIPE, not a dead test binary.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    raw->listen_after_bind();
  });
  // stop() only works once the accept loop runs.
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return common::Status::Ok();
}

void WebhookReceiver::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!server_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_->stop();
  // Keep-alive connections would otherwise be served until they time out.
  ForEachSocketOnPort(port_, [](int fd, int peer_port) {
    if (peer_port >= 0) shutdown(fd, SHUT_RDWR);
  });
  thread_.join();
  server_.reset();
}

bool WebhookReceiver::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

void WebhookReceiver::SetDefault(ReceiverAnswer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  default_answer_ = std::move(answer);
}

void WebhookReceiver::ScriptNext(ReceiverAnswer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  next_.push_back(std::move(answer));
}

void WebhookReceiver::ScriptEvent(const std::string& event_id,
                                  ReceiverAnswer answer, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  events_[event_id] = EventScript{std::move(answer), times};
}

void WebhookReceiver::ClearScripts() {
  std::lock_guard<std::mutex> lock(mu_);
  next_.clear();
  events_.clear();
}

std::vector<ReceivedPost> WebhookReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t WebhookReceiver::arrived() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arrived_;
}

size_t WebhookReceiver::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

std::vector<ReceivedPost> WebhookReceiver::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ReceivedPost> out;
  for (const ReceivedPost& post : requests_) {
    if (post.status >= 200 && post.status < 300) out.push_back(post);
  }
  return out;
}

std::vector<std::string> WebhookReceiver::delivered_ids() const {
  std::vector<std::string> ids;
  for (const ReceivedPost& post : delivered()) ids.push_back(post.event_id());
  return ids;
}

ReceiverAnswer WebhookReceiver::TakeAnswer(const std::string& event_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++arrived_;
  auto it = events_.find(event_id);
  if (it != events_.end() && it->second.times != 0) {
    ReceiverAnswer answer = it->second.answer;
    if (it->second.times > 0 && --it->second.times == 0) events_.erase(it);
    return answer;
  }
  if (!next_.empty()) {
    ReceiverAnswer answer = std::move(next_.front());
    next_.pop_front();
    return answer;
  }
  return default_answer_;
}

bool WebhookReceiver::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void WebhookReceiver::Handle(const httplib::Request& request,
                             httplib::Response& response) {
  ReceivedPost post;
  post.path = request.path;
  for (const auto& [name, value] : request.headers) {
    post.headers.emplace_back(name, value);
  }
  post.body = request.body;
  post.remote_port = request.remote_port;
  ReceiverAnswer answer = TakeAnswer(post.event_id());
  if (answer.delay.count() > 0 && !Sleep(answer.delay)) {
    // Stopped while waiting: the connection goes away unanswered.
    answer.drop_connection = true;
  }
  post.status = answer.drop_connection ? 0 : answer.status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(post);
  }
  if (answer.drop_connection) {
    const int remote_port = request.remote_port;
    ForEachSocketOnPort(port_, [remote_port](int fd, int peer_port) {
      if (peer_port >= 0 && peer_port == remote_port) shutdown(fd, SHUT_RDWR);
    });
    response.status = 500;
    return;
  }
  response.status = answer.status;
  if (!answer.retry_after.empty()) {
    response.set_header("Retry-After", answer.retry_after);
  }
  response.set_content("{}", "application/json");
}

}  // namespace dynoguard::testing
