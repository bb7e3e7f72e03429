#include "tests/support/mongo_wire_server.h"

#include <arpa/inet.h>
#include <bson/bson.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

namespace dynoguard::testing {
namespace {

constexpr int32_t kOpReply = 1;
constexpr int32_t kOpQuery = 2004;
constexpr int32_t kOpMsg = 2013;
constexpr uint32_t kChecksumPresent = 1u << 0;
constexpr uint32_t kMoreToCome = 1u << 1;
constexpr int32_t kMaxMessageBytes = 48000000;
constexpr int32_t kMaxBsonBytes = 16 * 1024 * 1024;

// ---- bytes ----

int32_t Le32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<int32_t>(
      static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
      static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24);
}

void PutLe32(std::string& out, int32_t value) {
  auto u = static_cast<uint32_t>(value);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(u >> (8 * i)));
}

void PutLe64(std::string& out, int64_t value) {
  auto u = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(u >> (8 * i)));
}

bool ReadFull(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = recv(fd, data, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteFull(int fd, const std::string& bytes) {
  const char* data = bytes.data();
  size_t size = bytes.size();
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// ---- BSON ----

// Owns a bson_t (not a std::unique_ptr: bson_t's alignment attribute makes
// GCC warn about it as a template argument).
class Doc {
 public:
  explicit Doc(bson_t* bson) : bson_(bson) {}
  ~Doc() {
    if (bson_ != nullptr) bson_destroy(bson_);
  }
  Doc(Doc&& other) noexcept : bson_(other.bson_) { other.bson_ = nullptr; }
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;
  bson_t* get() const { return bson_; }
  bson_t* operator->() const { return bson_; }
  explicit operator bool() const { return bson_ != nullptr; }

 private:
  bson_t* bson_;
};

Doc NewDoc() { return Doc(bson_new()); }

std::string Bytes(const bson_t* b) {
  return std::string(reinterpret_cast<const char*>(bson_get_data(b)), b->len);
}

// A read-only view of BSON bytes; false when they are not one document.
bool View(const std::string& bytes, bson_t* out) {
  return bson_init_static(out, reinterpret_cast<const uint8_t*>(bytes.data()),
                          bytes.size());
}

std::string CanonicalJson(const bson_t* b) {
  size_t length = 0;
  char* json = bson_as_canonical_extended_json(b, &length);
  if (json == nullptr) return "{}";
  std::string out(json, length);
  bson_free(json);
  return out;
}

std::string FirstKey(const bson_t* b) {
  bson_iter_t it;
  if (bson_iter_init(&it, b) && bson_iter_next(&it)) return bson_iter_key(&it);
  return "";
}

std::string Utf8Of(const bson_t* b, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, b, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    return bson_iter_utf8(&it, nullptr);
  }
  return "";
}

// The sub-document (or array) `key` of `b` as a view; false when missing.
bool SubDoc(const bson_t* b, const char* key, bson_t* out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, b, key)) return false;
  if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it)) {
    return false;
  }
  uint32_t length = 0;
  const uint8_t* data = nullptr;
  if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
    bson_iter_document(&it, &length, &data);
  } else {
    bson_iter_array(&it, &length, &data);
  }
  return bson_init_static(out, data, length);
}

bool BoolOf(const bson_t* b, const char* key, bool fallback) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, b, key)) return bson_iter_as_bool(&it);
  return fallback;
}

Doc ErrorReply(int32_t code, const std::string& code_name,
               const std::string& message) {
  Doc reply = NewDoc();
  BSON_APPEND_DOUBLE(reply.get(), "ok", 0.0);
  BSON_APPEND_UTF8(reply.get(), "errmsg", message.c_str());
  BSON_APPEND_INT32(reply.get(), "code", code);
  BSON_APPEND_UTF8(reply.get(), "codeName", code_name.c_str());
  return reply;
}

bool IsNumber(bson_type_t type) {
  return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 ||
         type == BSON_TYPE_DOUBLE;
}

long double NumberOf(const bson_value_t& v) {
  switch (v.value_type) {
    case BSON_TYPE_INT32:
      return v.value.v_int32;
    case BSON_TYPE_INT64:
      return static_cast<long double>(v.value.v_int64);
    default:
      return v.value.v_double;
  }
}

// <0, 0, >0; nullopt when the two cannot be compared (other types).
std::optional<int> Compare(const bson_value_t& a, const bson_value_t& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (IsNumber(a.value_type) && IsNumber(b.value_type)) {
    return sign(NumberOf(a), NumberOf(b));
  }
  if (a.value_type != b.value_type) return std::nullopt;
  switch (a.value_type) {
    case BSON_TYPE_UTF8: {
      std::string_view x(a.value.v_utf8.str, a.value.v_utf8.len);
      std::string_view y(b.value.v_utf8.str, b.value.v_utf8.len);
      return sign(x.compare(y), 0);
    }
    case BSON_TYPE_BOOL:
      return sign(a.value.v_bool, b.value.v_bool);
    case BSON_TYPE_DATE_TIME:
      return sign(a.value.v_datetime, b.value.v_datetime);
    case BSON_TYPE_OID:
      return sign(bson_oid_compare(&a.value.v_oid, &b.value.v_oid), 0);
    case BSON_TYPE_NULL:
      return 0;
    default:
      return std::nullopt;
  }
}

bool IsOperatorDoc(const bson_iter_t& it) {
  if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
  bson_t sub;
  uint32_t length = 0;
  const uint8_t* data = nullptr;
  bson_iter_document(&it, &length, &data);
  if (!bson_init_static(&sub, data, length)) return false;
  return FirstKey(&sub).rfind('$', 0) == 0;
}

// Whether `doc` matches `filter`: top-level fields, equality or
// $lt/$lte/$gt/$gte/$eq/$ne. An unknown operator: a BadValue message.
common::Result<bool> Match(const bson_t* doc, const bson_t* filter) {
  bson_iter_t f;
  if (!bson_iter_init(&f, filter)) return false;
  while (bson_iter_next(&f)) {
    const char* key = bson_iter_key(&f);
    if (key[0] == '$') {
      return common::Status::InvalidArgument(
          std::string("unknown top level operator: ") + key);
    }
    bson_iter_t d;
    bool found = bson_iter_init_find(&d, doc, key);
    if (IsOperatorDoc(f)) {
      bson_iter_t op;
      bson_iter_recurse(&f, &op);
      while (bson_iter_next(&op)) {
        std::string name = bson_iter_key(&op);
        if (name == "$ne") {
          if (!found) continue;
          auto c = Compare(*bson_iter_value(&d), *bson_iter_value(&op));
          if (c && *c == 0) return false;
          continue;
        }
        if (name != "$lt" && name != "$lte" && name != "$gt" &&
            name != "$gte" && name != "$eq") {
          return common::Status::InvalidArgument("unknown operator: " + name);
        }
        if (!found) return false;
        auto c = Compare(*bson_iter_value(&d), *bson_iter_value(&op));
        if (!c) return false;
        bool ok = (name == "$lt" && *c < 0) || (name == "$lte" && *c <= 0) ||
                  (name == "$gt" && *c > 0) || (name == "$gte" && *c >= 0) ||
                  (name == "$eq" && *c == 0);
        if (!ok) return false;
      }
      continue;
    }
    if (!found) return false;
    auto c = Compare(*bson_iter_value(&d), *bson_iter_value(&f));
    if (!c || *c != 0) return false;
  }
  return true;
}

// The key of a document's _id in a collection map; nullopt for other types.
std::optional<std::string> IdKey(const bson_t* doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return std::nullopt;
  if (BSON_ITER_HOLDS_UTF8(&it)) {
    return "s:" + std::string(bson_iter_utf8(&it, nullptr));
  }
  if (BSON_ITER_HOLDS_OID(&it)) {
    char hex[25];
    bson_oid_to_string(bson_iter_oid(&it), hex);
    return "o:" + std::string(hex);
  }
  return std::nullopt;
}

// `doc` with `update` applied: the fields of $set (and of $setOnInsert when
// `inserting`) replace or join doc's, or, for a replacement, doc's _id and
// the replacement's other fields. _id first; one made when missing.
common::Result<std::string> ApplyUpdate(const bson_t* doc, const bson_t* update,
                                        bool inserting) {
  Doc out = NewDoc();
  bson_iter_t it;
  bool has_id = bson_iter_init_find(&it, doc, "_id");
  if (!has_id && !(bson_iter_init_find(&it, update, "_id"))) {
    bson_oid_t oid;
    bson_oid_init(&oid, nullptr);
    BSON_APPEND_OID(out.get(), "_id", &oid);
  } else {
    bson_append_value(out.get(), "_id", 3, bson_iter_value(&it));
  }
  if (FirstKey(update).rfind('$', 0) != 0) {  // a replacement
    bson_iter_init(&it, update);
    while (bson_iter_next(&it)) {
      if (std::strcmp(bson_iter_key(&it), "_id") == 0) continue;
      bson_append_value(out.get(), bson_iter_key(&it), -1,
                        bson_iter_value(&it));
    }
    return Bytes(out.get());
  }
  // Collect the set fields, last writer wins.
  // An iterator per field (bson_iter_value points into the iterator, so a
  // pointer would change with the next field).
  struct SetField {
    std::string key;
    bson_iter_t iter;
  };
  std::vector<SetField> sets;
  bson_t sub;
  bson_iter_init(&it, update);
  while (bson_iter_next(&it)) {
    std::string op = bson_iter_key(&it);
    if (op != "$set" && op != "$setOnInsert") {
      return common::Status::InvalidArgument("Unknown modifier: " + op);
    }
    if (op == "$setOnInsert" && !inserting) continue;
    if (!SubDoc(update, op.c_str(), &sub)) {
      return common::Status::InvalidArgument(op + " needs a document");
    }
    bson_iter_t field;
    bson_iter_init(&field, update);
    bson_iter_find(&field, op.c_str());
    bson_iter_t inner;
    bson_iter_recurse(&field, &inner);
    while (bson_iter_next(&inner)) {
      std::string key = bson_iter_key(&inner);
      if (key == "_id") continue;
      sets.push_back({key, inner});
    }
  }
  auto find_set = [&](const std::string& key) -> const bson_value_t* {
    const bson_value_t* value = nullptr;
    for (SetField& field : sets) {
      if (field.key == key) value = bson_iter_value(&field.iter);
    }
    return value;
  };
  std::vector<std::string> written;
  bson_iter_init(&it, doc);
  while (bson_iter_next(&it)) {
    std::string key = bson_iter_key(&it);
    if (key == "_id") continue;
    const bson_value_t* value = find_set(key);
    bson_append_value(out.get(), key.c_str(), -1,
                      value ? value : bson_iter_value(&it));
    written.push_back(key);
  }
  for (SetField& field : sets) {
    const std::string& key = field.key;
    if (std::find(written.begin(), written.end(), key) != written.end()) {
      continue;
    }
    bson_append_value(out.get(), key.c_str(), -1, find_set(key));
    written.push_back(key);
  }
  return Bytes(out.get());
}

// The equality fields of a filter: the base of an upsert's new document.
Doc EqualityFields(const bson_t* filter) {
  Doc base = NewDoc();
  bson_iter_t it;
  bson_iter_init(&it, filter);
  while (bson_iter_next(&it)) {
    if (bson_iter_key(&it)[0] == '$') continue;
    if (IsOperatorDoc(it)) {
      bson_iter_t op;
      bson_iter_recurse(&it, &op);
      if (bson_iter_find(&op, "$eq")) {
        bson_append_value(base.get(), bson_iter_key(&it), -1,
                          bson_iter_value(&op));
      }
      continue;
    }
    bson_append_value(base.get(), bson_iter_key(&it), -1, bson_iter_value(&it));
  }
  return base;
}

std::string MsgReply(int32_t reply_id, int32_t response_to,
                     const bson_t* reply) {
  std::string out;
  PutLe32(out, 0);  // length, set below
  PutLe32(out, reply_id);
  PutLe32(out, response_to);
  PutLe32(out, kOpMsg);
  PutLe32(out, 0);      // flagBits
  out.push_back('\0');  // section kind 0
  out += Bytes(reply);
  std::string length;
  PutLe32(length, static_cast<int32_t>(out.size()));
  out.replace(0, 4, length);
  return out;
}

std::string OpReply(int32_t reply_id, int32_t response_to,
                    const bson_t* reply) {
  std::string out;
  PutLe32(out, 0);
  PutLe32(out, reply_id);
  PutLe32(out, response_to);
  PutLe32(out, kOpReply);
  PutLe32(out, 8);  // responseFlags: AwaitCapable
  PutLe64(out, 0);  // cursorID
  PutLe32(out, 0);  // startingFrom
  PutLe32(out, 1);  // numberReturned
  out += Bytes(reply);
  std::string length;
  PutLe32(length, static_cast<int32_t>(out.size()));
  out.replace(0, 4, length);
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

}  // namespace

MongoWireServer::MongoWireServer(Options options)
    : options_(options), port_(options.port) {
  common::Status started = Start();
  INFO(started.ToString());
  REQUIRE(started.ok());
}

MongoWireServer::~MongoWireServer() { Stop(); }

std::string MongoWireServer::uri(std::string_view database) const {
  return "mongodb://127.0.0.1:" + std::to_string(port_) + "/" +
         std::string(database);
}

common::Status MongoWireServer::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_) return common::Status::Ok();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::Status::IOError("socket", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 16) != 0) {
    std::string error = std::strerror(errno);
    close(fd);
    return common::Status::IOError("bind 127.0.0.1:" + std::to_string(port_),
                                   error);
  }
  socklen_t length = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  port_ = ntohs(addr.sin_port);
  if (pipe2(wake_fds_, O_CLOEXEC) != 0) {
    std::string error = std::strerror(errno);
    close(fd);
    return common::Status::IOError("pipe2", error);
  }
  listen_fd_ = fd;
  running_ = true;
  accept_thread_ =
      std::thread(&MongoWireServer::AcceptLoop, this, fd, wake_fds_[0]);
  return common::Status::Ok();
}

void MongoWireServer::Stop() {
  std::thread accept;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return;
    running_ = false;
    [[maybe_unused]] ssize_t n = write(wake_fds_[1], "x", 1);
    accept = std::move(accept_thread_);
  }
  cv_.notify_all();
  accept.join();
  std::list<Connection> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    close(listen_fd_);
    listen_fd_ = -1;
    close(wake_fds_[0]);
    close(wake_fds_[1]);
    wake_fds_[0] = wake_fds_[1] = -1;
    for (Connection& c : connections_) shutdown(c.fd, SHUT_RDWR);
    connections.splice(connections.begin(), connections_);
  }
  for (Connection& c : connections) {
    c.thread.join();
    close(c.fd);
  }
}

bool MongoWireServer::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

void MongoWireServer::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = delay;
}

std::vector<MongoCommand> MongoWireServer::commands() const {
  std::vector<MongoCommand> out;
  std::vector<std::string> bson;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = commands_;
    bson = command_bson_;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    bson_t view;
    if (!bson[i].empty() && View(bson[i], &view)) {
      out[i].json = CanonicalJson(&view);
    }
  }
  return out;
}

std::vector<MongoCommand> MongoWireServer::commands(
    std::string_view name) const {
  std::vector<MongoCommand> out;
  for (MongoCommand& c : commands()) {
    if (c.name == name) out.push_back(std::move(c));
  }
  return out;
}

void MongoWireServer::ClearCommands() {
  std::lock_guard<std::mutex> lock(mu_);
  commands_.clear();
  command_bson_.clear();
}

int MongoWireServer::connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::optional<std::string> MongoWireServer::Document(
    std::string_view ns, std::string_view id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto collection = data_.find(std::string(ns));
  if (collection == data_.end()) return std::nullopt;
  auto doc = collection->second.find("s:" + std::string(id));
  if (doc == collection->second.end()) return std::nullopt;
  bson_t view;
  if (!View(doc->second, &view)) return std::nullopt;
  return CanonicalJson(&view);
}

bool MongoWireServer::PutDocument(std::string_view ns, std::string_view json) {
  bson_error_t error;
  Doc doc(bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                             static_cast<ssize_t>(json.size()), &error));
  if (!doc) return false;
  auto key = IdKey(doc.get());
  if (!key || key->rfind("s:", 0) != 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  data_[std::string(ns)][*key] = Bytes(doc.get());
  return true;
}

void MongoWireServer::AcceptLoop(int listen_fd, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) {
      close(fd);
      return;
    }
    ReapLocked();
    Connection& c = connections_.emplace_back();
    c.fd = fd;
    ++accepted_;
    c.thread = std::thread(&MongoWireServer::Serve, this, &c);
  }
}

void MongoWireServer::ReapLocked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    it->thread.join();  // it set `done` as its last step under mu_
    close(it->fd);
    it = connections_.erase(it);
  }
}

void MongoWireServer::Serve(Connection* connection) {
  int32_t connection_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connection_id = next_connection_id_++;
  }
  const int fd = connection->fd;
  for (;;) {
    char header[16];
    if (!ReadFull(fd, header, sizeof(header))) break;
    const int32_t length = Le32(header);
    const int32_t request_id = Le32(header + 4);
    const int32_t op_code = Le32(header + 12);
    if (length < 16 || length > kMaxMessageBytes) break;
    std::string body(static_cast<size_t>(length) - 16, '\0');
    if (!ReadFull(fd, body.data(), body.size())) break;
    bool close_connection = false;
    std::optional<std::string> reply =
        Handle(request_id, op_code, body, connection_id, close_connection);
    if (close_connection) break;
    if (!reply) continue;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (delay_.count() > 0) {
        cv_.wait_for(lock, delay_, [this] { return !running_; });
      }
      if (!running_) break;
    }
    if (!WriteFull(fd, *reply)) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  connection->done = true;
}

std::optional<std::string> MongoWireServer::Handle(int32_t request_id,
                                                   int32_t op_code,
                                                   const std::string& body,
                                                   int32_t connection_id,
                                                   bool& close) {
  int32_t reply_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reply_id = next_reply_id_++;
  }
  if (op_code == kOpQuery) {
    // flags, fullCollectionName (cstring), numberToSkip, numberToReturn, query.
    size_t name_end = body.find('\0', 4);
    if (body.size() < 4 || name_end == std::string::npos ||
        name_end + 9 > body.size()) {
      close = true;
      return std::nullopt;
    }
    std::string ns = body.substr(4, name_end - 4);
    std::string query = body.substr(name_end + 9);
    bson_t view;
    if (query.size() < 5 ||
        static_cast<size_t>(Le32(query.data())) > query.size() ||
        !bson_init_static(&view, reinterpret_cast<const uint8_t*>(query.data()),
                          static_cast<size_t>(Le32(query.data())))) {
      close = true;
      return std::nullopt;
    }
    std::string command = Bytes(&view);
    bson_t inner;
    if (FirstKey(&view) == "$query" && SubDoc(&view, "$query", &inner)) {
      command = Bytes(&inner);
    }
    std::string database = ns.substr(0, ns.find('.'));
    std::string answer;
    if (ns.size() < 5 || ns.compare(ns.size() - 5, 5, ".$cmd") != 0) {
      Doc error = ErrorReply(2, "BadValue",
                             "OP_QUERY is only for commands here: " + ns);
      answer = Bytes(error.get());
    } else {
      answer = Run(command, database, op_code, connection_id);
    }
    bson_t reply;
    View(answer, &reply);
    return OpReply(reply_id, request_id, &reply);
  }
  if (op_code != kOpMsg) {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(
        {"opcode " + std::to_string(op_code), "", op_code, "", {}, false});
    command_bson_.emplace_back();
    close = true;
    return std::nullopt;
  }
  if (body.size() < 5) {
    close = true;
    return std::nullopt;
  }
  const auto flags = static_cast<uint32_t>(Le32(body.data()));
  size_t end = body.size() - ((flags & kChecksumPresent) ? 4 : 0);
  size_t pos = 4;
  std::string main;
  std::vector<std::pair<std::string, std::vector<std::string>>> sequences;
  while (pos < end) {
    const char kind = body[pos++];
    if (pos + 4 > end) break;
    const int32_t size = Le32(body.data() + pos);
    if (size < 5 || pos + static_cast<size_t>(size) > end) {
      close = true;
      return std::nullopt;
    }
    if (kind == 0) {
      main = body.substr(pos, static_cast<size_t>(size));
      pos += static_cast<size_t>(size);
    } else if (kind == 1) {
      const size_t section_end = pos + static_cast<size_t>(size);
      size_t id_end = body.find('\0', pos + 4);
      if (id_end == std::string::npos || id_end >= section_end) {
        close = true;
        return std::nullopt;
      }
      std::string identifier = body.substr(pos + 4, id_end - pos - 4);
      std::vector<std::string> docs;
      size_t p = id_end + 1;
      while (p + 4 <= section_end) {
        const int32_t doc_size = Le32(body.data() + p);
        if (doc_size < 5 || p + static_cast<size_t>(doc_size) > section_end) {
          close = true;
          return std::nullopt;
        }
        docs.push_back(body.substr(p, static_cast<size_t>(doc_size)));
        p += static_cast<size_t>(doc_size);
      }
      sequences.emplace_back(std::move(identifier), std::move(docs));
      pos = section_end;
    } else {
      close = true;
      return std::nullopt;
    }
  }
  bson_t view;
  if (main.empty() || !View(main, &view)) {
    close = true;
    return std::nullopt;
  }
  // Fold the document sequences in as arrays.
  Doc command(bson_copy(&view));
  for (auto& [identifier, docs] : sequences) {
    bson_t array;
    bson_append_array_begin(command.get(), identifier.c_str(), -1, &array);
    for (size_t i = 0; i < docs.size(); ++i) {
      bson_t item;
      if (!View(docs[i], &item)) continue;
      char key_buffer[16];
      const char* key = nullptr;
      bson_uint32_to_string(static_cast<uint32_t>(i), &key, key_buffer,
                            sizeof(key_buffer));
      bson_append_document(&array, key, -1, &item);
    }
    bson_append_array_end(command.get(), &array);
  }
  std::vector<std::string> identifiers;
  for (auto& sequence : sequences) identifiers.push_back(sequence.first);
  std::string answer =
      Run(Bytes(command.get()), Utf8Of(&view, "$db"), op_code, connection_id,
          std::move(identifiers), (flags & kMoreToCome) != 0);
  if (flags & kMoreToCome) return std::nullopt;
  bson_t reply;
  View(answer, &reply);
  return MsgReply(reply_id, request_id, &reply);
}

std::string MongoWireServer::Run(const std::string& command_bson,
                                 std::string database, int op_code,
                                 int32_t connection_id,
                                 std::vector<std::string> sequences,
                                 bool more_to_come) {
  bson_t cmd;
  View(command_bson, &cmd);
  const std::string name = FirstKey(&cmd);
  const std::string lower = Lower(name);
  std::lock_guard<std::mutex> lock(mu_);
  commands_.push_back(
      {name, database, op_code, "", std::move(sequences), more_to_come});
  command_bson_.push_back(command_bson);

  if (lower == "hello" || lower == "ismaster") {
    Doc reply = NewDoc();
    BSON_APPEND_BOOL(reply.get(), "helloOk", true);
    BSON_APPEND_BOOL(reply.get(),
                     lower == "hello" ? "isWritablePrimary" : "ismaster", true);
    BSON_APPEND_INT32(reply.get(), "maxBsonObjectSize", kMaxBsonBytes);
    BSON_APPEND_INT32(reply.get(), "maxMessageSizeBytes", kMaxMessageBytes);
    BSON_APPEND_INT32(reply.get(), "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(
        reply.get(), "localTime",
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    BSON_APPEND_INT32(reply.get(), "logicalSessionTimeoutMinutes", 30);
    BSON_APPEND_INT32(reply.get(), "connectionId", connection_id);
    BSON_APPEND_INT32(reply.get(), "minWireVersion", 0);
    BSON_APPEND_INT32(reply.get(), "maxWireVersion", 17);
    BSON_APPEND_BOOL(reply.get(), "readOnly", false);
    BSON_APPEND_DOUBLE(reply.get(), "ok", 1.0);
    return Bytes(reply.get());
  }
  if (lower == "ping" || lower == "endsessions") {
    Doc reply = NewDoc();
    BSON_APPEND_DOUBLE(reply.get(), "ok", 1.0);
    return Bytes(reply.get());
  }
  if (lower == "buildinfo") {
    Doc reply(BCON_NEW("version", BCON_UTF8("6.0.0"), "versionArray", "[",
                       BCON_INT32(6), BCON_INT32(0), BCON_INT32(0),
                       BCON_INT32(0), "]", "maxBsonObjectSize",
                       BCON_INT32(kMaxBsonBytes), "ok", BCON_DOUBLE(1.0)));
    return Bytes(reply.get());
  }
  if (lower == "saslstart" || lower == "saslcontinue" ||
      lower == "authenticate") {
    return Bytes(
        ErrorReply(18, "AuthenticationFailed", "Authentication failed.").get());
  }
  if (lower == "dropdatabase") {
    const std::string prefix = database + ".";
    for (auto it = data_.begin(); it != data_.end();) {
      it = it->first.rfind(prefix, 0) == 0 ? data_.erase(it) : std::next(it);
    }
    Doc reply(BCON_NEW("dropped", BCON_UTF8(database.c_str()), "ok",
                       BCON_DOUBLE(1.0)));
    return Bytes(reply.get());
  }
  const std::string collection = Utf8Of(&cmd, name.c_str());
  const std::string ns = database + "." + collection;
  if (name == "find") {
    bson_t filter;
    Doc empty = NewDoc();
    if (!SubDoc(&cmd, "filter", &filter))
      bson_init_static(&filter, bson_get_data(empty.get()), empty->len);
    int64_t limit = 0;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &cmd, "limit"))
      limit = bson_iter_as_int64(&it);
    if (limit < 0) limit = -limit;
    Doc reply = NewDoc();
    bson_t cursor;
    bson_t batch;
    BSON_APPEND_DOCUMENT_BEGIN(reply.get(), "cursor", &cursor);
    BSON_APPEND_ARRAY_BEGIN(&cursor, "firstBatch", &batch);
    uint32_t count = 0;
    for (auto& [key, bytes] : data_[ns]) {
      bson_t doc;
      View(bytes, &doc);
      auto matched = Match(&doc, &filter);
      if (!matched.ok()) {
        return Bytes(
            ErrorReply(2, "BadValue", matched.status().message()).get());
      }
      if (!*matched) continue;
      char key_buffer[16];
      const char* index = nullptr;
      bson_uint32_to_string(count, &index, key_buffer, sizeof(key_buffer));
      bson_append_document(&batch, index, -1, &doc);
      ++count;
      if (limit > 0 && count >= limit) break;
    }
    bson_append_array_end(&cursor, &batch);
    BSON_APPEND_INT64(&cursor, "id", 0);
    BSON_APPEND_UTF8(&cursor, "ns", ns.c_str());
    bson_append_document_end(reply.get(), &cursor);
    BSON_APPEND_DOUBLE(reply.get(), "ok", 1.0);
    return Bytes(reply.get());
  }
  if (name == "update" || name == "delete") {
    const bool is_update = name == "update";
    bson_t statements;
    if (!SubDoc(&cmd, is_update ? "updates" : "deletes", &statements)) {
      return Bytes(ErrorReply(9, "FailedToParse",
                              std::string("missing ") +
                                  (is_update ? "updates" : "deletes"))
                       .get());
    }
    const bool ordered = BoolOf(&cmd, "ordered", true);
    Collection& docs = data_[ns];
    int32_t n = 0;
    int32_t modified = 0;
    Doc upserted = NewDoc();
    Doc write_errors = NewDoc();
    uint32_t upserted_count = 0;
    uint32_t error_count = 0;
    auto add_error = [&](uint32_t index, int32_t code, const char* code_name,
                         const std::string& message) {
      char key_buffer[16];
      const char* key = nullptr;
      bson_uint32_to_string(error_count++, &key, key_buffer,
                            sizeof(key_buffer));
      Doc e(BCON_NEW("index", BCON_INT32(static_cast<int32_t>(index)), "code",
                     BCON_INT32(code), "codeName", BCON_UTF8(code_name),
                     "errmsg", BCON_UTF8(message.c_str())));
      bson_append_document(write_errors.get(), key, -1, e.get());
    };
    bson_iter_t sit;
    bson_iter_init(&sit, &statements);
    for (uint32_t index = 0; bson_iter_next(&sit); ++index) {
      if (ordered && error_count > 0) break;
      bson_t statement;
      {
        uint32_t length = 0;
        const uint8_t* data = nullptr;
        if (!BSON_ITER_HOLDS_DOCUMENT(&sit)) continue;
        bson_iter_document(&sit, &length, &data);
        bson_init_static(&statement, data, length);
      }
      bson_t q;
      bson_t u;
      Doc empty = NewDoc();
      if (!SubDoc(&statement, "q", &q))
        bson_init_static(&q, bson_get_data(empty.get()), empty->len);
      // Matching documents (the first only unless multi / limit 0).
      const bool multi = is_update ? BoolOf(&statement, "multi", false) : [&] {
        bson_iter_t l;
        return bson_iter_init_find(&l, &statement, "limit") &&
               bson_iter_as_int64(&l) == 0;
      }();
      std::vector<std::string> hits;
      bool failed = false;
      for (auto& [key, bytes] : docs) {
        bson_t doc;
        View(bytes, &doc);
        auto matched = Match(&doc, &q);
        if (!matched.ok()) {
          add_error(index, 2, "BadValue", matched.status().message());
          failed = true;
          break;
        }
        if (*matched) {
          hits.push_back(key);
          if (!multi) break;
        }
      }
      if (failed) continue;
      if (!is_update) {
        for (const std::string& key : hits) docs.erase(key);
        n += static_cast<int32_t>(hits.size());
        continue;
      }
      if (!SubDoc(&statement, "u", &u)) {
        add_error(index, 9, "FailedToParse", "missing u");
        continue;
      }
      if (!hits.empty()) {
        for (const std::string& key : hits) {
          bson_t doc;
          View(docs[key], &doc);
          auto updated = ApplyUpdate(&doc, &u, /*inserting=*/false);
          if (!updated.ok()) {
            add_error(index, 9, "FailedToParse", updated.status().message());
            failed = true;
            break;
          }
          ++n;
          if (*updated != docs[key]) {
            ++modified;
            docs[key] = std::move(*updated);
          }
        }
        continue;
      }
      if (!BoolOf(&statement, "upsert", false)) continue;
      Doc base = EqualityFields(&q);
      auto inserted = ApplyUpdate(base.get(), &u, /*inserting=*/true);
      if (!inserted.ok()) {
        add_error(index, 9, "FailedToParse", inserted.status().message());
        continue;
      }
      bson_t doc;
      View(*inserted, &doc);
      auto key = IdKey(&doc);
      if (!key) {
        add_error(index, 2, "BadValue",
                  "this test server keeps string or ObjectId _ids only");
        continue;
      }
      if (docs.count(*key) != 0) {
        // What mongod says when the upsert's insert meets the _id index.
        add_error(index, 11000, "DuplicateKey",
                  "E11000 duplicate key error collection: " + ns +
                      " index: _id_ dup key: { _id: \"" + key->substr(2) +
                      "\" }");
        continue;
      }
      docs[*key] = *inserted;
      ++n;
      bson_iter_t id;
      bson_iter_init_find(&id, &doc, "_id");
      Doc entry = NewDoc();
      BSON_APPEND_INT32(entry.get(), "index", static_cast<int32_t>(index));
      bson_append_value(entry.get(), "_id", 3, bson_iter_value(&id));
      char key_buffer[16];
      const char* array_key = nullptr;
      bson_uint32_to_string(upserted_count++, &array_key, key_buffer,
                            sizeof(key_buffer));
      bson_append_document(upserted.get(), array_key, -1, entry.get());
    }
    Doc reply = NewDoc();
    BSON_APPEND_INT32(reply.get(), "n", n);
    if (is_update) {
      BSON_APPEND_INT32(reply.get(), "nModified", modified);
      if (upserted_count > 0) {
        bson_append_array(reply.get(), "upserted", -1, upserted.get());
      }
    }
    if (error_count > 0) {
      bson_append_array(reply.get(), "writeErrors", -1, write_errors.get());
    }
    BSON_APPEND_DOUBLE(reply.get(), "ok", 1.0);
    return Bytes(reply.get());
  }
  return Bytes(
      ErrorReply(59, "CommandNotFound", "no such command: '" + name + "'")
          .get());
}

}  // namespace dynoguard::testing
