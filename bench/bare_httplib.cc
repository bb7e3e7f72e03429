// The floor the worker's HTTP figures are compared with: a cpp-httplib server
// (Debian's shared library, TCP_NODELAY on) answering GET /health with a small
// JSON body and nothing else. Built and run by bench/run_benchmarks.py.
//   bare_httplib PORT
#include <httplib.h>

#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  return server.listen("127.0.0.1", std::atoi(argv[1])) ? 0 : 1;
}
