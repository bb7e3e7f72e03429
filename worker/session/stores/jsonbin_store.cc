#include "worker/session/stores/jsonbin_store.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <utility>

#include "worker/outbound/message_request.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;

namespace {

// Deeper JSON than this is refused before RapidJSON sees it: its Writer (and
// its default parser) recurse once per level, so a hostile answer of a
// million '[' would overflow the stack. A snapshot is a few levels deep.
constexpr size_t kMaxAnswerDepth = 64;
// A created bin's name: JSONBin takes 1–128 characters.
constexpr size_t kMaxBinName = 128;
// Room for JSONBin's wrapper and escapes around a record in an answer.
constexpr uint64_t kAnswerSlack = 64 * 1024;

// JSONBin bin ids are 24 hex digits (MongoDB ObjectIds); anything made of
// URL-safe characters is accepted so that the id never changes the path.
bool ValidBinId(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
         });
}

Status BadBinId(std::string_view variable_or_answer) {
  return Status::InvalidArgument(
      "jsonbin store: " + std::string(variable_or_answer) +
      " is not a JSONBin bin id (1–64 letters, digits, '-' or '_'; JSONBin's "
      "are 24 hex digits)");
}

Status Stopped() { return Status::Unavailable("jsonbin store: stopped"); }

// Parses `body` as one JSON value, refusing deep nesting.
Result<rapidjson::Document> ParseAnswer(std::string_view body,
                                        std::string_view what) {
  if (JsonNestingDepth(body) > kMaxAnswerDepth) {
    return Status::Unavailable("jsonbin store: " + std::string(what) +
                               " answered JSON nested deeper than " +
                               std::to_string(kMaxAnswerDepth) + " levels");
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    return Status::Unavailable(
        "jsonbin store: " + std::string(what) +
        " answered 200 with a body that is not JSON (" +
        rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
        std::to_string(doc.GetErrorOffset()) + ")");
  }
  return doc;
}

std::string Compact(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

JsonBinSessionStore::JsonBinSessionStore(HttpClient& http,
                                         JsonBinOptions options)
    : http_(http),
      options_(std::move(options)),
      base_([this] {
        std::string base = options_.base_url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        return base;
      }()),
      bin_id_(options_.bin_id) {}

JsonBinSessionStore::~JsonBinSessionStore() {
  destroying_ = true;
  stopped_ = true;
  queue_.clear();
  if (in_flight_) http_.Cancel(*in_flight_);  // OnAnswer drops it
}

void JsonBinSessionStore::Answer(std::function<void()> task) {
  // False: the loop (or the client) is closing; nobody waits any more.
  if (options_.post) {
    options_.post(std::move(task));
  } else {
    http_.Post(std::move(task));
  }
}

void JsonBinSessionStore::AnswerLoad(Call& call,
                                     Result<std::optional<std::string>> result,
                                     bool now) {
  if (now) {
    LoadDone done = std::move(call.load_done);
    done(std::move(result));
    return;
  }
  Answer([done = std::move(call.load_done),
          result = std::move(result)]() mutable { done(std::move(result)); });
}

void JsonBinSessionStore::AnswerSave(Call& call, Status status, bool now) {
  if (now) {
    SaveDone done = std::move(call.save_done);
    done(status);
    return;
  }
  Answer([done = std::move(call.save_done), status = std::move(status)] {
    done(status);
  });
}

void JsonBinSessionStore::Load(LoadDone done) {
  auto call = std::make_unique<Call>();
  call->load_done = std::move(done);
  Enqueue(std::move(call));
}

void JsonBinSessionStore::Save(std::string document, uint64_t /*sequence*/,
                               SaveDone done) {
  auto call = std::make_unique<Call>();
  call->save_done = std::move(done);
  if (document.size() > options_.max_record_bytes) {
    AnswerSave(
        *call,
        Status::InvalidArgument(
            "jsonbin store: the snapshot is " +
            std::to_string(document.size()) + " bytes, JSONBin takes at most " +
            std::to_string(options_.max_record_bytes) +
            " (its record cap); it is kept in the local file only"));
    return;
  }
  call->document = std::move(document);
  Enqueue(std::move(call));
}

void JsonBinSessionStore::Enqueue(std::unique_ptr<Call> call) {
  if (stopped_) {
    if (call->load_done) {
      AnswerLoad(*call, Stopped());
    } else {
      AnswerSave(*call, Stopped());
    }
    return;
  }
  queue_.push_back(std::move(call));
  Pump();
}

void JsonBinSessionStore::Pump() {
  while (!in_flight_ && !stopped_ && !queue_.empty()) {
    std::unique_ptr<Call> call = std::move(queue_.front());
    queue_.pop_front();
    if (StartCall(call)) current_ = std::move(call);
  }
}

HttpRequest JsonBinSessionStore::NewRequest(HttpMethod method,
                                            std::string path) const {
  HttpRequest request;
  request.method = method;
  request.url = base_ + path;
  if (!options_.master_key.empty()) {
    request.headers.Add("X-Master-Key", options_.master_key);
  } else if (!options_.access_key.empty()) {
    request.headers.Add("X-Access-Key", options_.access_key);
  }
  request.connect_timeout = options_.timeout;
  request.total_timeout = options_.timeout;
  request.max_body_bytes = options_.max_record_bytes * 2 + kAnswerSlack;
  return request;
}

JsonBinErrorContext JsonBinSessionStore::ErrorContext(JsonBinCall call) const {
  JsonBinErrorContext context;
  context.call = call;
  context.key_variable = !options_.master_key.empty()   ? "JSONBIN_MASTER_KEY"
                         : !options_.access_key.empty() ? "JSONBIN_API_KEY"
                                                        : "";
  context.bin_id = bin_id_;
  context.secrets = {options_.master_key, options_.access_key};
  return context;
}

bool JsonBinSessionStore::StartCall(std::unique_ptr<Call>& call) {
  HttpRequest request;
  if (call->load_done) {
    if (bin_id_.empty()) {
      AnswerLoad(*call, std::optional<std::string>());
      return false;
    }
    if (!ValidBinId(bin_id_)) {
      AnswerLoad(*call, BadBinId("JSONBIN_BIN_ID"));
      return false;
    }
    current_kind_ = JsonBinCall::kRead;
    request = NewRequest(HttpMethod::kGet, "/b/" + bin_id_ + "/latest");
    request.headers.Add("X-Bin-Meta", "false");
  } else if (bin_id_.empty()) {
    current_kind_ = JsonBinCall::kCreate;
    request = NewRequest(HttpMethod::kPost, "/b");
    request.headers.Add("Content-Type", "application/json");
    request.headers.Add("X-Bin-Private", "true");
    std::string name = "dynoguard-" + options_.session_name;
    if (name.size() > kMaxBinName) name.resize(kMaxBinName);
    // A header value must not carry CR/LF; SESSION_NAME is validated at
    // start, this only keeps a bad one from failing the request.
    std::replace_if(
        name.begin(), name.end(),
        [](char c) { return static_cast<unsigned char>(c) < 0x20; }, '_');
    request.headers.Add("X-Bin-Name", std::move(name));
    request.body = std::move(call->document);
  } else {
    if (!ValidBinId(bin_id_)) {
      AnswerSave(*call, BadBinId("JSONBIN_BIN_ID"));
      return false;
    }
    current_kind_ = JsonBinCall::kUpdate;
    request = NewRequest(HttpMethod::kPut, "/b/" + bin_id_);
    request.headers.Add("Content-Type", "application/json");
    request.body = std::move(call->document);
  }

  Result<HttpRequestId> started = http_.Start(
      std::move(request),
      [this](HttpResponse response) { OnAnswer(std::move(response)); });
  if (!started.ok()) {
    Status status =
        Status::Unavailable("jsonbin store: " + started.status().message());
    if (started.status().code() == Status::Code::kInvalidArgument) {
      status = Status::InvalidArgument(
          "jsonbin store: " + started.status().message() +
          "; check JSONBIN_BASE_URL");
    }
    if (call->load_done) {
      AnswerLoad(*call, status);
    } else {
      AnswerSave(*call, status);
    }
    return false;
  }
  in_flight_ = *started;
  return true;
}

void JsonBinSessionStore::OnAnswer(HttpResponse response) {
  in_flight_.reset();
  std::unique_ptr<Call> call = std::move(current_);
  if (destroying_ || !call) return;
  const JsonBinCall kind = current_kind_;
  const bool is_load = static_cast<bool>(call->load_done);
  // From the client's completion: answer at once, no extra loop turn — but
  // not when Stop's Cancel brought us here (that is within Stop).
  const bool now = !stopped_;

  auto fail = [&](Status status) {
    if (is_load) {
      AnswerLoad(*call, std::move(status), now);
    } else {
      AnswerSave(*call, std::move(status), now);
    }
  };

  if (!response.ok()) {
    fail(response.error.kind == HttpErrorKind::kCancelled
             ? Stopped()
             : JsonBinTransportStatus(response.error));
  } else if (response.status < 200 || response.status > 299) {
    Status status =
        JsonBinAnswerStatus(ErrorContext(kind), response.status, response.body,
                            response.headers.Find("Retry-After"));
    if (kind == JsonBinCall::kRead &&
        status.code() == Status::Code::kNotFound) {
      // No session there yet (or a wrong id): start without one, loudly.
      if (options_.log != nullptr) {
        options_.log->Warn("jsonbin-bin-not-found",
                           {{"bin", bin_id_}, {"detail", status.message()}});
      }
      AnswerLoad(*call, std::optional<std::string>(), now);
    } else {
      fail(std::move(status));
    }
  } else if (kind == JsonBinCall::kRead) {
    Result<rapidjson::Document> doc = ParseAnswer(response.body, "the read");
    if (!doc.ok()) {
      fail(doc.status());
    } else {
      // With X-Bin-Meta: false JSONBin answers the record alone; an answer
      // wrapped as {record, metadata} (a server ignoring the header) is
      // unwrapped. A snapshot document never has just those two members.
      const rapidjson::Value* record = &*doc;
      if (doc->IsObject() && doc->MemberCount() == 2 &&
          doc->HasMember("record") && doc->HasMember("metadata") &&
          (*doc)["metadata"].IsObject()) {
        record = &(*doc)["record"];
      }
      AnswerLoad(*call, std::optional<std::string>(Compact(*record)), now);
    }
  } else if (kind == JsonBinCall::kCreate) {
    Result<rapidjson::Document> doc = ParseAnswer(response.body, "the create");
    const rapidjson::Value* id = nullptr;
    if (doc.ok() && doc->IsObject() && doc->HasMember("metadata") &&
        (*doc)["metadata"].IsObject() && (*doc)["metadata"].HasMember("id") &&
        (*doc)["metadata"]["id"].IsString()) {
      id = &(*doc)["metadata"]["id"];
    }
    if (!doc.ok()) {
      fail(doc.status());
    } else if (id == nullptr) {
      fail(Status::Unavailable(
          "jsonbin store: the create answered 200 without metadata.id"));
    } else if (!ValidBinId(
                   std::string_view(id->GetString(), id->GetStringLength()))) {
      fail(BadBinId("the id in the create's answer"));
    } else {
      bin_id_.assign(id->GetString(), id->GetStringLength());
      if (options_.log != nullptr) {
        options_.log->Info(
            "jsonbin-bin-created",
            {{"id", bin_id_},
             {"", "set JSONBIN_BIN_ID=" + bin_id_ + " to keep using it"}});
      }
      AnswerSave(*call, Status::Ok(), now);
    }
  } else {
    AnswerSave(*call, Status::Ok(), now);
  }
  Pump();
}

void JsonBinSessionStore::Stop(std::function<void()> done) {
  stopped_ = true;
  std::deque<std::unique_ptr<Call>> queued;
  queued.swap(queue_);
  // The one in flight first (it was called first): Cancel runs OnAnswer now,
  // which answers it Unavailable.
  if (in_flight_) http_.Cancel(*in_flight_);
  for (auto& call : queued) {
    if (call->load_done) {
      AnswerLoad(*call, Stopped());
    } else {
      AnswerSave(*call, Stopped());
    }
  }
  // Posted after every answer: runs after them.
  Answer(std::move(done));
}

}  // namespace dynoguard::worker
