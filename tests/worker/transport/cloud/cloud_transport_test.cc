// CloudTransport on a real libuv loop (run on the test thread) with a real
// HttpClient, against the local Graph API fake (tests/support/
// graph_api_server.h) on 127.0.0.1.
#include "worker/transport/cloud/cloud_transport.h"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "tests/support/graph_api_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"
#include "worker/transport/cloud/cloud_request_builder.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::TestLoop;

using std::chrono::milliseconds;
using testing::GraphAnswer;
using testing::GraphApiServer;
using testing::GraphErrorFor;
using testing::GraphRequest;
using testing::GraphRoute;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Records what the transport reports, and in which order relative to the
// callbacks (`trace`).
class RecordingEvents : public TransportEvents {
 public:
  explicit RecordingEvents(std::vector<std::string>& trace) : trace_(trace) {}
  void OnInbound(const InboundMessage&) override {
    trace_.push_back("inbound");
  }
  void OnStatus(const StatusUpdate&) override { trace_.push_back("status"); }
  void OnConnection(ConnectionState state, std::string_view reason) override {
    connections.emplace_back(state, std::string(reason));
    trace_.push_back("connection " + std::string(ToString(state)) + " " +
                     std::string(reason));
  }

  std::vector<std::pair<ConnectionState, std::string>> connections;

 private:
  std::vector<std::string>& trace_;
};

CloudTransport::Options FastOptions() {
  CloudTransport::Options options;
  options.heartbeat_interval = milliseconds(200);
  options.connection_check = milliseconds(100);
  options.connect_timeout = milliseconds(2000);
  options.total_timeout = milliseconds(5000);
  options.reconnect_base = milliseconds(50);
  options.reconnect_max = milliseconds(200);
  options.now_ms = NowMs;
  return options;
}

// `size` bytes of a pattern with a period of 253 bytes, so a missing or
// doubled piece of a download shows.
std::string PatternedMedia(size_t size) {
  std::string content(size, '\0');
  for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>(i * 7 % 253);
  return content;
}

// The fake, a loop, a client and a started transport; the log goes to a file
// read back by the tests.
class Cloud {
 public:
  explicit Cloud(CloudTransport::Options options = FastOptions(),
                 bool start = true, HttpClient::Options client_options = {})
      : log_fd_(::open(dir_.File("log").c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)),
        log_("worker", common::LogFormat::kText, common::LogLevel::kDebug,
             log_fd_),
        events_(trace) {
    REQUIRE(log_fd_ >= 0);
    auto client = HttpClient::Create(loop.get(), std::move(client_options));
    REQUIRE(client.ok());
    client_ = std::move(client).value();
    options.api_base = server.base_url();
    options.phone_number_id = server.options().phone_number_id;
    options.token = server.options().access_token;
    transport =
        std::make_unique<CloudTransport>(std::move(options), *client_, log_);
    if (start) {
      common::Status started = transport->Start(loop.get(), events_);
      INFO(started.ToString());
      REQUIRE(started.ok());
    }
  }
  ~Cloud() {
    if (transport) {
      bool stopped = false;
      transport->Stop([&] { stopped = true; });
      CHECK(loop.RunUntil([&] { return stopped; }));
      transport.reset();
    }
    client_->Close();
    client_.reset();
    server.Stop();
    ::close(log_fd_);
  }

  SendResult Send(const SendRequest& request) {
    std::optional<SendResult> result;
    transport->Send(request, [&](SendResult r) {
      trace.push_back("send done");
      result = std::move(r);
    });
    REQUIRE(loop.RunUntil([&] { return result.has_value(); }));
    return *result;
  }

  bool WaitForState(ConnectionState state,
                    milliseconds timeout = milliseconds(10000)) {
    return loop.RunUntil([&] { return transport->state() == state; }, timeout);
  }

  std::string LogText() const {
    return testing::ReadFileText(dir_.File("log")).value_or("");
  }
  const std::vector<std::pair<ConnectionState, std::string>>& connections()
      const {
    return events_.connections;
  }
  RecordingEvents& events() { return events_; }
  HttpClient& client() { return *client_; }
  std::string File(const std::string& name) const { return dir_.File(name); }

  GraphApiServer server;
  TestLoop loop;
  std::vector<std::string> trace;
  std::unique_ptr<CloudTransport> transport;

 private:
  testing::TempDir dir_;
  int log_fd_;
  common::Logger log_;
  RecordingEvents events_;
  std::unique_ptr<HttpClient> client_;
};

SendRequest Message(std::string type, std::string content,
                    std::string to = "15551234567") {
  SendRequest request;
  request.message_id = "msg_0123456789abcdef01234567";
  request.to = std::move(to);
  request.type = std::move(type);
  request.content_json = std::move(content);
  return request;
}

SendRequest Text(std::string to = "15551234567") {
  return Message("text", R"({"body":"hello"})", std::move(to));
}

TEST_CASE("CloudTransport connects on its first heartbeat",
          "[cloud-transport]") {
  Cloud cloud;
  CHECK(cloud.transport->name() == "cloud");
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  CHECK(cloud.transport->reason() == "");
  REQUIRE(cloud.connections().size() == 1);
  CHECK(cloud.connections()[0].first == ConnectionState::kConnected);
  CHECK(cloud.transport->last_heartbeat_ms().has_value());
  CloudActivity activity = cloud.transport->activity();
  CHECK(activity.last_heartbeat_ok_ms == cloud.transport->last_heartbeat_ms());
  CHECK_FALSE(activity.last_send_ok_ms.has_value());

  std::vector<GraphRequest> beats =
      cloud.server.requests(GraphRoute::kPhoneNumber);
  REQUIRE_FALSE(beats.empty());
  CHECK(beats[0].method == "GET");
  CHECK(beats[0].path == "/v25.0/106540352242922");
  CHECK(beats[0].authorization == "Bearer test-access-token");
  // Heartbeats go on at HEARTBEAT_S.
  CHECK(cloud.loop.RunUntil(
      [&] { return cloud.server.count(GraphRoute::kPhoneNumber) >= 3; }));
  CHECK(cloud.connections().size() == 1);
  std::string log = cloud.LogText();
  CHECK(log.find("connection state=connected next_heartbeat_in=") !=
        std::string::npos);
  CHECK(log.find("test-access-token") == std::string::npos);
}

TEST_CASE("CloudTransport sends every message kind as the Cloud API takes it",
          "[cloud-transport]") {
  Cloud cloud;
  struct Case {
    std::string type;
    std::string content;
  };
  const Case cases[] = {
      {"text", R"({"body":"hi https://example.com","preview_url":true})"},
      {"template",
       R"({"name":"hello_world","language":{"code":"en_US"},"components":[)"
       R"({"type":"body","parameters":[{"type":"text","text":"Ann"}]}]})"},
      {"image", R"({"link":"https://example.com/a.jpg","caption":"look"})"},
      {"image", R"({"id":"1003383421387256"})"},
      {"document",
       R"({"link":"https://example.com/a.pdf","caption":"c","filename":"a.pdf"})"},
      {"audio", R"({"id":"43"})"},
      {"video", R"({"link":"https://example.com/a.mp4","caption":"v"})"},
      {"sticker", R"({"id":"45"})"},
      {"reaction", R"({"message_id":"wamid.ABC","emoji":"👍"})"},
      {"location", R"({"latitude":52.52,"longitude":13.405,"name":"Berlin"})"},
      {"contacts",
       R"([{"name":{"formatted_name":"Ann Lee"},"phones":[{"phone":"+1 555 0100"}]}])"},
      {"interactive",
       R"({"type":"button","body":{"text":"Pick"},"action":{"buttons":[)"
       R"({"type":"reply","reply":{"id":"y","title":"Yes"}}]}})"},
      {"interactive",
       R"({"type":"list","body":{"text":"Choose"},"action":{"button":"Menu",)"
       R"("sections":[{"title":"S","rows":[{"id":"r1","title":"Row"}]}]}})"},
  };
  size_t sent = 0;
  for (const Case& c : cases) {
    INFO(c.type << " " << c.content);
    SendRequest request = Message(c.type, c.content);
    if (c.type == "text") request.reply_to = "wamid.REPLIED";
    SendResult result = cloud.Send(request);
    INFO(result.error.code << " " << result.error.message);
    REQUIRE(result.ok);
    ++sent;
    std::vector<GraphRequest> sends =
        cloud.server.requests(GraphRoute::kMessages);
    REQUIRE(sends.size() == sent);
    const GraphRequest& got = sends.back();
    CHECK(got.method == "POST");
    CHECK(got.path == "/v25.0/106540352242922/messages");
    CHECK(got.authorization == "Bearer test-access-token");
    CHECK(got.content_type == "application/json");
    CHECK(got.type == c.type);
    CHECK(got.status == 200);
    CHECK(got.body == *BuildSendBody(request));
    CHECK(result.provider_id == got.provider_id);
    CHECK(result.provider_id.starts_with("wamid."));
    CHECK(result.message_status == "accepted");
  }
  CHECK(cloud.server.requests(GraphRoute::kMessages)[0].body.find(
            R"("context":{"message_id":"wamid.REPLIED"})") !=
        std::string::npos);
  CHECK(cloud.transport->activity().last_send_ok_ms.has_value());
}

TEST_CASE("CloudTransport has several sends in flight at once",
          "[cloud-transport]") {
  Cloud cloud;
  cloud.server.SetDelay(milliseconds(100));
  constexpr int kSends = 12;
  std::vector<SendResult> results;
  for (int i = 0; i < kSends; ++i) {
    cloud.transport->Send(Text(std::to_string(15550000 + i)),
                          [&](SendResult r) { results.push_back(r); });
  }
  // All of them reach the fake before the first answer comes back.
  REQUIRE(cloud.loop.RunUntil(
      [&] { return cloud.server.count(GraphRoute::kMessages) == kSends; }));
  CHECK(results.size() < kSends);
  REQUIRE(cloud.loop.RunUntil([&] { return results.size() == kSends; }));
  std::set<std::string> wamids;
  for (const SendResult& r : results) {
    CHECK(r.ok);
    wamids.insert(r.provider_id);
  }
  CHECK(wamids.size() == kSends);
}

TEST_CASE("CloudTransport records the provider's message_status",
          "[cloud-transport]") {
  Cloud cloud;
  for (std::string status : {"held_for_quality_assessment", "paused"}) {
    GraphAnswer answer;
    answer.message_status = status;
    cloud.server.ScriptNext(GraphRoute::kMessages, answer);
    SendResult result = cloud.Send(Text());
    REQUIRE(result.ok);
    CHECK(result.message_status == status);
  }
}

TEST_CASE("CloudTransport retries a 200 that names no message id",
          "[cloud-transport]") {
  Cloud cloud;
  GraphAnswer empty;
  empty.body = R"({"messaging_product":"whatsapp","messages":[]})";
  cloud.server.ScriptNext(GraphRoute::kMessages, empty);
  SendResult result = cloud.Send(Text());
  CHECK_FALSE(result.ok);
  CHECK(result.error.code == "invalid_answer");
  CHECK(result.error.retryable);
  CHECK(ActionOf(result.error) == ProviderAction::kRetry);
  CHECK(result.error.message.find("messages[0].id") != std::string::npos);
  CHECK(cloud.Send(Text()).ok);
}

TEST_CASE("CloudTransport's state can be read from other threads",
          "[cloud-transport]") {
  Cloud cloud;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      ConnectionState state = cloud.transport->state();
      std::string reason = cloud.transport->reason();
      std::optional<int64_t> beat = cloud.transport->last_heartbeat_ms();
      CloudActivity activity = cloud.transport->activity();
      if (state == ConnectionState::kConnected && reason.empty() && beat &&
          activity.last_heartbeat_ok_ms) {
        ++reads;
      }
    }
  });
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  cloud.server.Stop();
  bool down = cloud.WaitForState(ConnectionState::kReconnecting);
  bool back = cloud.server.Start().ok() &&
              cloud.WaitForState(ConnectionState::kConnected);
  bool read = cloud.loop.RunUntil([&] { return reads > 0; });
  done = true;
  reader.join();
  CHECK(down);
  CHECK(back);
  CHECK(read);
}

TEST_CASE("CloudTransport answers each Graph error class",
          "[cloud-transport]") {
  struct Case {
    int code;
    ProviderAction action;
  };
  const Case cases[] = {
      {130429, ProviderAction::kRetry},
      {131000, ProviderAction::kRetry},
      {2, ProviderAction::kRetry},
      {131056, ProviderAction::kSlowRecipient},
      {131047, ProviderAction::kFail},
      {131026, ProviderAction::kFail},
      {100, ProviderAction::kFail},
      {132001, ProviderAction::kFail},
  };
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  for (const Case& c : cases) {
    INFO("code " << c.code);
    cloud.server.ScriptNext(GraphRoute::kMessages,
                            GraphAnswer{GraphErrorFor(c.code)});
    SendResult result = cloud.Send(Text());
    CHECK_FALSE(result.ok);
    CHECK(result.error.code == std::to_string(c.code));
    CHECK(ActionOf(result.error) == c.action);
    CHECK(result.error.retryable == (c.action != ProviderAction::kFail));
    CHECK(result.error.message.find(std::to_string(c.code)) !=
          std::string::npos);
    // None of these takes the connection down (a 5xx counts as one network
    // failure; a success in between clears it).
    CHECK(cloud.transport->state() == ConnectionState::kConnected);
    REQUIRE(cloud.Send(Text()).ok);
  }
  // A send the builder refuses fails without reaching the provider, and
  // its callback still runs later, not from within Send.
  size_t before = cloud.server.count(GraphRoute::kMessages);
  bool called = false;
  cloud.transport->Send(Message("fax", "{}"), [&](SendResult result) {
    called = true;
    CHECK(result.error.code == "invalid_request");
    CHECK_FALSE(result.error.retryable);
    CHECK(result.error.message == "type: unknown \"fax\"");
  });
  CHECK_FALSE(called);
  REQUIRE(cloud.loop.RunUntil([&] { return called; }));
  CHECK(cloud.server.count(GraphRoute::kMessages) == before);
}

TEST_CASE(
    "CloudTransport pauses on pause-class codes and resumes on the next "
    "heartbeat",
    "[cloud-transport]") {
  struct Case {
    int code;
    std::string reason;
  };
  const Case cases[] = {
      {190, "token_invalid"},     {0, "token_invalid"},
      {368, "account_blocked"},   {131048, "spam_rate_limited"},
      {131031, "account_locked"}, {131042, "payment_issue"}};
  for (const Case& c : cases) {
    DYNAMIC_SECTION("code " << c.code) {
      Cloud cloud;
      REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
      cloud.server.ScriptNext(GraphRoute::kMessages,
                              GraphAnswer{GraphErrorFor(c.code)});
      SendResult result = cloud.Send(Text());
      CHECK_FALSE(result.ok);
      CHECK(result.error.code == std::to_string(c.code));
      CHECK(ActionOf(result.error) == ProviderAction::kPauseAll);
      CHECK(result.error.retryable);
      // The state changed (and was announced) before the callback ran.
      REQUIRE(cloud.trace.size() >= 3);
      CHECK(cloud.trace[cloud.trace.size() - 2] ==
            "connection disconnected " + c.reason);
      CHECK(cloud.trace.back() == "send done");
      CHECK(cloud.transport->state() == ConnectionState::kDisconnected);
      CHECK(cloud.transport->reason() == c.reason);
      // The account or token is fine again at the fake: the next heartbeat
      // resumes.
      REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
      CHECK(cloud.transport->reason() == "");
      CHECK(cloud.connections().back().first == ConnectionState::kConnected);
      CHECK(cloud.Send(Text()).ok);
      CHECK(cloud.LogText().find(
                "connection state=disconnected reason=" + c.reason +
                " next_heartbeat_in=") != std::string::npos);
    }
  }
}

TEST_CASE("CloudTransport stays disconnected until the token is fixed",
          "[cloud-transport]") {
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  cloud.server.SetAccessToken("rotated-token");
  SendResult result = cloud.Send(Text());
  CHECK(result.error.code == "190");
  CHECK(cloud.transport->state() == ConnectionState::kDisconnected);
  CHECK(cloud.transport->reason() == "token_invalid");
  // Heartbeats keep failing with 190: still disconnected, and announced once.
  size_t beats = cloud.server.count(GraphRoute::kPhoneNumber);
  REQUIRE(cloud.loop.RunUntil([&] {
    return cloud.server.count(GraphRoute::kPhoneNumber) >= beats + 2;
  }));
  CHECK(cloud.transport->state() == ConnectionState::kDisconnected);
  CHECK(cloud.connections().size() == 2);
  // The fake takes our token again (the user fixed it): resumes by itself.
  cloud.server.SetAccessToken("test-access-token");
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  CHECK(cloud.connections().size() == 3);
  CHECK(cloud.Send(Text()).ok);
  CHECK(cloud.LogText().find("test-access-token") == std::string::npos);
}

TEST_CASE("CloudTransport shows a heartbeat refused at start as disconnected",
          "[cloud-transport]") {
  CloudTransport::Options options = FastOptions();
  Cloud cloud(options, false);
  cloud.server.SetAccessToken("another-token");
  REQUIRE(cloud.transport->Start(cloud.loop.get(), cloud.events()).ok());
  REQUIRE(cloud.WaitForState(ConnectionState::kDisconnected));
  CHECK(cloud.transport->reason() == "token_invalid");
  CHECK_FALSE(cloud.transport->last_heartbeat_ms().has_value());
  CHECK(cloud.transport->activity().last_heartbeat_ms.has_value());
}

TEST_CASE(
    "CloudTransport reconnects with backoff after the Graph API goes away",
    "[cloud-transport]") {
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  cloud.server.Stop();
  REQUIRE(cloud.WaitForState(ConnectionState::kReconnecting));
  CHECK(cloud.transport->reason() == "network_error");
  // Sends fail as retryable network errors meanwhile.
  SendResult result = cloud.Send(Text());
  CHECK(result.error.code == "network_error");
  CHECK(result.error.retryable);
  // The server comes back: connected again, announced.
  REQUIRE(cloud.server.Start().ok());
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  REQUIRE(cloud.connections().size() == 3);
  CHECK(cloud.connections()[1] == std::make_pair(ConnectionState::kReconnecting,
                                                 std::string("network_error")));
  CHECK(cloud.connections()[2].first == ConnectionState::kConnected);
  CHECK(
      cloud.LogText().find("connection state=reconnecting reason=network_error "
                           "next_heartbeat_in=") != std::string::npos);
  CHECK(cloud.Send(Text()).ok);
}

TEST_CASE(
    "CloudTransport counts sends without an answer or with a 5xx as "
    "network failures",
    "[cloud-transport]") {
  // No heartbeat but the first and those of the reconnect backoff.
  CloudTransport::Options options = FastOptions();
  options.heartbeat_interval = milliseconds(600000);
  options.connection_check = milliseconds(600000);
  Cloud cloud(options);
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  // A dropped connection: libcurl retries once on a fresh connection when a
  // reused one dies before any answer, so both attempts are dropped.
  GraphAnswer drop;
  drop.drop_connection = true;
  cloud.server.ScriptNext(GraphRoute::kMessages, drop);
  cloud.server.ScriptNext(GraphRoute::kMessages, drop);
  SendResult dropped = cloud.Send(Text());
  CHECK(dropped.error.code == "network_error");
  CHECK(dropped.error.retryable);
  cloud.server.ClearScripts();
  CHECK(cloud.transport->state() == ConnectionState::kConnected);
  // The second failure in a row (a 500 with 131016): reconnecting.
  cloud.server.ScriptNext(GraphRoute::kMessages,
                          GraphAnswer{GraphErrorFor(131016)});
  SendResult overloaded = cloud.Send(Text());
  CHECK(overloaded.error.code == "131016");
  CHECK(overloaded.error.retryable);
  CHECK(cloud.transport->state() == ConnectionState::kReconnecting);
  CHECK(cloud.transport->reason() == "131016");
  CHECK(cloud.trace[cloud.trace.size() - 2] ==
        "connection reconnecting 131016");
  // The backoff heartbeat finds the service fine again.
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  CHECK(cloud.Send(Text()).ok);
}

TEST_CASE("CloudTransport counts 5xx heartbeats as network failures",
          "[cloud-transport]") {
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  // Heartbeats answered 503 twice: reconnecting with the code, then back.
  cloud.server.ScriptNext(GraphRoute::kPhoneNumber,
                          GraphAnswer{GraphErrorFor(2)});
  cloud.server.ScriptNext(GraphRoute::kPhoneNumber,
                          GraphAnswer{GraphErrorFor(2)});
  REQUIRE(cloud.WaitForState(ConnectionState::kReconnecting));
  CHECK(cloud.transport->reason() == "2");
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  REQUIRE(cloud.connections().size() == 3);
  CHECK(cloud.connections()[1] ==
        std::make_pair(ConnectionState::kReconnecting, std::string("2")));
}

TEST_CASE("CloudTransport shows another 4xx heartbeat as disconnected",
          "[cloud-transport]") {
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  // E.g. a token without the permission for this phone number (code 10).
  cloud.server.ScriptNext(GraphRoute::kPhoneNumber,
                          GraphAnswer{GraphErrorFor(10)});
  REQUIRE(cloud.WaitForState(ConnectionState::kDisconnected));
  CHECK(cloud.transport->reason() == "10");
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
}

TEST_CASE("CloudTransport fails a slow answer at the total timeout",
          "[cloud-transport]") {
  CloudTransport::Options options = FastOptions();
  options.total_timeout = milliseconds(300);
  Cloud cloud(options);
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  GraphAnswer slow;
  slow.delay = milliseconds(30000);
  cloud.server.ScriptNext(GraphRoute::kMessages, slow);
  SendResult result = cloud.Send(Text());
  CHECK_FALSE(result.ok);
  CHECK(result.error.code == "network_error");
  CHECK(result.error.retryable);
  CHECK(result.error.message.find("timeout") != std::string::npos);
}

TEST_CASE("CloudTransport marks messages read, with typing on request",
          "[cloud-transport]") {
  Cloud cloud;
  std::vector<common::Status> results;
  cloud.transport->MarkRead("wamid.IN1", false,
                            [&](common::Status s) { results.push_back(s); });
  cloud.transport->MarkRead("wamid.IN2", true,
                            [&](common::Status s) { results.push_back(s); });
  REQUIRE(cloud.loop.RunUntil([&] { return results.size() == 2; }));
  CHECK(results[0].ok());
  CHECK(results[1].ok());
  std::vector<GraphRequest> reads =
      cloud.server.requests(GraphRoute::kMarkRead);
  REQUIRE(reads.size() == 2);
  std::sort(reads.begin(), reads.end(),
            [](const GraphRequest& a, const GraphRequest& b) {
              return a.body < b.body;
            });
  CHECK(reads[0].body == BuildMarkReadBody("wamid.IN1", false));
  CHECK(reads[1].body == BuildMarkReadBody("wamid.IN2", true));
  CHECK(reads[0].authorization == "Bearer test-access-token");
  CHECK(reads[0].path == "/v25.0/106540352242922/messages");

  cloud.server.ScriptNext(GraphRoute::kMarkRead,
                          GraphAnswer{GraphErrorFor(100)});
  cloud.server.ScriptNext(GraphRoute::kMarkRead,
                          GraphAnswer{GraphErrorFor(131000)});
  results.clear();
  cloud.transport->MarkRead("wamid.X", false,
                            [&](common::Status s) { results.push_back(s); });
  REQUIRE(cloud.loop.RunUntil([&] { return results.size() == 1; }));
  cloud.transport->MarkRead("wamid.Y", false,
                            [&](common::Status s) { results.push_back(s); });
  REQUIRE(cloud.loop.RunUntil([&] { return results.size() == 2; }));
  CHECK(results[0].code() == common::Status::Code::kInvalidArgument);
  CHECK(results[0].message().find("code 100") != std::string::npos);
  CHECK(results[1].code() == common::Status::Code::kUnavailable);
}

TEST_CASE("CloudTransport uploads media as multipart, streamed from disk",
          "[cloud-transport]") {
  Cloud cloud;
  const std::string content =
      std::string("\x89PNG\r\n\x1a\n", 8) + std::string(200000, 'p');
  const std::string path = cloud.File("upload.png");
  std::ofstream(path, std::ios::binary) << content;
  MediaUpload upload;
  upload.file_path = path;
  upload.mime_type = "image/png";
  upload.filename = "photo.png";
  upload.bytes = content.size();
  std::optional<common::Result<std::string>> id;
  cloud.transport->UploadMedia(upload,
                               [&](common::Result<std::string> r) { id = r; });
  REQUIRE(cloud.loop.RunUntil([&] { return id.has_value(); }));
  INFO(id->status().ToString());
  REQUIRE(id->ok());
  CHECK(cloud.server.MediaContent(**id) == content);
  std::vector<GraphRequest> uploads =
      cloud.server.requests(GraphRoute::kMediaUpload);
  REQUIRE(uploads.size() == 1);
  CHECK(uploads[0].path == "/v25.0/106540352242922/media");
  CHECK(uploads[0].content_type.starts_with("multipart/form-data"));
  CHECK(uploads[0].type == "image/png");
  CHECK(uploads[0].authorization == "Bearer test-access-token");

  // An unreadable file, a missing type.
  std::vector<common::Status> failures;
  MediaUpload missing = upload;
  missing.file_path = cloud.File("nope.png");
  cloud.transport->UploadMedia(missing, [&](common::Result<std::string> r) {
    failures.push_back(r.status());
  });
  MediaUpload untyped = upload;
  untyped.mime_type.clear();
  cloud.transport->UploadMedia(untyped, [&](common::Result<std::string> r) {
    failures.push_back(r.status());
  });
  REQUIRE(cloud.loop.RunUntil([&] { return failures.size() == 2; }));
  for (const common::Status& s : failures) {
    CHECK(s.code() == common::Status::Code::kInvalidArgument);
  }
  CHECK(cloud.server.count(GraphRoute::kMediaUpload) == 1);
}

// What a download handed to its sink, and how it ended.
struct Streamed {
  std::optional<common::Status> status;
  std::optional<MediaHead> head;
  std::string body;
  int chunks = 0;
};

TEST_CASE("CloudTransport streams media to a sink", "[cloud-transport]") {
  Cloud cloud;
  const std::string content(300000, 'v');
  const std::string id = cloud.server.AddMedia(content, "video/mp4");
  auto download = [&](const std::string& media_id, uint64_t max_bytes) {
    auto got = std::make_shared<Streamed>();
    MediaStreamSink sink;
    sink.on_head = [got](const MediaHead& head) {
      CHECK(got->chunks == 0);
      got->head = head;
    };
    sink.on_data = [got](std::string_view chunk) {
      ++got->chunks;
      got->body.append(chunk);
      return SinkAnswer::kContinue;
    };
    cloud.transport->DownloadMedia(
        media_id, max_bytes, std::move(sink),
        [got](common::Status status) { got->status = status; });
    REQUIRE(cloud.loop.RunUntil([&] { return got->status.has_value(); }));
    return *got;
  };

  SECTION("streamed with the Bearer header") {
    Streamed media = download(id, 1 << 20);
    INFO(media.status->ToString());
    REQUIRE(media.status->ok());
    REQUIRE(media.head.has_value());
    CHECK(media.head->mime_type == "video/mp4");
    CHECK(media.head->bytes == std::optional<uint64_t>(content.size()));
    CHECK(media.body == content);
    std::vector<GraphRequest> gets =
        cloud.server.requests(GraphRoute::kMediaDownload);
    REQUIRE(gets.size() == 1);
    CHECK(gets[0].authorization == "Bearer test-access-token");
  }
  SECTION("an unknown id is NotFound") {
    Streamed media = download("999", 1 << 20);
    CHECK(media.status->code() == common::Status::Code::kNotFound);
    CHECK_FALSE(media.head.has_value());
  }
  SECTION("an id that is no Graph id is refused") {
    Streamed media = download("../../etc", 1 << 20);
    CHECK(media.status->code() == common::Status::Code::kInvalidArgument);
    CHECK(cloud.server.count(GraphRoute::kMediaInfo) == 0);
  }
  SECTION("an expired URL is NotFound, before any head") {
    cloud.server.SetMediaUrlTtl(milliseconds(-60000));
    Streamed media = download(id, 1 << 20);
    CHECK(media.status->code() == common::Status::Code::kNotFound);
    CHECK(media.status->message().find("expired") != std::string::npos);
    CHECK_FALSE(media.head.has_value());
    CHECK(cloud.server.count(GraphRoute::kMediaDownload) == 1);
  }
  SECTION("too large by its file_size: nothing downloaded") {
    Streamed media = download(id, 1000);
    CHECK(media.status->code() == common::Status::Code::kInvalidArgument);
    CHECK(cloud.server.count(GraphRoute::kMediaDownload) == 0);
  }
  SECTION("too large in fact (a wrong file_size): refused by Content-Length") {
    GraphAnswer lie;
    lie.file_size = 10;
    cloud.server.ScriptNext(GraphRoute::kMediaInfo, lie);
    Streamed media = download(id, 1000);
    CHECK(media.status->code() == common::Status::Code::kInvalidArgument);
    CHECK(media.status->message().find("larger than") != std::string::npos);
    CHECK(cloud.server.count(GraphRoute::kMediaDownload) == 1);
    CHECK(media.body.empty());
  }
  SECTION("too large in fact, chunked: aborted once the bytes pass it") {
    GraphAnswer lie;
    lie.file_size = 10;
    cloud.server.ScriptNext(GraphRoute::kMediaInfo, lie);
    GraphAnswer chunked;
    chunked.chunked = true;
    cloud.server.ScriptNext(GraphRoute::kMediaDownload, chunked);
    Streamed media = download(id, 100000);
    CHECK(media.status->code() == common::Status::Code::kInvalidArgument);
    REQUIRE(media.head.has_value());
    CHECK_FALSE(media.head->bytes.has_value());
    CHECK(media.body.size() <= 100000);
  }
}

TEST_CASE(
    "CloudTransport: a paused download resumes with nothing lost, and "
    "Cancel and Stop end one",
    "[cloud-transport]") {
  Cloud cloud;
  const std::string content = PatternedMedia(2 << 20);
  const std::string id = cloud.server.AddMedia(content, "image/jpeg");
  auto got = std::make_shared<Streamed>();
  auto pause_next = std::make_shared<bool>(true);
  MediaStreamSink sink;
  sink.on_data = [got, pause_next](std::string_view chunk) {
    if (*pause_next) {
      *pause_next = false;
      return SinkAnswer::kPause;
    }
    got->body.append(chunk);
    return SinkAnswer::kContinue;
  };
  MediaDownloadId download = cloud.transport->DownloadMedia(
      id, 16 << 20, std::move(sink),
      [got](common::Status status) { got->status = status; });
  REQUIRE(cloud.loop.RunUntil([&] { return !*pause_next; }));

  SECTION("resumed, every byte once") {
    // Paused for good until resumed: nothing more comes meanwhile.
    cloud.loop.RunUntil([] { return false; }, milliseconds(100));
    CHECK(got->body.empty());
    CHECK_FALSE(got->status.has_value());
    for (int i = 0; i < 5 && !got->status; ++i) {
      *pause_next = true;
      cloud.transport->ResumeDownload(download);
      REQUIRE(cloud.loop.RunUntil(
          [&] { return !*pause_next || got->status.has_value(); }));
    }
    *pause_next = false;
    cloud.transport->ResumeDownload(download);
    REQUIRE(cloud.loop.RunUntil([&] { return got->status.has_value(); }));
    REQUIRE(got->status->ok());
    CHECK(got->body == content);
  }
  SECTION("cancelled") {
    cloud.transport->CancelDownload(download);
    REQUIRE(cloud.loop.RunUntil([&] { return got->status.has_value(); }));
    CHECK(got->status->code() == common::Status::Code::kUnavailable);
    CHECK(got->body.empty());
  }
  SECTION("a stop does not wait for a paused download") {
    bool stopped = false;
    cloud.transport->Stop([&] { stopped = true; });
    REQUIRE(cloud.loop.RunUntil([&] { return stopped; }));
    REQUIRE(got->status.has_value());
    CHECK(got->status->code() == common::Status::Code::kUnavailable);
  }
}

TEST_CASE(
    "CloudTransport: a download paused longer than one call's total timeout "
    "completes",
    "[cloud-transport]") {
  // As the app sets them: every call, and the client's ceiling, well below
  // the stop timeout.
  CloudTransport::Options options = FastOptions();
  options.total_timeout = milliseconds(300);
  HttpClient::Options client;
  client.max_timeout = milliseconds(300);
  Cloud cloud(options, true, client);
  const std::string content = PatternedMedia(2 << 20);
  const std::string id = cloud.server.AddMedia(content, "video/mp4");
  auto got = std::make_shared<Streamed>();
  auto paused = std::make_shared<bool>(false);
  MediaStreamSink sink;
  sink.on_data = [got, paused](std::string_view chunk) {
    if (!*paused && got->body.empty()) {
      *paused = true;  // a slow reader: the first piece waits
      return SinkAnswer::kPause;
    }
    got->body.append(chunk);
    return SinkAnswer::kContinue;
  };
  MediaDownloadId download = cloud.transport->DownloadMedia(
      id, 16 << 20, std::move(sink),
      [got](common::Status status) { got->status = status; });
  REQUIRE(cloud.loop.RunUntil([&] { return *paused; }));
  cloud.loop.RunUntil([] { return false; }, milliseconds(1000));
  REQUIRE_FALSE(got->status.has_value());  // not cut at 300 ms
  cloud.transport->ResumeDownload(download);
  REQUIRE(cloud.loop.RunUntil([&] { return got->status.has_value(); }));
  INFO(got->status->ToString());
  REQUIRE(got->status->ok());
  CHECK(got->body == content);
}

TEST_CASE("MediaFetchTimeout: one call's total plus 64 KiB/s of media",
          "[cloud-transport]") {
  using std::chrono::seconds;
  CHECK(MediaFetchTimeout(seconds(10), 16 << 20) == seconds(10 + 257));
  CHECK(MediaFetchTimeout(seconds(1), 0) == seconds(2));
  CHECK(MediaFetchTimeout(seconds(1), UINT64_MAX) == seconds(1 + 86400));
}

TEST_CASE("CloudTransport stops after what is in flight", "[cloud-transport]") {
  Cloud cloud;
  REQUIRE(cloud.WaitForState(ConnectionState::kConnected));
  GraphAnswer slow;
  slow.delay = milliseconds(300);
  cloud.server.ScriptNext(GraphRoute::kMessages, slow);
  std::optional<SendResult> result;
  cloud.transport->Send(Text(), [&](SendResult r) {
    cloud.trace.push_back("send done");
    result = std::move(r);
  });
  // Wait until the fake holds the send.
  REQUIRE(cloud.loop.RunUntil(
      [&] { return cloud.server.count(GraphRoute::kMessages) == 1; }));
  bool stopped = false;
  cloud.transport->Stop([&] {
    cloud.trace.push_back("stopped");
    stopped = true;
  });
  CHECK_FALSE(stopped);
  const size_t beats = cloud.server.count(GraphRoute::kPhoneNumber);
  REQUIRE(cloud.loop.RunUntil([&] { return stopped; }));
  REQUIRE(result.has_value());
  CHECK(result->ok);
  REQUIRE(cloud.trace.size() >= 2);
  CHECK(cloud.trace[cloud.trace.size() - 2] == "send done");
  CHECK(cloud.trace.back() == "stopped");

  // No heartbeat after Stop; later calls are answered with errors.
  SendResult late = cloud.Send(Text());
  CHECK(late.error.code == "network_error");
  CHECK(late.error.retryable);
  bool again = false;
  cloud.transport->Stop([&] { again = true; });
  CHECK_FALSE(again);
  REQUIRE(cloud.loop.RunUntil([&] { return again; }));
  cloud.loop.RunUntil([] { return false; }, milliseconds(500));
  CHECK(cloud.server.count(GraphRoute::kPhoneNumber) == beats);
  CHECK(cloud.server.count(GraphRoute::kMessages) == 1);
}

TEST_CASE(
    "CloudTransport stops at once with nothing in flight but a "
    "heartbeat",
    "[cloud-transport]") {
  Cloud cloud;
  GraphAnswer hung;
  hung.delay = milliseconds(30000);
  cloud.server.ScriptNext(GraphRoute::kPhoneNumber, hung);
  REQUIRE(cloud.loop.RunUntil(
      [&] { return cloud.server.count(GraphRoute::kPhoneNumber) == 1; }));
  bool stopped = false;
  cloud.transport->Stop([&] { stopped = true; });
  CHECK_FALSE(stopped);
  REQUIRE(cloud.loop.RunUntil([&] { return stopped; }, milliseconds(2000)));
  // The cancelled heartbeat taught the state nothing.
  CHECK(cloud.transport->state() == ConnectionState::kStarting);
  CHECK(cloud.connections().empty());
}

TEST_CASE("CloudTransport refuses options it cannot work with",
          "[cloud-transport]") {
  struct Case {
    std::function<void(CloudTransport::Options&)> change;
    std::string field;
  };
  const Case cases[] = {
      {[](auto& o) { o.api_base = "graph.facebook.com/v25.0"; },
       "WHATSAPP_API_BASE"},
      {[](auto& o) { o.phone_number_id.clear(); }, "WHATSAPP_PHONE_NUMBER_ID"},
      {[](auto& o) { o.phone_number_id = "1/2"; }, "WHATSAPP_PHONE_NUMBER_ID"},
      {[](auto& o) { o.token.clear(); }, "WHATSAPP_TOKEN"},
      {[](auto& o) { o.token += "\r\nX-Injected: 1"; }, "WHATSAPP_TOKEN"},
      {[](auto& o) { o.now_ms = nullptr; }, "now_ms"},
      {[](auto& o) { o.heartbeat_interval = milliseconds(0); }, "HEARTBEAT_S"},
  };
  GraphApiServer server;
  TestLoop loop;
  auto client = HttpClient::Create(loop.get(), {});
  REQUIRE(client.ok());
  common::Logger log("worker", common::LogFormat::kText,
                     common::LogLevel::kError);
  std::vector<std::string> trace;
  RecordingEvents events(trace);
  for (const Case& c : cases) {
    INFO(c.field);
    CloudTransport::Options options = FastOptions();
    options.api_base = server.base_url();
    options.phone_number_id = "106540352242922";
    options.token = "secret-token-value";
    c.change(options);
    CloudTransport transport(std::move(options), **client, log);
    common::Status started = transport.Start(loop.get(), events);
    CHECK(started.code() == common::Status::Code::kInvalidArgument);
    CHECK(started.message().find(c.field) != std::string::npos);
    CHECK(started.message().find("secret-token-value") == std::string::npos);
  }
  (*client)->Close();
}

}  // namespace
}  // namespace dynoguard::worker
