#include "worker/transport/cloud/cloud_answer_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace dynoguard::worker {
namespace {

TEST_CASE("ParseSendAnswer reads the wamid and the message_status",
          "[cloud-answer-parser]") {
  auto answer = ParseSendAnswer(
      R"({"messaging_product":"whatsapp","contacts":[{"input":"+1 555 0100",)"
      R"("wa_id":"15550100"}],"messages":[{"id":"wamid.HBgLMTY1",)"
      R"("message_status":"held_for_quality_assessment"}]})");
  REQUIRE(answer.ok());
  CHECK(answer->provider_id == "wamid.HBgLMTY1");
  CHECK(answer->message_status == "held_for_quality_assessment");

  auto no_status = ParseSendAnswer(
      R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.2"}]})");
  REQUIRE(no_status.ok());
  CHECK(no_status->provider_id == "wamid.2");
  CHECK(no_status->message_status == "accepted");
}

TEST_CASE("ParseSendAnswer refuses an answer without messages[0].id",
          "[cloud-answer-parser]") {
  for (const std::string& body : std::vector<std::string>{
           "", "not json", "[]", "{}", R"({"messages":[]})",
           R"({"messages":{"id":"x"}})", R"({"messages":[{"id":""}]})",
           R"({"messages":[{"id":7}]})", R"({"messages":["wamid.1"]})",
           std::string(50000, '[')}) {
    INFO(body.substr(0, 80));
    auto answer = ParseSendAnswer(body);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.status().code() == common::Status::Code::kInvalidArgument);
    CHECK(answer.status().message().starts_with("send answer: "));
  }
}

TEST_CASE("ParseMediaUploadAnswer reads the media id",
          "[cloud-answer-parser]") {
  auto id = ParseMediaUploadAnswer(R"({"id":"1003383421387257"})");
  REQUIRE(id.ok());
  CHECK(*id == "1003383421387257");
  auto number = ParseMediaUploadAnswer(R"({"id":1003383421387258})");
  REQUIRE(number.ok());
  CHECK(*number == "1003383421387258");
  for (std::string body : {"", "{}", R"({"id":""})", R"({"id":null})", "[1]"}) {
    INFO(body);
    CHECK_FALSE(ParseMediaUploadAnswer(body).ok());
  }
}

TEST_CASE("ParseMediaInfo reads a media object", "[cloud-answer-parser]") {
  auto info = ParseMediaInfo(
      R"({"url":"https://lookaside.fbsbx.com/whatsapp_business/attachments/)"
      R"(?mid=1&ext=2&hash=3","mime_type":"image/jpeg","sha256":"abc",)"
      R"("file_size":303833,"id":"1003383421387256",)"
      R"("messaging_product":"whatsapp"})");
  REQUIRE(info.ok());
  CHECK(info->url ==
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
        "?mid=1&ext=2&hash=3");
  CHECK(info->mime_type == "image/jpeg");
  CHECK(info->sha256 == "abc");
  CHECK(info->file_size == 303833);
  CHECK(info->id == "1003383421387256");

  auto string_size = ParseMediaInfo(R"({"url":"http://x/y","file_size":"12"})");
  REQUIRE(string_size.ok());
  CHECK(string_size->file_size == 12);
  CHECK(string_size->mime_type.empty());

  auto bad_size = ParseMediaInfo(R"({"url":"http://x/y","file_size":"-1"})");
  REQUIRE(bad_size.ok());
  CHECK(bad_size->file_size == 0);

  for (std::string body : {"", "{}", R"({"url":""})", R"({"url":5})", "[]"}) {
    INFO(body);
    CHECK_FALSE(ParseMediaInfo(body).ok());
  }
}

}  // namespace
}  // namespace dynoguard::worker
