// The HTTP listening socket: the supervisor owns one and hands it to each
// worker as fd 3 (connections wait in the kernel backlog while a worker is
// replaced); a worker started alone binds its own the same way. Never
// SO_REUSEPORT: a second program on the port must fail, not share it.
#ifndef DYNOGUARD_COMMON_LISTEN_SOCKET_H_
#define DYNOGUARD_COMMON_LISTEN_SOCKET_H_

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::common {

// Binds and listens on host:port (IPv4 or IPv6 literal or name; SO_REUSEADDR;
// backlog 1024; close-on-exec: SpawnChild dup2s it to fd 3). Errors name the
// address, e.g. "bind 0.0.0.0:8080: Address already in use".
Result<UniqueFd> OpenListenSocket(const std::string& host, int port);

// "host:port" the socket is bound to (the real port when 0 was asked), or "?".
std::string BoundAddress(int fd);

// The port the socket is bound to, or -1 when it cannot be read.
int BoundPort(int fd);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_LISTEN_SOCKET_H_
