#include "supervisor/http_readiness_probe.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <cctype>
#include <memory>

namespace dynoguard::supervisor {

HttpAnswer RecognizeHttpAnswer(std::string_view received) {
  // "HTTP/" D "." D SP D D D, where D is a digit.
  constexpr std::string_view kShape = "HTTP/0.0 000";
  size_t n = std::min(received.size(), kShape.size());
  for (size_t i = 0; i < n; ++i) {
    char want = kShape[i];
    char got = received[i];
    bool fits = want == '0' ? std::isdigit(static_cast<unsigned char>(got)) != 0
                            : got == want;
    if (!fits) return HttpAnswer::kNotHttp;
  }
  return n == kShape.size() ? HttpAnswer::kAnswer : HttpAnswer::kIncomplete;
}

std::string ProbeRequest(int port, std::string_view path) {
  return fmt::format(
      "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: "
      "dynoguard-supervisor\r\nConnection: close\r\n\r\n",
      path, port);
}

// One attempt is one connection; at most one is in flight. Everything the
// callbacks touch lives here, on the heap, until the last handle is closed.
struct HttpReadinessProbe::Impl {
  struct Attempt {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    std::string request;
    std::string received;
    Impl* impl;
    uint64_t started_ms;
  };

  HttpReadinessProbe* owner = nullptr;  // null once detached from its probe
  uv_loop_t* loop = nullptr;
  Options options;
  std::function<void()> on_ready;
  uv_timer_t timer{};
  Attempt* attempt = nullptr;  // in flight, or null
  int open_handles = 0;
  bool stopped = false;

  void Tick() {
    if (stopped) return;
    if (attempt != nullptr) {
      if (uv_now(loop) - attempt->started_ms <
          static_cast<uint64_t>(options.attempt_timeout.count()))
        return;
      CloseAttempt();
    }
    StartAttempt();
  }

  void StartAttempt() {
    auto* a = new Attempt;
    a->impl = this;
    a->started_ms = uv_now(loop);
    a->request = ProbeRequest(options.port, options.path);
    uv_tcp_init(loop, &a->tcp);
    a->tcp.data = a;
    ++open_handles;
    attempt = a;
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", options.port, &address);
    a->connect.data = a;
    int rc =
        uv_tcp_connect(&a->connect, &a->tcp,
                       reinterpret_cast<const sockaddr*>(&address), &OnConnect);
    if (rc != 0) CloseAttempt();
  }

  // Closes the attempt in flight; its memory goes in the close callback.
  void CloseAttempt() {
    Attempt* a = attempt;
    if (a == nullptr) return;
    attempt = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&a->tcp), [](uv_handle_t* h) {
      auto* done = static_cast<Attempt*>(h->data);
      Impl* impl = done->impl;
      delete done;
      impl->HandleClosed();
    });
  }

  void HandleClosed() {
    if (--open_handles == 0 && stopped) delete this;
  }

  void Stop() {
    if (stopped) return;
    stopped = true;
    CloseAttempt();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
      static_cast<Impl*>(h->data)->HandleClosed();
    });
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* a = static_cast<Attempt*>(req->data);
    Impl* impl = a->impl;
    // A closed attempt still gets its callback (UV_ECANCELED).
    if (impl->attempt != a) return;
    if (status != 0) {
      impl->CloseAttempt();  // refused: nobody listens yet; next tick retries
      return;
    }
    uv_buf_t out = uv_buf_init(a->request.data(),
                               static_cast<unsigned>(a->request.size()));
    a->write.data = a;
    auto* stream = reinterpret_cast<uv_stream_t*>(&a->tcp);
    if (uv_write(&a->write, stream, &out, 1, [](uv_write_t*, int) {}) != 0 ||
        uv_read_start(stream, &OnAlloc, &OnRead) != 0) {
      impl->CloseAttempt();
    }
  }

  static void OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    // Only the status line matters; what is read is appended to `received`.
    static thread_local char scratch[256];
    *buf = uv_buf_init(scratch, sizeof scratch);
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* a = static_cast<Attempt*>(stream->data);
    Impl* impl = a->impl;
    if (impl->attempt != a) return;
    if (nread < 0) {
      impl->CloseAttempt();  // closed without a status line: retry
      return;
    }
    a->received.append(buf->base, static_cast<size_t>(nread));
    switch (RecognizeHttpAnswer(a->received)) {
      case HttpAnswer::kIncomplete:
        return;
      case HttpAnswer::kNotHttp:
        impl->CloseAttempt();
        return;
      case HttpAnswer::kAnswer: {
        // Stop first: the callback may destroy the probe.
        auto on_ready = impl->on_ready;
        if (impl->owner != nullptr) impl->owner->impl_ = nullptr;
        impl->owner = nullptr;
        impl->Stop();
        on_ready();
        return;
      }
    }
  }
};

HttpReadinessProbe::HttpReadinessProbe(uv_loop_t* loop, Options options,
                                       std::function<void()> on_ready)
    : loop_(loop),
      options_(std::move(options)),
      on_ready_(std::move(on_ready)) {}

HttpReadinessProbe::~HttpReadinessProbe() { Stop(); }

void HttpReadinessProbe::Start() {
  if (impl_ != nullptr) return;
  impl_ = new Impl;
  impl_->owner = this;
  impl_->loop = loop_;
  impl_->options = options_;
  impl_->on_ready = on_ready_;
  uv_timer_init(loop_, &impl_->timer);
  impl_->timer.data = impl_;
  impl_->open_handles = 1;
  auto interval = static_cast<uint64_t>(options_.interval.count());
  uv_timer_start(
      &impl_->timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Tick(); },
      0, interval);
}

void HttpReadinessProbe::Stop() {
  if (impl_ == nullptr) return;
  impl_->owner = nullptr;
  impl_->Stop();  // deletes itself once its handles are closed
  impl_ = nullptr;
}

}  // namespace dynoguard::supervisor
