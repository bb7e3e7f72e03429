#include "worker/transport/sandbox/sandbox_transport.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/worker/transport/sandbox/sandbox_driver.h"

namespace dynoguard::worker {
namespace {

using dynoguard::testing::ReadFileText;
using dynoguard::testing::TempDir;
using sandbox_test::SandboxDriver;
using sandbox_test::TemplateRequest;
using sandbox_test::TextRequest;

TEST_CASE("sandbox: a send lands in the outbox, oldest first", "[sandbox]") {
  int64_t now = 1000;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto first = driver.Send(TextRequest("msg_1", "15551234567", "hello"));
  now = 2000;
  auto second = driver.Send(
      TemplateRequest("msg_2", "15557654321", R"({"name":"welcome"})"));
  REQUIRE(first.ok);
  REQUIRE(second.ok);
  CHECK(first.message_status == "accepted");
  CHECK(first.provider_id != second.provider_id);
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 2);
  CHECK(outbox[0].id == first.provider_id);
  CHECK(outbox[0].to == "15551234567");
  CHECK(outbox[0].text == "hello");
  CHECK(outbox[0].sent_at_ms == 1000);
  CHECK(outbox[0].type == "text");
  CHECK(outbox[0].content_json == R"({"body":"hello"})");
  CHECK(outbox[1].type == "template");
  CHECK(outbox[1].content_json == R"({"name":"welcome"})");
}

TEST_CASE("sandbox: every message kind is accepted with its object",
          "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{5}; });
  SandboxDriver driver(sandbox);
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"image", R"({"link":"https://example.com/a.jpg","caption":"A cat"})"},
      {"document", R"({"id":"sbx-media-1","filename":"a.pdf"})"},
      {"audio", R"({"link":"https://example.com/a.ogg"})"},
      {"video", R"({"link":"https://example.com/a.mp4"})"},
      {"sticker", R"({"link":"https://example.com/a.webp"})"},
      {"reaction", R"({"message_id":"wamid.x","emoji":"\u2764"})"},
      {"location", R"({"latitude":1.5,"longitude":2.5,"name":"Here"})"},
      {"contacts", R"([{"name":{"formatted_name":"A"}}])"},
      {"interactive", R"({"type":"button","body":{"text":"Pick"}})"},
  };
  for (const auto& [type, content] : kinds) {
    SendRequest request;
    request.message_id = "msg_" + type;
    request.to = "15551234567";
    request.type = type;
    request.content_json = content;
    request.text = "summary of " + type;
    CHECK(driver.Send(request).ok);
  }
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == kinds.size());
  CHECK(outbox[0].type == "image");
  CHECK(outbox[0].text == "summary of image");
  CHECK(outbox[0].content_json == kinds[0].second);
  CHECK(outbox.back().type == "interactive");
}

TEST_CASE("sandbox: an unknown type or a broken object fails like Graph's 100",
          "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{5}; });
  SandboxDriver driver(sandbox);
  SendRequest unknown = TextRequest("msg_1", "15551234567", "x");
  unknown.type = "hologram";
  SendResult refused = driver.Send(unknown);
  CHECK_FALSE(refused.ok);
  CHECK(refused.error.code == "100");
  CHECK(refused.error.message.find("hologram") != std::string::npos);
  SendRequest broken = TextRequest("msg_2", "15551234567", "x");
  broken.content_json = R"({"body":)";
  CHECK(driver.Send(broken).error.code == "100");
  broken.content_json = R"("just a string")";
  SendResult not_object = driver.Send(broken);
  CHECK(not_object.error.code == "100");
  CHECK_FALSE(not_object.error.retryable);
  CHECK(sandbox.Outbox().empty());
  // A record from before message kinds (no content) is still a text.
  SendRequest old;
  old.message_id = "msg_3";
  old.to = "15551234567";
  old.type = "";
  old.text = "old";
  CHECK(driver.Send(old).ok);
  REQUIRE(sandbox.Outbox().size() == 1);
  CHECK(sandbox.Outbox()[0].type == "text");
}

TEST_CASE("sandbox: several sends in flight at once all land", "[sandbox]") {
  int64_t now = 1000;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  std::vector<SendResult> answers;
  for (int i = 0; i < 5; ++i) {
    sandbox.Send(TextRequest("msg_" + std::to_string(i),
                             "1555000000" + std::to_string(i), "hi"),
                 [&](SendResult result) { answers.push_back(result); });
  }
  CHECK(answers.empty());  // never from within the call
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(answers.size() == 5);
  for (const auto& answer : answers) CHECK(answer.ok);
  CHECK(sandbox.Outbox().size() == 5);
}

TEST_CASE("sandbox: receipts move through delivered then read when due",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport::Options options;
  options.outbox_capacity = 10;
  options.delivered_after_ms = 200;
  options.read_after_ms = 1000;
  SandboxTransport sandbox(options, [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto sent = driver.Send(TextRequest("msg_1", "15551234567", "hi"));
  driver.Poll(100);
  CHECK(driver.statuses.empty());
  driver.Poll(250);
  REQUIRE(driver.statuses.size() == 1);
  CHECK(driver.statuses[0].status == MessageStatus::kDelivered);
  CHECK(driver.statuses[0].provider_id == sent.provider_id);
  driver.Poll(1000);
  REQUIRE(driver.statuses.size() == 2);
  CHECK(driver.statuses[1].status == MessageStatus::kRead);
  driver.Poll(5000);
  CHECK(driver.statuses.size() == 2);
}

TEST_CASE(
    "sandbox: told to fail, the next sends fail with a classified Graph error",
    "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  sandbox.FailNext(2, 131000, "Something went wrong");
  auto first = driver.Send(TextRequest("msg_1", "15551234567", "a"));
  auto second = driver.Send(TextRequest("msg_2", "15551234567", "b"));
  auto third = driver.Send(TextRequest("msg_3", "15551234567", "c"));
  CHECK_FALSE(first.ok);
  CHECK(first.error.code == "131000");
  CHECK(first.error.retryable);
  CHECK_FALSE(second.ok);
  CHECK(third.ok);
  sandbox.FailNext(1, 131026, "Message undeliverable");
  auto permanent = driver.Send(TextRequest("msg_4", "15551234567", "d"));
  CHECK_FALSE(permanent.ok);
  CHECK_FALSE(permanent.error.retryable);
  CHECK(sandbox.Outbox().size() == 1);
}

TEST_CASE("sandbox: the outbox is bounded", "[sandbox]") {
  int64_t now = 0;
  SandboxTransport::Options options;
  options.outbox_capacity = 3;
  SandboxTransport sandbox(options, [&now] { return now; });
  SandboxDriver driver(sandbox);
  for (int i = 0; i < 5; ++i) {
    (void)driver.Send(TextRequest("msg", "15551234567", std::to_string(i)));
  }
  auto outbox = sandbox.Outbox();
  REQUIRE(outbox.size() == 3);
  CHECK(outbox.front().text == "2");
  CHECK(outbox.back().text == "4");
}

TEST_CASE("sandbox: MarkRead is recorded and answered on the loop",
          "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  std::optional<common::Status> answer;
  sandbox.MarkRead("wamid.in.1", /*typing=*/true,
                   [&](common::Status status) { answer = status; });
  CHECK_FALSE(answer.has_value());
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(answer.has_value());
  CHECK(answer->ok());
  auto marks = sandbox.ReadMarks();
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].message_id == "wamid.in.1");
  CHECK(marks[0].typing);
}

TEST_CASE("sandbox: uploaded media comes back by its id", "[sandbox]") {
  TempDir dir;
  SandboxTransport::Options options;
  options.media_dir = dir.File("sandbox-media");
  SandboxTransport sandbox(options, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  const std::string source = dir.File("upload.bin");
  const std::string bytes("\x89PNG\r\n\0binary", 13);
  { std::ofstream(source, std::ios::binary) << bytes; }

  std::optional<common::Result<std::string>> uploaded;
  sandbox.UploadMedia({source, "image/png", "cat.png", bytes.size()},
                      [&](common::Result<std::string> id) { uploaded = id; });
  CHECK_FALSE(uploaded.has_value());
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(uploaded.has_value());
  REQUIRE(uploaded->ok());
  const std::string id = uploaded->value();
  CHECK(id.rfind("sbx-media-", 0) == 0);
  CHECK(id.size() == 10 + 32);
  struct stat st {};
  REQUIRE(::stat((options.media_dir + "/" + id).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  struct Got {
    common::Status status;
    MediaHead head;
    std::string body;
  };
  auto download = [&](const std::string& media_id, uint64_t max_bytes) {
    std::optional<Got> got;
    auto out = std::make_shared<Got>();
    MediaStreamSink sink;
    sink.on_head = [out](const MediaHead& head) { out->head = head; };
    sink.on_data = [out](std::string_view chunk) {
      out->body.append(chunk);
      return SinkAnswer::kContinue;
    };
    sandbox.DownloadMedia(media_id, max_bytes, std::move(sink),
                          [&, out](common::Status status) {
                            out->status = status;
                            got = *out;
                          });
    CHECK_FALSE(got.has_value());
    uv_run(driver.loop(), UV_RUN_DEFAULT);
    REQUIRE(got.has_value());
    return *got;
  };
  Got media = download(id, 1000);
  REQUIRE(media.status.ok());
  CHECK(media.head.mime_type == "image/png");
  CHECK(media.head.bytes == std::optional<uint64_t>(bytes.size()));
  CHECK(media.body == bytes);

  CHECK(download(id, 5).status.code() ==
        common::Status::Code::kInvalidArgument);
  CHECK(download("sbx-media-00000000000000000000000000000000", 1000)
            .status.code() == common::Status::Code::kNotFound);
  // Never a path from an id the sandbox did not make.
  CHECK(download("../upload.bin", 1000).status.code() ==
        common::Status::Code::kNotFound);
  CHECK(download("sbx-media-../../upload.bin", 1000).status.code() ==
        common::Status::Code::kNotFound);
}

TEST_CASE("sandbox: media without a directory, or from a missing file, fails",
          "[sandbox]") {
  TempDir dir;
  {
    SandboxTransport memory_only({}, [] { return int64_t{0}; });
    SandboxDriver driver(memory_only);
    std::optional<common::Result<std::string>> uploaded;
    memory_only.UploadMedia(
        {dir.File("x"), "image/png", "", 1},
        [&](common::Result<std::string> id) { uploaded = id; });
    uv_run(driver.loop(), UV_RUN_DEFAULT);
    REQUIRE(uploaded.has_value());
    CHECK(uploaded->status().code() == common::Status::Code::kUnavailable);
  }
  SandboxTransport::Options options;
  options.media_dir = dir.File("media");
  SandboxTransport sandbox(options, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  std::optional<common::Result<std::string>> uploaded;
  sandbox.UploadMedia({dir.File("missing"), "image/png", "", 1},
                      [&](common::Result<std::string> id) { uploaded = id; });
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  REQUIRE(uploaded.has_value());
  CHECK(uploaded->status().code() == common::Status::Code::kIOError);
}

TEST_CASE("sandbox: Stop waits for the writes in flight", "[sandbox]") {
  SandboxTransport sandbox({}, [] { return int64_t{0}; });
  SandboxDriver driver(sandbox);
  bool sent = false;
  bool stopped = false;
  sandbox.Send(TextRequest("msg_1", "15551234567", "hi"),
               [&](SendResult result) {
                 CHECK(result.ok);
                 CHECK_FALSE(stopped);
                 sent = true;
               });
  sandbox.Stop([&] { stopped = true; });
  CHECK_FALSE(stopped);
  uv_run(driver.loop(), UV_RUN_DEFAULT);
  CHECK(sent);
  CHECK(stopped);
  CHECK(sandbox.state() == ConnectionState::kConnected);
  CHECK(sandbox.reason().empty());
}

TEST_CASE("sandbox: a simulated user writing reaches the inbound path",
          "[sandbox]") {
  int64_t now = 0;
  SandboxTransport sandbox({}, [&now] { return now; });
  SandboxDriver driver(sandbox);
  auto message = sandbox.SimulateInbound("15551234567", "hi bot", 42, driver);
  REQUIRE(driver.inbound.size() == 1);
  CHECK(driver.inbound[0].id == message.id);
  CHECK(driver.inbound[0].from == "15551234567");
  CHECK(driver.inbound[0].text == "hi bot");
  CHECK(driver.inbound[0].timestamp_ms == 42);
  auto again = sandbox.SimulateInbound("15551234567", "hi bot", 42, driver);
  CHECK(again.id != message.id);
}

}  // namespace
}  // namespace dynoguard::worker
