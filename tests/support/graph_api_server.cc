#include "tests/support/graph_api_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>

namespace dynoguard::testing {

namespace {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr size_t kMaxTextBody = 4096;
constexpr size_t kMaxCaption = 1024;
constexpr size_t kMaxInteractiveBody = 1024;
constexpr size_t kMaxButtons = 3;
constexpr size_t kMaxButtonTitle = 20;
constexpr size_t kMaxListSections = 10;
constexpr size_t kMaxListRows = 10;
constexpr size_t kMaxRowTitle = 24;
constexpr size_t kMaxRowDescription = 72;
constexpr size_t kMaxDepth = 32;

constexpr std::string_view kMediaKinds[] = {"image", "document", "audio",
                                            "video", "sticker"};
constexpr std::string_view kInteractiveKinds[] = {
    "button",       "list",
    "cta_url",      "product",
    "product_list", "catalog_message",
    "flow",         "location_request_message"};

// UTF-8 code points (continuation bytes not counted).
size_t CodePoints(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool IsOneOf(std::string_view value, const auto& list) {
  return std::find(std::begin(list), std::end(list), value) != std::end(list);
}

std::string Str(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

// Each check returns "" when fine, else what is wrong with `where`.
std::string NeedString(const Value& object, const char* name,
                       const std::string& where, size_t max_points = 0,
                       bool allow_empty = false) {
  const Value* v = Member(object, name);
  std::string at = where.empty() ? name : where + "." + name;
  if (v == nullptr) return at + ": missing";
  if (!v->IsString()) return at + ": not a string";
  if (!allow_empty && v->GetStringLength() == 0) return at + ": empty";
  if (max_points > 0 && CodePoints(Str(*v)) > max_points) {
    return at + ": longer than " + std::to_string(max_points) + " characters";
  }
  return "";
}

std::string OptString(const Value& object, const char* name,
                      const std::string& where, size_t max_points = 0) {
  if (Member(object, name) == nullptr) return "";
  return NeedString(object, name, where, max_points, true);
}

std::string CheckText(const Value& text) {
  if (std::string e = NeedString(text, "body", "text", kMaxTextBody);
      !e.empty()) {
    return e;
  }
  const Value* preview = Member(text, "preview_url");
  if (preview != nullptr && !preview->IsBool()) {
    return "text.preview_url: not a boolean";
  }
  return "";
}

std::string CheckTemplate(const Value& object) {
  if (std::string e = NeedString(object, "name", "template"); !e.empty()) {
    return e;
  }
  const Value* language = Member(object, "language");
  if (language == nullptr) return "template.language: missing";
  if (!language->IsObject()) return "template.language: not an object";
  if (std::string e = NeedString(*language, "code", "template.language");
      !e.empty()) {
    return e;
  }
  const Value* components = Member(object, "components");
  if (components != nullptr && !components->IsArray()) {
    return "template.components: not an array";
  }
  return "";
}

std::string CheckMedia(const std::string& kind, const Value& object) {
  bool link = Member(object, "link") != nullptr;
  bool id = Member(object, "id") != nullptr;
  if (link == id) return kind + ": exactly one of link or id is required";
  if (link) {
    if (std::string e = NeedString(object, "link", kind); !e.empty()) return e;
    std::string url = Str(*Member(object, "link"));
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return kind + ".link: not an http(s) URL";
    }
  } else if (std::string e = NeedString(object, "id", kind); !e.empty()) {
    return e;
  }
  if (Member(object, "caption") != nullptr) {
    if (kind == "audio" || kind == "sticker") {
      return kind + ".caption: not allowed for " + kind;
    }
    if (std::string e = OptString(object, "caption", kind, kMaxCaption);
        !e.empty()) {
      return e;
    }
  }
  if (Member(object, "filename") != nullptr) {
    if (kind != "document") return kind + ".filename: only for documents";
    if (std::string e = OptString(object, "filename", kind); !e.empty()) {
      return e;
    }
  }
  return "";
}

std::string CheckReaction(const Value& object) {
  if (std::string e = NeedString(object, "message_id", "reaction");
      !e.empty()) {
    return e;
  }
  // An empty emoji removes a reaction.
  return NeedString(object, "emoji", "reaction", 0, true);
}

std::string CheckLocation(const Value& object) {
  for (const char* name : {"latitude", "longitude"}) {
    const Value* v = Member(object, name);
    if (v == nullptr) return std::string("location.") + name + ": missing";
    if (!v->IsNumber())
      return std::string("location.") + name + ": not a number";
    double limit = std::string_view(name) == "latitude" ? 90 : 180;
    if (v->GetDouble() < -limit || v->GetDouble() > limit) {
      return std::string("location.") + name + ": out of range";
    }
  }
  if (std::string e = OptString(object, "name", "location"); !e.empty())
    return e;
  return OptString(object, "address", "location");
}

std::string CheckContacts(const Value& contacts) {
  if (!contacts.IsArray()) return "contacts: not an array";
  if (contacts.Empty()) return "contacts: empty";
  for (rapidjson::SizeType i = 0; i < contacts.Size(); ++i) {
    std::string at = "contacts[" + std::to_string(i) + "]";
    if (!contacts[i].IsObject()) return at + ": not an object";
    const Value* name = Member(contacts[i], "name");
    if (name == nullptr) return at + ".name: missing";
    if (!name->IsObject()) return at + ".name: not an object";
    if (std::string e = NeedString(*name, "formatted_name", at + ".name");
        !e.empty()) {
      return e;
    }
  }
  return "";
}

std::string CheckButtons(const Value& action) {
  const Value* buttons = Member(action, "buttons");
  if (buttons == nullptr) return "interactive.action.buttons: missing";
  if (!buttons->IsArray()) return "interactive.action.buttons: not an array";
  if (buttons->Empty() || buttons->Size() > kMaxButtons) {
    return "interactive.action.buttons: 1 to 3 buttons";
  }
  for (rapidjson::SizeType i = 0; i < buttons->Size(); ++i) {
    std::string at = "interactive.action.buttons[" + std::to_string(i) + "]";
    const Value& button = (*buttons)[i];
    if (!button.IsObject()) return at + ": not an object";
    const Value* type = Member(button, "type");
    if (type == nullptr || !type->IsString() || Str(*type) != "reply") {
      return at + ".type: must be \"reply\"";
    }
    const Value* reply = Member(button, "reply");
    if (reply == nullptr || !reply->IsObject()) return at + ".reply: missing";
    if (std::string e = NeedString(*reply, "id", at + ".reply", 256);
        !e.empty()) {
      return e;
    }
    if (std::string e =
            NeedString(*reply, "title", at + ".reply", kMaxButtonTitle);
        !e.empty()) {
      return e;
    }
  }
  return "";
}

std::string CheckList(const Value& action) {
  if (std::string e =
          NeedString(action, "button", "interactive.action", kMaxButtonTitle);
      !e.empty()) {
    return e;
  }
  const Value* sections = Member(action, "sections");
  if (sections == nullptr) return "interactive.action.sections: missing";
  if (!sections->IsArray()) return "interactive.action.sections: not an array";
  if (sections->Empty() || sections->Size() > kMaxListSections) {
    return "interactive.action.sections: 1 to 10 sections";
  }
  size_t rows_total = 0;
  for (rapidjson::SizeType i = 0; i < sections->Size(); ++i) {
    std::string at = "interactive.action.sections[" + std::to_string(i) + "]";
    const Value& section = (*sections)[i];
    if (!section.IsObject()) return at + ": not an object";
    if (sections->Size() > 1) {
      if (std::string e = NeedString(section, "title", at, kMaxRowTitle);
          !e.empty()) {
        return e;
      }
    }
    const Value* rows = Member(section, "rows");
    if (rows == nullptr || !rows->IsArray() || rows->Empty()) {
      return at + ".rows: missing or empty";
    }
    for (rapidjson::SizeType j = 0; j < rows->Size(); ++j) {
      std::string row_at = at + ".rows[" + std::to_string(j) + "]";
      const Value& row = (*rows)[j];
      if (!row.IsObject()) return row_at + ": not an object";
      if (std::string e = NeedString(row, "id", row_at, 200); !e.empty()) {
        return e;
      }
      if (std::string e = NeedString(row, "title", row_at, kMaxRowTitle);
          !e.empty()) {
        return e;
      }
      if (std::string e =
              OptString(row, "description", row_at, kMaxRowDescription);
          !e.empty()) {
        return e;
      }
    }
    rows_total += rows->Size();
  }
  if (rows_total > kMaxListRows) {
    return "interactive.action.sections: more than 10 rows in all";
  }
  return "";
}

std::string CheckInteractive(const Value& object) {
  if (std::string e = NeedString(object, "type", "interactive"); !e.empty()) {
    return e;
  }
  std::string kind = Str(*Member(object, "type"));
  if (!IsOneOf(kind, kInteractiveKinds)) {
    return "interactive.type: unknown \"" + kind + "\"";
  }
  const Value* action = Member(object, "action");
  if (action == nullptr) return "interactive.action: missing";
  if (!action->IsObject()) return "interactive.action: not an object";
  if (kind != "button" && kind != "list") return "";
  const Value* body = Member(object, "body");
  if (body == nullptr || !body->IsObject()) return "interactive.body: missing";
  if (std::string e =
          NeedString(*body, "text", "interactive.body", kMaxInteractiveBody);
      !e.empty()) {
    return e;
  }
  return kind == "button" ? CheckButtons(*action) : CheckList(*action);
}

bool TooDeep(std::string_view body) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    }
    if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return false;
}

bool ParseBody(std::string_view body, rapidjson::Document& document) {
  if (TooDeep(body)) return false;
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  return !document.HasParseError() && document.IsObject();
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += fmt::format("{:02x}", digest[i]);
  }
  return out;
}

std::string Digits(std::string_view to) {
  std::string out;
  for (char c : to) {
    if (c >= '0' && c <= '9') out += c;
  }
  return out;
}

void SetJson(httplib::Response& response, int status, std::string body) {
  response.status = status;
  response.set_content(std::move(body), "application/json");
}

void SetError(httplib::Response& response, const GraphError& error) {
  SetJson(response, error.http_status, GraphErrorJson(error));
}

GraphError InvalidParameter(std::string details) {
  GraphError error = GraphErrorFor(100);
  error.details = std::move(details);
  return error;
}

GraphError UnknownObject(const std::string& id, const char* verb) {
  GraphError error = GraphErrorFor(100);
  error.message = fmt::format(
      "Unsupported {} request. Object with ID '{}' does not exist, cannot be "
      "loaded due to missing permissions, or does not support this operation.",
      verb, id);
  error.error_subcode = 33;
  return error;
}

}  // namespace

GraphError GraphErrorFor(int code) {
  struct Known {
    int code;
    int http_status;
    const char* message;
    const char* details;
  };
  static constexpr Known kKnown[] = {
      {0, 401, "(#0) AuthException", ""},
      {1, 400, "(#1) An unknown error occurred", ""},
      {2, 503, "(#2) Service temporarily unavailable", ""},
      {4, 400, "(#4) Application request limit reached", ""},
      {10, 403, "(#10) Application does not have permission for this action",
       ""},
      {100, 400, "(#100) Invalid parameter", ""},
      {190, 401, "Error validating access token: Session has expired.", ""},
      {368, 403, "(#368) Temporarily blocked for policies violations", ""},
      {80007, 400, "(#80007) Rate limit issues",
       "The WhatsApp Business Account has reached its rate limit."},
      {130429, 400, "(#130429) Rate limit hit",
       "Cloud API message throughput has been reached."},
      {131000, 500, "(#131000) Something went wrong",
       "Message failed to send due to an unknown error."},
      {131008, 400, "(#131008) Required parameter is missing",
       "The request is missing a required parameter."},
      {131009, 400, "(#131009) Parameter value is not valid",
       "One or more parameter values are invalid."},
      {131016, 500, "(#131016) Service unavailable",
       "A service is temporarily unavailable."},
      {131026, 400, "(#131026) Message undeliverable",
       "Unable to deliver message."},
      {131031, 403, "(#131031) Account has been locked",
       "The WhatsApp Business Account is locked."},
      {131042, 400, "(#131042) Business eligibility payment issue",
       "There was an error related to your payment method."},
      {131047, 400, "(#131047) Re-engagement message",
       "Message failed to send because more than 24 hours have passed since "
       "the customer last replied to this number."},
      {131048, 400, "(#131048) Spam rate limit hit",
       "Message failed to send because there are restrictions on how many "
       "messages can be sent from this phone number."},
      {131056, 400,
       "(#131056) (Business Account, Consumer Account) pair rate limit hit",
       "Message failed to send because there were too many messages sent "
       "from this phone number to the same phone number in a short period of "
       "time."},
      {132000, 400,
       "(#132000) Number of parameters does not match the expected number of "
       "params",
       "The number of parameters provided does not match the template."},
      {132001, 404, "(#132001) Template name does not exist in the translation",
       "The template does not exist in the specified language."},
  };
  GraphError error;
  error.code = code;
  error.message = fmt::format("(#{}) Error", code);
  error.http_status = 400;
  for (const Known& known : kKnown) {
    if (known.code == code) {
      error.http_status = known.http_status;
      error.message = known.message;
      error.details = known.details;
    }
  }
  if (code == 190) error.error_subcode = 463;
  return error;
}

std::string GraphErrorJson(const GraphError& error) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("message");
  w.String(error.message.c_str(),
           static_cast<rapidjson::SizeType>(error.message.size()));
  w.Key("type");
  w.String(error.type.c_str(),
           static_cast<rapidjson::SizeType>(error.type.size()));
  w.Key("code");
  w.Int(error.code);
  if (error.error_subcode != 0) {
    w.Key("error_subcode");
    w.Int(error.error_subcode);
  }
  if (!error.details.empty()) {
    w.Key("error_data");
    w.StartObject();
    w.Key("messaging_product");
    w.String("whatsapp");
    w.Key("details");
    w.String(error.details.c_str(),
             static_cast<rapidjson::SizeType>(error.details.size()));
    w.EndObject();
  }
  w.Key("fbtrace_id");
  w.String(error.fbtrace_id.c_str(),
           static_cast<rapidjson::SizeType>(error.fbtrace_id.size()));
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ValidateSendRequest(std::string_view body) {
  rapidjson::Document document;
  if (!ParseBody(body, document)) return "body: not a JSON object";
  const Value& d = document;
  const Value* product = Member(d, "messaging_product");
  if (product == nullptr) return "messaging_product: missing";
  if (!product->IsString() || Str(*product) != "whatsapp") {
    return "messaging_product: must be \"whatsapp\"";
  }
  if (const Value* rt = Member(d, "recipient_type")) {
    if (!rt->IsString() || (Str(*rt) != "individual" && Str(*rt) != "group")) {
      return "recipient_type: must be \"individual\"";
    }
  }
  if (std::string e = NeedString(d, "to", ""); !e.empty()) return e;
  std::string type = "text";
  if (const Value* t = Member(d, "type")) {
    if (!t->IsString()) return "type: not a string";
    type = Str(*t);
  }
  if (const Value* context = Member(d, "context")) {
    if (!context->IsObject()) return "context: not an object";
    if (std::string e = NeedString(*context, "message_id", "context");
        !e.empty()) {
      return e;
    }
  }
  const Value* object = Member(d, type.c_str());
  bool known = type == "text" || type == "template" ||
               IsOneOf(type, kMediaKinds) || type == "reaction" ||
               type == "location" || type == "contacts" ||
               type == "interactive";
  if (!known) return "type: unknown \"" + type + "\"";
  if (object == nullptr) return type + ": missing";
  if (type == "contacts") return CheckContacts(*object);
  if (!object->IsObject()) return type + ": not an object";
  if (type == "text") return CheckText(*object);
  if (type == "template") return CheckTemplate(*object);
  if (IsOneOf(type, kMediaKinds)) return CheckMedia(type, *object);
  if (type == "reaction") return CheckReaction(*object);
  if (type == "location") return CheckLocation(*object);
  return CheckInteractive(*object);
}

namespace {

// Calls `f(fd, peer_port)` for each TCP socket of this process whose local
// port is `port`: accepted connections with their peer's port, the listening
// socket with -1.
template <typename F>
void ForEachAccepted(int port, F f) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0' && fd != dirfd(dir)) {
      fds.push_back(static_cast<int>(fd));
    }
  }
  closedir(dir);
  for (int fd : fds) {
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t local_len = sizeof(local);
    socklen_t peer_len = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != port) {
      continue;
    }
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      f(fd, -1);  // the listening socket
      continue;
    }
    f(fd, ntohs(peer.sin_port));
  }
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of concurrent
// clients (SEND_CONCURRENCY 16) would see SYNs dropped and retried a second
// later. Linux lets listen() be called again to raise it.
void RaiseBacklog(int port) {
  ForEachAccepted(port, [](int fd, int peer_port) {
    if (peer_port < 0) listen(fd, SOMAXCONN);
  });
}

}  // namespace

GraphApiServer::GraphApiServer(Options options)
    : options_(std::move(options)),
      port_(options_.port),
      access_token_(options_.access_token),
      media_url_ttl_(options_.media_url_ttl) {
  common::Status started = Start();
  INFO(started.ToString());
  REQUIRE(started.ok());
}

GraphApiServer::~GraphApiServer() { Stop(); }

std::string GraphApiServer::origin() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string GraphApiServer::base_url() const {
  return origin() + "/" + options_.version;
}

common::Status GraphApiServer::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (server_) return common::Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  auto server = std::make_unique<httplib::Server>();
  // Enough workers for the benchmarks' concurrent slow answers.
  server->new_task_queue = [] { return new httplib::ThreadPool(32); };
  // A worker that paces a media download (a slow client behind it) keeps
  // the server's writes waiting longer than httplib's 5 s.
  server->set_write_timeout(30, 0);
  Register(*server);
  int port = port_;
  if (port == 0) {
    port = server->bind_to_any_port("127.0.0.1");
    if (port <= 0) return common::Status::Unavailable("bind 127.0.0.1:0");
  } else if (!server->bind_to_port("127.0.0.1", port)) {
    return common::Status::Unavailable("bind 127.0.0.1:" +
                                       std::to_string(port));
  }
  port_ = port;
  RaiseBacklog(port);
  httplib::Server* raw = server.get();
  server_ = std::move(server);
  thread_ = std::thread([raw] {
    // Writes to a dropped connection must give EPIPE, not kill the test
    // process: SIGPIPE is blocked in this thread and the workers it starts.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    raw->listen_after_bind();
  });
  // stop() only works once the accept loop runs.
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return common::Status::Ok();
}

void GraphApiServer::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!server_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_->stop();
  // Keep-alive connections would otherwise linger up to their timeout.
  CloseConnections();
  thread_.join();
  server_.reset();
}

bool GraphApiServer::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

void GraphApiServer::SetAccessToken(std::string token) {
  std::lock_guard<std::mutex> lock(mu_);
  access_token_ = std::move(token);
}

void GraphApiServer::SetMediaUrlTtl(std::chrono::milliseconds ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  media_url_ttl_ = ttl;
}

void GraphApiServer::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = delay;
}

void GraphApiServer::ScriptNext(GraphRoute route, GraphAnswer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  next_[route].push_back(std::move(answer));
}

void GraphApiServer::ScriptRecipient(const std::string& to, GraphAnswer answer,
                                     int times) {
  std::lock_guard<std::mutex> lock(mu_);
  recipients_[to] = RecipientScript{std::move(answer), times};
}

void GraphApiServer::ClearScripts() {
  std::lock_guard<std::mutex> lock(mu_);
  next_.clear();
  recipients_.clear();
}

std::string GraphApiServer::AddMedia(std::string content,
                                     std::string mime_type) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = std::to_string(1003383421387256ULL + next_id_++);
  std::string sha = Sha256Hex(content);
  media_[id] = Media{std::move(content), std::move(mime_type), std::move(sha)};
  return id;
}

std::optional<std::string> GraphApiServer::MediaContent(
    const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = media_.find(id);
  if (it == media_.end()) return std::nullopt;
  return it->second.content;
}

std::vector<GraphRequest> GraphApiServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<GraphRequest> GraphApiServer::requests(GraphRoute route) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<GraphRequest> out;
  for (const GraphRequest& r : requests_) {
    if (r.route == route) out.push_back(r);
  }
  return out;
}

size_t GraphApiServer::count(GraphRoute route) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(
      requests_.begin(), requests_.end(),
      [route](const GraphRequest& r) { return r.route == route; }));
}

std::string GraphApiServer::NextId() {
  std::lock_guard<std::mutex> lock(mu_);
  return fmt::format("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI{:016X}AA==",
                     next_id_++);
}

void GraphApiServer::Register(httplib::Server& server) {
  auto route = [this](GraphRoute r) {
    return [this, r](const httplib::Request& request,
                     httplib::Response& response) {
      Handle(r, request, response);
    };
  };
  server.Post(R"(/([^/]+)/([^/]+)/messages)", route(GraphRoute::kMessages));
  server.Post(R"(/([^/]+)/([^/]+)/media)", route(GraphRoute::kMediaUpload));
  server.Get(R"(/whatsapp_business/attachments/?)",
             route(GraphRoute::kMediaDownload));
  server.Get(R"(/([^/]+)/([^/]+))", route(GraphRoute::kPhoneNumber));
  server.Get(".*", route(GraphRoute::kOther));
  server.Post(".*", route(GraphRoute::kOther));
  server.Delete(".*", route(GraphRoute::kOther));
}

std::optional<GraphAnswer> GraphApiServer::TakeScript(GraphRoute route,
                                                      const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  if (route == GraphRoute::kMessages) {
    auto it = recipients_.find(to);
    if (it != recipients_.end() && it->second.times != 0) {
      GraphAnswer answer = it->second.answer;
      if (it->second.times > 0 && --it->second.times == 0) {
        recipients_.erase(it);
      }
      return answer;
    }
  }
  auto it = next_.find(route);
  if (it == next_.end() || it->second.empty()) return std::nullopt;
  GraphAnswer answer = std::move(it->second.front());
  it->second.pop_front();
  return answer;
}

bool GraphApiServer::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

int GraphApiServer::max_concurrent_sends() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_sends_in_flight_;
}

int GraphApiServer::max_concurrent_sends_to_one_recipient() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_sends_in_flight_to_one_;
}

void GraphApiServer::DropConnection(int remote_port) {
  // cpp-httplib 0.11 gives handlers no socket; find ours by its peer port.
  ForEachAccepted(port_, [remote_port](int fd, int peer_port) {
    if (peer_port >= 0 && peer_port == remote_port) shutdown(fd, SHUT_RDWR);
  });
}

int GraphApiServer::AcceptedFd(int remote_port) {
  int found = -1;
  ForEachAccepted(port_, [&](int fd, int peer_port) {
    if (peer_port >= 0 && peer_port == remote_port) found = fd;
  });
  return found;
}

bool GraphApiServer::ClientClosed(int fd) {
  // By descriptor, found while the connection was whole: a client that
  // closes with unread bytes in its receive buffer sends a reset, and a reset
  // socket has no peer name any more to be found by.
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

int GraphApiServer::downloads_closed_by_client() const {
  std::lock_guard<std::mutex> lock(mu_);
  return downloads_closed_by_client_;
}

void GraphApiServer::StreamMedia(std::string content,
                                 const std::string& mime_type,
                                 const GraphAnswer& answer, int remote_port,
                                 httplib::Response& response) {
  struct Progress {
    std::string content;
    GraphAnswer answer;
    bool stalled = false;
    int fd = -1;
  };
  auto p = std::make_shared<Progress>();
  p->content = std::move(content);
  p->answer = answer;
  auto closed = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    ++downloads_closed_by_client_;
  };
  auto provide = [this, p, remote_port, closed](size_t offset,
                                                httplib::DataSink& sink) {
    const GraphAnswer& a = p->answer;
    if (a.drop_after && offset >= *a.drop_after) {
      DropConnection(remote_port);
      return false;
    }
    // The descriptor of this download's connection, while it is whole (the
    // handler's thread owns it until the provider returns).
    if (p->fd < 0) p->fd = AcceptedFd(remote_port);
    if (a.stall_after && offset >= *a.stall_after && !p->stalled) {
      p->stalled = true;
      const auto until = std::chrono::steady_clock::now() + a.stall_for;
      while (std::chrono::steady_clock::now() < until) {
        if (p->fd >= 0 && ClientClosed(p->fd)) {
          closed();
          return false;
        }
        if (!Sleep(std::chrono::milliseconds(10))) return false;  // Stop
      }
    }
    size_t end = std::min(p->content.size(), offset + 64 * 1024);
    if (a.drop_after && offset < *a.drop_after)
      end = std::min<size_t>(end, *a.drop_after);
    if (a.stall_after && offset < *a.stall_after)
      end = std::min<size_t>(end, *a.stall_after);
    if (offset >= p->content.size()) {
      sink.done();
      return true;
    }
    if (!sink.write(p->content.data() + offset, end - offset)) {
      closed();
      return false;
    }
    return true;
  };
  response.status = 200;
  if (answer.chunked) {
    response.set_chunked_content_provider(mime_type, provide);
  } else {
    const size_t size = p->content.size();
    response.set_content_provider(
        size, mime_type,
        [provide](size_t offset, size_t, httplib::DataSink& sink) {
          return provide(offset, sink);
        });
  }
}

void GraphApiServer::CloseConnections() {
  ForEachAccepted(port_, [](int fd, int peer_port) {
    if (peer_port >= 0) shutdown(fd, SHUT_RDWR);
  });
}

void GraphApiServer::Handle(GraphRoute route, const httplib::Request& request,
                            httplib::Response& response) {
  GraphRequest record;
  record.method = request.method;
  record.path = request.path;
  record.authorization = request.get_header_value("Authorization");
  record.content_type = request.get_header_value("Content-Type");
  record.body = request.body;

  const std::string version =
      request.matches.size() > 1 ? request.matches[1].str() : "";
  const std::string object =
      request.matches.size() > 2 ? request.matches[2].str() : "";
  bool versioned = version == options_.version;
  if (route == GraphRoute::kMessages || route == GraphRoute::kMediaUpload) {
    if (!versioned || object != options_.phone_number_id) {
      route = GraphRoute::kOther;
    }
  } else if (route == GraphRoute::kPhoneNumber) {
    if (!versioned) {
      route = GraphRoute::kOther;
    } else if (object != options_.phone_number_id) {
      route = GraphRoute::kMediaInfo;
    }
  }
  std::string to;
  if (route == GraphRoute::kMessages) {
    rapidjson::Document document;
    if (ParseBody(request.body, document)) {
      if (const Value* v = Member(document, "to"); v && v->IsString()) {
        to = Str(*v);
      }
      if (const Value* v = Member(document, "type"); v && v->IsString()) {
        record.type = Str(*v);
      } else {
        record.type = "text";
      }
      if (const Value* v = Member(document, "status"); v != nullptr) {
        route = GraphRoute::kMarkRead;
        record.type.clear();
      }
    }
  }
  if (route == GraphRoute::kMediaUpload && request.has_file("file")) {
    record.type = request.get_file_value("file").content_type;
  }
  record.route = route;
  record.to = to;

  size_t index = 0;
  std::chrono::milliseconds delay{0};
  const bool is_send = route == GraphRoute::kMessages && !to.empty();
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = requests_.size();
    requests_.push_back(record);
    delay = delay_;
    if (is_send) {
      max_sends_in_flight_ = std::max(max_sends_in_flight_, ++sends_in_flight_);
      max_sends_in_flight_to_one_ =
          std::max(max_sends_in_flight_to_one_, ++sends_in_flight_to_[to]);
    }
  }
  // Counts the send as finished however this handler returns.
  struct SendDone {
    GraphApiServer* self;
    bool is_send;
    const std::string& to;
    ~SendDone() {
      if (!is_send) return;
      std::lock_guard<std::mutex> lock(self->mu_);
      --self->sends_in_flight_;
      if (--self->sends_in_flight_to_[to] == 0)
        self->sends_in_flight_to_.erase(to);
    }
  } send_done{this, is_send, to};
  std::optional<GraphAnswer> scripted = TakeScript(route, to);
  if (scripted) delay += scripted->delay;
  bool dropped = false;
  if (delay.count() > 0 && !Sleep(delay)) {
    dropped = true;  // stopping: the server goes away mid-request
  } else if (scripted && scripted->drop_connection) {
    dropped = true;
  }
  if (dropped) {
    DropConnection(request.remote_port);
    response.status = 500;
    return;
  }

  Serve(route, request, to, scripted ? &*scripted : nullptr, response, record);
  std::lock_guard<std::mutex> lock(mu_);
  if (index < requests_.size()) {
    requests_[index].status = response.status;
    requests_[index].answer = response.body;
    requests_[index].provider_id = record.provider_id;
  }
}

void GraphApiServer::Serve(GraphRoute route, const httplib::Request& request,
                           const std::string& to, const GraphAnswer* scripted,
                           httplib::Response& response, GraphRequest& record) {
  std::string token;
  std::chrono::milliseconds ttl{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    token = access_token_;
    ttl = media_url_ttl_;
  }
  std::string authorization = request.get_header_value("Authorization");
  if (authorization != "Bearer " + token || token.empty()) {
    GraphError error = GraphErrorFor(190);
    error.message = authorization.empty()
                        ? "An active access token must be used to query "
                          "information about the current user."
                        : "Invalid OAuth access token - Cannot parse access "
                          "token";
    error.error_subcode = 0;
    SetError(response, error);
    return;
  }
  if (scripted != nullptr && scripted->error) {
    SetError(response, *scripted->error);
    return;
  }

  switch (route) {
    case GraphRoute::kMessages: {
      if (std::string problem = ValidateSendRequest(request.body);
          !problem.empty()) {
        SetError(response, InvalidParameter(problem));
        return;
      }
      if (scripted != nullptr && !scripted->body.empty()) {
        SetJson(response, 200, scripted->body);
        return;
      }
      record.provider_id = NextId();
      std::string status =
          scripted != nullptr ? scripted->message_status : "accepted";
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      w.StartObject();
      w.Key("messaging_product");
      w.String("whatsapp");
      w.Key("contacts");
      w.StartArray();
      w.StartObject();
      w.Key("input");
      w.String(to.c_str(), static_cast<rapidjson::SizeType>(to.size()));
      w.Key("wa_id");
      std::string wa_id = Digits(to);
      w.String(wa_id.c_str(), static_cast<rapidjson::SizeType>(wa_id.size()));
      w.EndObject();
      w.EndArray();
      w.Key("messages");
      w.StartArray();
      w.StartObject();
      w.Key("id");
      w.String(record.provider_id.c_str(),
               static_cast<rapidjson::SizeType>(record.provider_id.size()));
      w.Key("message_status");
      w.String(status.c_str(), static_cast<rapidjson::SizeType>(status.size()));
      w.EndObject();
      w.EndArray();
      w.EndObject();
      SetJson(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
      return;
    }
    case GraphRoute::kMarkRead: {
      rapidjson::Document document;
      ParseBody(request.body, document);
      const Value* product = Member(document, "messaging_product");
      const Value* status = Member(document, "status");
      const Value* typing = Member(document, "typing_indicator");
      std::string problem;
      if (product == nullptr || !product->IsString() ||
          Str(*product) != "whatsapp") {
        problem = "messaging_product: must be \"whatsapp\"";
      } else if (status == nullptr || !status->IsString() ||
                 Str(*status) != "read") {
        problem = "status: must be \"read\"";
      } else if (std::string e = NeedString(document, "message_id", "");
                 !e.empty()) {
        problem = e;
      } else if (typing != nullptr &&
                 (!typing->IsObject() || Member(*typing, "type") == nullptr ||
                  !Member(*typing, "type")->IsString() ||
                  Str(*Member(*typing, "type")) != "text")) {
        problem = "typing_indicator.type: must be \"text\"";
      }
      if (!problem.empty()) {
        SetError(response, InvalidParameter(problem));
        return;
      }
      SetJson(response, 200, R"({"success":true})");
      return;
    }
    case GraphRoute::kPhoneNumber: {
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      w.StartObject();
      w.Key("verified_name");
      w.String(options_.verified_name.c_str());
      w.Key("code_verification_status");
      w.String("VERIFIED");
      w.Key("display_phone_number");
      w.String(options_.display_phone_number.c_str());
      w.Key("quality_rating");
      w.String("GREEN");
      w.Key("platform_type");
      w.String("CLOUD_API");
      w.Key("throughput");
      w.StartObject();
      w.Key("level");
      w.String("STANDARD");
      w.EndObject();
      w.Key("id");
      w.String(options_.phone_number_id.c_str());
      w.EndObject();
      SetJson(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
      return;
    }
    case GraphRoute::kMediaUpload: {
      std::string problem;
      if (!request.is_multipart_form_data()) {
        problem = "body: not multipart/form-data";
      } else if (!request.has_file("messaging_product") ||
                 request.get_file_value("messaging_product").content !=
                     "whatsapp") {
        problem = "messaging_product: must be \"whatsapp\"";
      } else if (!request.has_file("file") ||
                 request.get_file_value("file").filename.empty()) {
        problem = "file: missing";
      } else if (!request.has_file("type") ||
                 request.get_file_value("type").content.empty()) {
        problem = "type: missing";
      }
      if (!problem.empty()) {
        SetError(response, InvalidParameter(problem));
        return;
      }
      httplib::MultipartFormData file = request.get_file_value("file");
      std::string id =
          AddMedia(file.content, request.get_file_value("type").content);
      SetJson(response, 200, R"({"id":")" + id + R"("})");
      return;
    }
    case GraphRoute::kMediaInfo: {
      std::string id = request.matches[2].str();
      Media media;
      std::string url_token;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = media_.find(id);
        if (it == media_.end()) {
          SetError(response, UnknownObject(id, "get"));
          return;
        }
        media = it->second;
      }
      int64_t expires_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch() + ttl)
              .count();
      std::string url = fmt::format(
          "{}/whatsapp_business/attachments/?mid={}&ext={}&hash={}", origin(),
          id, expires_ms,
          Sha256Hex(id + ":" + std::to_string(expires_ms)).substr(0, 16));
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      w.StartObject();
      w.Key("url");
      w.String(url.c_str(), static_cast<rapidjson::SizeType>(url.size()));
      w.Key("mime_type");
      w.String(media.mime_type.c_str(),
               static_cast<rapidjson::SizeType>(media.mime_type.size()));
      w.Key("sha256");
      w.String(media.sha256.c_str(),
               static_cast<rapidjson::SizeType>(media.sha256.size()));
      w.Key("file_size");
      w.Uint64(scripted != nullptr && scripted->file_size
                   ? *scripted->file_size
                   : media.content.size());
      w.Key("id");
      w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
      w.Key("messaging_product");
      w.String("whatsapp");
      w.EndObject();
      SetJson(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
      return;
    }
    case GraphRoute::kMediaDownload: {
      std::string id = request.get_param_value("mid");
      std::string ext = request.get_param_value("ext");
      std::string hash = request.get_param_value("hash");
      char* end = nullptr;
      long long expires_ms = std::strtoll(ext.c_str(), &end, 10);
      int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      bool valid = !ext.empty() && end != nullptr && *end == '\0' &&
                   hash == Sha256Hex(id + ":" + ext).substr(0, 16) &&
                   now_ms <= expires_ms;
      Media media;
      if (valid) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = media_.find(id);
        valid = it != media_.end();
        if (valid) media = it->second;
      }
      if (!valid) {
        // Meta's CDN answers an expired or unknown url with a bare 404.
        response.status = 404;
        response.set_content("URL signature expired", "text/plain");
        return;
      }
      if (scripted != nullptr && (scripted->chunked || scripted->stall_after ||
                                  scripted->drop_after)) {
        StreamMedia(std::move(media.content), media.mime_type, *scripted,
                    request.remote_port, response);
        return;
      }
      response.status = 200;
      response.set_content(media.content, media.mime_type.c_str());
      return;
    }
    case GraphRoute::kOther:
      SetError(response,
               UnknownObject(request.path,
                             request.method == "GET" ? "get" : "post"));
      return;
  }
}

}  // namespace dynoguard::testing
