// HttpReadinessProbe: WORKER_READY=http:/PATH. Asks 127.0.0.1:PORT/PATH on the
// supervisor's loop every interval until the first HTTP answer, whatever its
// status (a 404 or a 500 still means the command serves), then reports ready
// once.
#ifndef DYNOGUARD_SUPERVISOR_HTTP_READINESS_PROBE_H_
#define DYNOGUARD_SUPERVISOR_HTTP_READINESS_PROBE_H_

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace dynoguard::supervisor {

// What the bytes received so far are. Pure.
enum class HttpAnswer {
  kIncomplete,  // a prefix of a status line: read on
  kAnswer,      // "HTTP/1.1 404 ...": a status line
  kNotHttp,     // anything else
};

// Recognizes the start of an HTTP/1.x response: "HTTP/" digit "." digit SP
// three digits. Only the status line matters; headers and body are not read.
HttpAnswer RecognizeHttpAnswer(std::string_view received);

// The request the probe sends, e.g. "GET /health HTTP/1.1\r\nHost:
// 127.0.0.1:8080\r\nConnection: close\r\n\r\n".
std::string ProbeRequest(int port, std::string_view path);

// Lives on one loop; not thread-safe. Destroying it (or Stop()) cancels the
// probe; its handles are freed in their close callbacks, so it may be
// destroyed from inside the ready callback.
class HttpReadinessProbe {
 public:
  struct Options {
    int port = 8080;         // on 127.0.0.1
    std::string path = "/";  // REQUIRES: begins with '/'
    // Between attempts. Default: 100 ms.
    std::chrono::milliseconds interval{100};
    // An attempt that got no status line this long is dropped and retried.
    // Default: 2 s.
    std::chrono::milliseconds attempt_timeout{2000};
  };

  HttpReadinessProbe(uv_loop_t* loop, Options options,
                     std::function<void()> on_ready);
  ~HttpReadinessProbe();
  HttpReadinessProbe(const HttpReadinessProbe&) = delete;
  HttpReadinessProbe& operator=(const HttpReadinessProbe&) = delete;

  // Starts probing (the first attempt at once). Idempotent.
  void Start();
  // Stops probing; `on_ready` is not called after this. Idempotent.
  void Stop();

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // deleted when its last handle is closed
  uv_loop_t* loop_;
  Options options_;
  std::function<void()> on_ready_;
};

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_HTTP_READINESS_PROBE_H_
