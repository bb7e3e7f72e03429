#include "tests/support/sandbox_contact.h"

#include <rapidjson/document.h>

#include "tests/support/wait.h"

namespace dynoguard::testing {

bool SandboxWindowOpen(httplib::Client& client, const std::string& wa_id,
                       const httplib::Headers& headers) {
  auto res = client.Get(("/api/chats/" + wa_id + "/messages").c_str(), headers);
  if (!res || res->status != 200) return false;
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto member = doc.FindMember("windowOpenUntil");
  return member != doc.MemberEnd() && member->value.IsNumber();
}

bool OpenSandboxWindow(httplib::Client& client, const std::string& wa_id,
                       const httplib::Headers& headers,
                       std::chrono::milliseconds timeout) {
  // wa_id is digits only: nothing to escape.
  const std::string body =
      R"({"from":")" + wa_id + R"(","text":"hello from )" + wa_id + R"("})";
  auto res =
      client.Post("/api/sandbox/inbound", headers, body, "application/json");
  if (!res || res->status != 202) return false;
  return WaitUntil([&] { return SandboxWindowOpen(client, wa_id, headers); },
                   timeout);
}

}  // namespace dynoguard::testing
