// Small socket helpers for process tests: find a free port, check that a
// connect succeeds, open a blocking client socket, send one line and read one
// line back (the test worker's protocol), and receive sd_notify datagrams as
// a supervisor would.
#ifndef DYNOGUARD_TESTS_SUPPORT_NET_H_
#define DYNOGUARD_TESTS_SUPPORT_NET_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::testing {

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read back,
// closed). Aborts when no socket can be bound.
int FreePort();

// True when a TCP connect to 127.0.0.1:`port` succeeds within `timeout`
// (the connection is closed at once).
bool Connect(int port, std::chrono::milliseconds timeout =
                           std::chrono::milliseconds(2000));

// A blocking TCP socket connected to 127.0.0.1:`port` whose receives time
// out after `read_timeout`. `rcvbuf` > 0 sets its receive buffer before the
// connect, so the window stays small and a test reads an answer at its own
// pace. Aborts (with a line on stderr) when the connect fails: the tests
// call it for a server they started.
common::UniqueFd ConnectLoopback(int port,
                                 std::chrono::milliseconds read_timeout,
                                 int rcvbuf = 0);

// Sends all of `data` on the blocking socket `fd` (MSG_NOSIGNAL); false once
// a send fails (the peer closed or reset the connection).
bool SendAll(int fd, std::string_view data);

// Connects to 127.0.0.1:`port`, sends `line` + "\n" and returns the first
// line of the answer without its newline (the text before EOF when the peer
// closes without one). Fails with Unavailable when the connect is refused,
// the peer closes without answering or `timeout` (for the whole exchange)
// passes; IOError for other socket errors. Thread-safe.
common::Result<std::string> LineRequest(int port, std::string_view line,
                                        std::chrono::milliseconds timeout);

// A unix datagram socket bound to `path`, to be given to a process as its
// NOTIFY_SOCKET; receives time out after `timeout`. Aborts on failure.
common::UniqueFd NotifySocket(
    const std::string& path,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// The next datagram on `fd`; empty when the receive timed out.
std::string ReceiveDatagram(int fd);

// Receives datagrams on `fd`, appending each to `seen`, until one contains
// `wanted` (true) or a receive times out or 200 arrived without it (false).
bool ReceiveDatagramUntil(int fd, std::string_view wanted,
                          std::vector<std::string>& seen);

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_NET_H_
