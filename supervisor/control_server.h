// ControlServer: the unix stream socket in DATA_DIR through which `supervisor
// status|restart| stop|cleanup` reach the running supervisor. One request line
// in, one response line out.
#ifndef DYNOGUARD_SUPERVISOR_CONTROL_SERVER_H_
#define DYNOGUARD_SUPERVISOR_CONTROL_SERVER_H_

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynoguard::supervisor {

// Lives on the supervisor's loop; not thread-safe. Close() before the loop
// ends.
class ControlServer {
 public:
  // Maps a request line (without newline) to the response line (without
  // newline).
  using Handler = std::function<std::string(std::string_view request)>;

  ControlServer(uv_loop_t* loop, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Listens on `path`, a socket file of mode 0600. A stale socket file (nobody
  // answers on it) is replaced; a live one means another supervisor uses this
  // DATA_DIR → Unavailable. A client whose uid (SO_PEERCRED) is neither root
  // nor the supervisor's gets {"ok":false,"error":"permission denied..."}
  // and the handler never sees its request.
  common::Status Listen(const std::string& path);
  // Stops listening and removes the socket file. Idempotent.
  void Close();

  // Connections refused by the peer uid check so far.
  int refused() const { return refused_; }

 private:
  static void OnConnection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  Handler handler_;
  uv_pipe_t* server_ = nullptr;  // freed in its close callback
  std::string path_;
  int refused_ = 0;
};

// Client side: sends `request` to the supervisor listening on `path` and
// returns its response line. Unavailable when no supervisor listens there;
// IOError on a timeout.
common::Result<std::string> SendControlRequest(const std::string& path,
                                               std::string_view request,
                                               int timeout_ms);

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_CONTROL_SERVER_H_
