// The floor the worker's HTTP figures are compared with: a cpp-httplib server
// (Debian's shared library, TCP_NODELAY on) doing the least each route can:
//  - GET /health answers a small JSON body;
//  - POST /api/messages is Express's in-memory POST of the enqueue section
//    (bench/run_benchmarks.py EXPRESS_JS) in C++: parse the JSON body
//    (RapidJSON), push the message to a vector under a mutex, answer 202 with
//    its id. Nothing is durable: it is the ceiling of a POST on this library
//    and this box, against which the worker's durable enqueue is read.
// Built and run by bench/run_benchmarks.py.
//   bare_httplib PORT
#include <httplib.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  struct Message {
    std::string id, to, template_name;
  };
  std::mutex mu;
  std::vector<Message> queue;
  server.Post("/api/messages",
              [&](const httplib::Request& req, httplib::Response& res) {
                rapidjson::Document body;
                body.Parse(req.body.data(), req.body.size());
                if (body.HasParseError() || !body.IsObject() ||
                    !body.HasMember("to") || !body["to"].IsString()) {
                  res.status = 400;
                  res.set_content(R"({"error":{"code":"invalid_json"}})",
                                  "application/json");
                  return;
                }
                Message m;
                m.to = body["to"].GetString();
                if (body.HasMember("template") && body["template"].IsObject() &&
                    body["template"].HasMember("name") &&
                    body["template"]["name"].IsString())
                  m.template_name = body["template"]["name"].GetString();
                {
                  std::lock_guard<std::mutex> lock(mu);
                  m.id = "msg_" + std::to_string(queue.size() + 1);
                  queue.push_back(m);
                }
                res.status = 202;
                res.set_content(R"({"id":")" + m.id + R"(","status":"queued"})",
                                "application/json");
              });
  return server.listen("127.0.0.1", std::atoi(argv[1])) ? 0 : 1;
}
