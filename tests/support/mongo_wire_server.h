// MongoWireServer: a local stand-in for a MongoDB server (a standalone, wire
// version 17 as MongoDB 6.0) for tests, on 127.0.0.1 (port 0 = any), with a
// thread to accept and one per connection. It speaks the wire protocol as
// libmongoc 1.23 uses it:
//   - OP_QUERY (2004) on "<db>.$cmd" → OP_REPLY (1): the first hello/isMaster
//     of each connection (the handshake);
//   - OP_MSG (2013): section kind 0 (the command body) and kind 1 (document
//     sequences such as update's "updates", folded into the command as an
//     array); flagBits checksumPresent (the CRC is skipped, not checked) and
//     moreToCome (no answer). The answer is one kind 0 section.
// Commands: hello/isMaster (isWritablePrimary/ismaster, min/maxWireVersion
// 0/17, maxBsonObjectSize 16 MiB, maxMessageSizeBytes 48 MB,
// logicalSessionTimeoutMinutes 30, …), ping, buildInfo, find (top-level
// equality and $lt/$lte/$gt/$gte/$eq/$ne filters; firstBatch in a cursor of
// id 0; limit), update ($set or a replacement; upsert; ordered; the duplicate
// key writeError 11000 when an upsert's insert meets an existing _id; n,
// nModified, upserted), delete, dropDatabase, endSessions. saslStart,
// saslContinue and authenticate fail with AuthenticationFailed (18): the
// server accepts no credentials (a URI with a user tests the
// PermissionDenied path). Anything else answers {ok: 0, code: 59,
// CommandNotFound}, so an unexpected command shows in the test.
// _id values must be strings (or are made ObjectIds by an upsert).
//
// Injectable: Stop() closes the listener and every connection (connections are
// refused) and Start() serves again on the same port; SetDelay() holds every
// answer (cut short by Stop). Every command is recorded.
//
// Thread-safe: every method may be called from any thread while it serves.
#ifndef DYNOGUARD_TESTS_SUPPORT_MONGO_WIRE_SERVER_H_
#define DYNOGUARD_TESTS_SUPPORT_MONGO_WIRE_SERVER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace dynoguard::testing {

// One command as received.
struct MongoCommand {
  std::string name;      // the body's first key: "hello", "find", "update", …
  std::string database;  // $db (OP_MSG) or the "<db>.$cmd" of OP_QUERY
  int op_code = 0;       // 2004 (OP_QUERY) or 2013 (OP_MSG)
  // The body as canonical extended JSON (int64 as {"$numberLong": "5"}, …),
  // with the kind 1 document sequences folded in as arrays.
  std::string json;
  // The identifiers of its kind 1 sections (OP_MSG document sequences, e.g.
  // "updates"), in the order sent; empty when all came in the body.
  std::vector<std::string> sequences;
  // OP_MSG flagBits moreToCome: the sender wants no answer (w: 0 writes).
  bool more_to_come = false;
};

class MongoWireServer {
 public:
  struct Options {
    int port = 0;  // 0: any free port
  };

  // Starts serving; REQUIREs (Catch2) that the port could be bound.
  explicit MongoWireServer(Options options);
  MongoWireServer() : MongoWireServer(Options{}) {}
  ~MongoWireServer();
  MongoWireServer(const MongoWireServer&) = delete;
  MongoWireServer& operator=(const MongoWireServer&) = delete;

  int port() const { return port_; }
  // "mongodb://127.0.0.1:<port>/<database>" (no database: "…:<port>/").
  std::string uri(std::string_view database = "") const;

  // Closes the listening socket and every open connection; delays end
  // without an answer. Idempotent.
  void Stop();
  // Serves again on the same port. Fails when the port cannot be bound.
  common::Status Start();
  bool running() const;

  // Holds every answer this long first. Default: none.
  void SetDelay(std::chrono::milliseconds delay);

  std::vector<MongoCommand> commands() const;
  // The recorded commands named `name`.
  std::vector<MongoCommand> commands(std::string_view name) const;
  void ClearCommands();
  // Connections accepted so far.
  int connections() const;

  // The stored document of `ns` ("db.collection") whose _id is the string
  // `id`, as canonical extended JSON; nullopt when there is none.
  std::optional<std::string> Document(std::string_view ns,
                                      std::string_view id) const;
  // Stores `json` (extended JSON with a string _id) in `ns`, replacing a
  // document of that _id: a document someone else wrote. False when `json`
  // does not parse or has no string _id.
  bool PutDocument(std::string_view ns, std::string_view json);

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    bool done = false;  // guarded by mu_
  };
  // db.collection → _id key → the document's BSON bytes.
  using Collection = std::map<std::string, std::string>;

  void AcceptLoop(int listen_fd, int wake_fd);
  void Serve(Connection* connection);
  // The answer's bytes for one message; nullopt: no answer (moreToCome) or
  // close the connection (`close` set).
  std::optional<std::string> Handle(int32_t request_id, int32_t op_code,
                                    const std::string& body,
                                    int32_t connection_id, bool& close);
  // The reply body (BSON bytes) for a command; records it. REQUIRES: mu_ not
  // held.
  std::string Run(const std::string& command_bson, std::string database,
                  int op_code, int32_t connection_id,
                  std::vector<std::string> sequences = {},
                  bool more_to_come = false);
  void ReapLocked();

  const Options options_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // Stop() wakes delays
  bool running_ = false;        // guarded by mu_
  int listen_fd_ = -1;          // guarded by mu_
  int wake_fds_[2] = {-1, -1};  // guarded by mu_: the accept loop's self-pipe
  std::thread accept_thread_;
  std::list<Connection> connections_;   // guarded by mu_
  int accepted_ = 0;                    // guarded by mu_
  std::chrono::milliseconds delay_{0};  // guarded by mu_
  // guarded by mu_: what was received; the JSON of each is made when asked
  // for (libbson takes ~30 ms for a 512 KB string, which would slow every
  // answer), from the BSON kept beside it.
  std::vector<MongoCommand> commands_;
  std::vector<std::string> command_bson_;
  std::map<std::string, Collection> data_;  // guarded by mu_
  int32_t next_reply_id_ = 1;               // guarded by mu_
  int32_t next_connection_id_ = 1;          // guarded by mu_
};

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_MONGO_WIRE_SERVER_H_
