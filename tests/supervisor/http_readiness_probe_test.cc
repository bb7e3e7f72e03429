#include "supervisor/http_readiness_probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

namespace dynoguard::supervisor {
namespace {

TEST_CASE("http readiness: a status line of any status is an answer",
          "[http_readiness_probe]") {
  CHECK(RecognizeHttpAnswer("HTTP/1.1 200 OK\r\n") == HttpAnswer::kAnswer);
  CHECK(RecognizeHttpAnswer("HTTP/1.0 404 Not Found") == HttpAnswer::kAnswer);
  CHECK(RecognizeHttpAnswer("HTTP/1.1 503") == HttpAnswer::kAnswer);
  CHECK(RecognizeHttpAnswer("") == HttpAnswer::kIncomplete);
  CHECK(RecognizeHttpAnswer("HTT") == HttpAnswer::kIncomplete);
  CHECK(RecognizeHttpAnswer("HTTP/1.1 5") == HttpAnswer::kIncomplete);
  CHECK(RecognizeHttpAnswer("SSH-2.0-OpenSSH") == HttpAnswer::kNotHttp);
  CHECK(RecognizeHttpAnswer("HTTP/x.1 200") == HttpAnswer::kNotHttp);
  CHECK(RecognizeHttpAnswer("HTTP/1.1 2OO OK") == HttpAnswer::kNotHttp);
}

TEST_CASE("http readiness: the request asks PATH of 127.0.0.1:PORT",
          "[http_readiness_probe]") {
  std::string request = ProbeRequest(8080, "/health");
  CHECK(
      request.starts_with("GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
  CHECK(request.ends_with("Connection: close\r\n\r\n"));
}

// A listener that only starts answering on its second connection: the probe
// retries after a non-answer and reports ready at the first status line.
TEST_CASE("http readiness: ready at the first answer, after retries",
          "[http_readiness_probe]") {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address),
                 sizeof address) == 0);
  REQUIRE(::listen(listener, 16) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address),
                        &length) == 0);
  int port = ntohs(address.sin_port);

  std::string first_request;
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      int client = ::accept(listener, nullptr, nullptr);
      if (client < 0) return;
      char buffer[512];
      ssize_t n = ::read(client, buffer, sizeof buffer);
      if (i == 0 && n > 0) first_request.assign(buffer, n);
      if (i == 1) {
        std::string answer =
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        (void)!::write(client, answer.data(), answer.size());
      }
      ::close(client);  // the first connection closes without an answer
    }
  });

  uv_loop_t loop;
  uv_loop_init(&loop);
  int ready = 0;
  {
    HttpReadinessProbe probe(&loop,
                             {.port = port,
                              .path = "/ready",
                              .interval = std::chrono::milliseconds(20)},
                             [&] { ++ready; });
    probe.Start();
    // The loop ends once the probe has closed its handles after the answer.
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  server.join();
  ::close(listener);
  CHECK(ready == 1);
  CHECK(first_request.starts_with("GET /ready HTTP/1.1\r\n"));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("http readiness: stopping before an answer frees everything",
          "[http_readiness_probe]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    // Port 1 on loopback: refused, so attempts keep failing.
    HttpReadinessProbe probe(&loop, {.port = 1, .path = "/"}, [] { FAIL(); });
    probe.Start();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace dynoguard::supervisor
