// GraphApiServer: a local stand-in for Meta's Graph API (WhatsApp Cloud API)
// for tests, on 127.0.0.1 (port 0 = any), on its own thread, following the
// documented contract:
//   POST /{version}/{phone-number-id}/messages  send (each message kind's JSON
//        is validated) → {"messaging_product","contacts":[{"input","wa_id"}],
//        "messages":[{"id":"wamid.…","message_status":"accepted"}]}; with
//        "status":"read" it marks a message read → {"success":true}
//   GET  /{version}/{phone-number-id}           the phone number (heartbeat)
//   POST /{version}/{phone-number-id}/media     multipart upload → {"id"}
//   GET  /{version}/{media-id}                  {url,mime_type,sha256,
//        file_size,id,messaging_product}; the url points back here and
//        expires (5 minutes by default)
//   GET  /whatsapp_business/attachments/?mid=…  the download (Bearer needed;
//        404 once expired)
// Every request needs "Authorization: Bearer <token>" (else 401, code 190).
// Errors are Graph's JSON {"error":{message,type,code,error_subcode,
// error_data{messaging_product,details},fbtrace_id}}. Scripts make the next
// request of a route, or every request to one recipient, answer an error,
// answer late or drop the connection; the server can stop and start again on
// the same port. Every request is recorded.
//
// Thread-safe: every method may be called from any thread while requests are
// served.
#ifndef DYNOGUARD_TESTS_SUPPORT_GRAPH_API_SERVER_H_
#define DYNOGUARD_TESTS_SUPPORT_GRAPH_API_SERVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace dynoguard::testing {

// One Graph API error as Meta sends it.
struct GraphError {
  int http_status = 400;
  std::string message = "(#100) Invalid parameter";
  std::string type = "OAuthException";
  int code = 100;
  int error_subcode = 0;  // 0: left out
  std::string details;    // error_data.details; empty: no error_data
  std::string fbtrace_id = "AQnnw3b1dfOxJ2zb2BPRJk_";
};

// Meta's error for a Graph `code`, with the HTTP status Meta documents for
// it: 0/190 → 401; 10, 368, 131031 → 403; 2 → 503; 131000, 131016 → 500;
// 132001 → 404; the rest (1, 4, 80007, 100, 130429, 131008, 131009, 131026,
// 131042, 131047, 131048, 131056, 132000, …) → 400.
GraphError GraphErrorFor(int code);

// {"error":{…}} for `error`.
std::string GraphErrorJson(const GraphError& error);

// Checks one POST /messages body (a send, not a mark-as-read) against the
// documented request shape: messaging_product "whatsapp", optional
// recipient_type "individual", "to", "type" (default "text") and its object —
// text{body ≤ 4096, preview_url?}, template{name, language{code},
// components?[]}, image/document/audio/video/sticker{exactly one of link|id,
// caption? ≤ 1024 (not audio/sticker), filename? (document)},
// reaction{message_id, emoji}, location{latitude, longitude}, contacts[1..]
// {name{formatted_name}}, interactive{type button|list|cta_url|…, body{text}
// for button/list, action: button → 1–3 buttons {type:"reply",
// reply{id,title}}, list → button text and 1–10 sections with 10 rows in
// all} — and context{message_id}. Empty when valid, else what is wrong,
// naming the field ("text.body: missing").
std::string ValidateSendRequest(std::string_view body);

// Which endpoint a request reached.
enum class GraphRoute {
  kMessages,       // POST …/messages (a send)
  kMarkRead,       // POST …/messages with "status":"read"
  kPhoneNumber,    // GET /{phone-number-id}
  kMediaUpload,    // POST …/media
  kMediaInfo,      // GET /{media-id}
  kMediaDownload,  // GET the media url
  kOther,          // anything else (answered 400, code 100)
};

// What a scripted request gets instead of (or before) the normal answer.
struct GraphAnswer {
  std::optional<GraphError> error;     // answer this error (after any delay)
  std::chrono::milliseconds delay{0};  // wait first (cut short by Stop)
  bool drop_connection = false;        // close the socket without answering
  // For a successful send: the message_status to report ("accepted",
  // "held_for_quality_assessment", "paused").
  std::string message_status = "accepted";
  // For a media object (GET /{media-id}): the file_size to report instead of
  // the real one (a stale or lying size).
  std::optional<uint64_t> file_size = std::nullopt;
  // For a valid send: answer 200 with this body instead of the success JSON
  // (e.g. one without messages[0].id). Empty: the normal answer.
  std::string body = "";
  // For a media download (GET the url), how the body goes out: chunked (no
  // Content-Length); held after `stall_after` bytes for `stall_for` (cut
  // short by Stop, or ended when the client closes the connection, which
  // is counted); the connection dropped after `drop_after` bytes. Each
  // piece is at most 64 KiB.
  bool chunked = false;
  std::optional<uint64_t> stall_after = std::nullopt;
  std::chrono::milliseconds stall_for{std::chrono::seconds(30)};
  std::optional<uint64_t> drop_after = std::nullopt;
};

// One request as received, and how it was answered.
struct GraphRequest {
  GraphRoute route = GraphRoute::kOther;
  std::string method;
  std::string path;           // without the query
  std::string authorization;  // the header as sent
  std::string content_type;
  std::string body;
  std::string to;      // sends: the recipient
  std::string type;    // sends: the message type
  int status = 0;      // the HTTP status answered; 0 while pending or dropped
  std::string answer;  // the body answered
  std::string provider_id;  // sends answered 200: the wamid
};

class GraphApiServer {
 public:
  struct Options {
    std::string version = "v25.0";
    std::string access_token = "test-access-token";
    std::string phone_number_id = "106540352242922";
    std::string display_phone_number = "+1 555-078-3881";
    std::string verified_name = "Dynoguard Test";
    // How long a media url stays valid. Default: 5 minutes (Meta's).
    std::chrono::milliseconds media_url_ttl{std::chrono::minutes(5)};
    int port = 0;  // 0: any free port
  };

  // Starts serving; REQUIREs (Catch2) that the port could be bound.
  explicit GraphApiServer(Options options);
  GraphApiServer() : GraphApiServer(Options{}) {}
  ~GraphApiServer();
  GraphApiServer(const GraphApiServer&) = delete;
  GraphApiServer& operator=(const GraphApiServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/<version>": WHATSAPP_API_BASE.
  std::string base_url() const;
  // "http://127.0.0.1:<port>".
  std::string origin() const;
  const Options& options() const { return options_; }

  // Stops serving: the listening socket and every open connection are
  // closed, pending delays end. Idempotent.
  void Stop();
  // Serves again on the same port. Fails when the port cannot be bound.
  common::Status Start();
  bool running() const;

  // Changes the token the server accepts (a "fixed" token after a 190).
  void SetAccessToken(std::string token);
  void SetMediaUrlTtl(std::chrono::milliseconds ttl);
  // A delay before every answer (the benchmark's 50 ms). Default: none.
  void SetDelay(std::chrono::milliseconds delay);

  // The next request of `route` gets `answer` (first in, first out).
  void ScriptNext(GraphRoute route, GraphAnswer answer);
  // The next `times` sends to `to` (negative: all, until cleared) get
  // `answer`; takes precedence over ScriptNext for those sends.
  void ScriptRecipient(const std::string& to, GraphAnswer answer,
                       int times = -1);
  void ClearScripts();

  // Stores a media object as if a user had sent it; returns its id.
  std::string AddMedia(std::string content, std::string mime_type);
  // The content of an uploaded or added media, nullopt when unknown.
  std::optional<std::string> MediaContent(const std::string& id) const;

  std::vector<GraphRequest> requests() const;
  std::vector<GraphRequest> requests(GraphRoute route) const;
  size_t count(GraphRoute route) const;
  // The most sends (POST /messages) this server was handling at once, in
  // total and to any one recipient, since it was made.
  int max_concurrent_sends() const;
  // Media downloads whose client (the worker) closed the connection before
  // the whole body was sent: noticed by a failed write or, while held
  // (stall_after), by the connection's end.
  int downloads_closed_by_client() const;
  int max_concurrent_sends_to_one_recipient() const;

 private:
  struct Media {
    std::string content;
    std::string mime_type;
    std::string sha256;
  };

  void Register(httplib::Server& server);
  void Handle(GraphRoute route, const httplib::Request& request,
              httplib::Response& response);
  void Serve(GraphRoute route, const httplib::Request& request,
             const std::string& to, const GraphAnswer* scripted,
             httplib::Response& response, GraphRequest& record);
  std::optional<GraphAnswer> TakeScript(GraphRoute route,
                                        const std::string& to);
  // Sleeps up to `delay`; false when Stop() cut it short.
  bool Sleep(std::chrono::milliseconds delay);
  void DropConnection(int remote_port);
  // The accepted socket whose peer is `remote_port`, or -1.
  int AcceptedFd(int remote_port);
  // Whether the client of accepted socket `fd` closed its side or reset it.
  bool ClientClosed(int fd);
  // Sends `content` as GraphAnswer's chunked/stall_after/drop_after say.
  void StreamMedia(std::string content, const std::string& mime_type,
                   const GraphAnswer& answer, int remote_port,
                   httplib::Response& response);
  void CloseConnections();
  std::string NextId();

  const Options options_;
  std::atomic<int> port_{0};  // fixed after the first Start

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                               // guarded by mu_
  std::string access_token_;                            // guarded by mu_
  std::chrono::milliseconds media_url_ttl_;             // guarded by mu_
  std::chrono::milliseconds delay_{0};                  // guarded by mu_
  std::map<GraphRoute, std::deque<GraphAnswer>> next_;  // guarded by mu_
  struct RecipientScript {
    GraphAnswer answer;
    int times;
  };
  std::map<std::string, RecipientScript> recipients_;  // guarded by mu_
  std::map<std::string, Media> media_;                 // guarded by mu_
  std::vector<GraphRequest> requests_;                 // guarded by mu_
  int sends_in_flight_ = 0;                            // guarded by mu_
  std::map<std::string, int> sends_in_flight_to_;      // guarded by mu_
  int max_sends_in_flight_ = 0;                        // guarded by mu_
  int max_sends_in_flight_to_one_ = 0;                 // guarded by mu_
  uint64_t next_id_ = 1;                               // guarded by mu_
  int downloads_closed_by_client_ = 0;                 // guarded by mu_

  std::mutex lifecycle_mu_;  // serializes Start/Stop
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_GRAPH_API_SERVER_H_
