// The HTTP listening socket the supervisor owns and hands to each worker as fd
// 3, so connections wait in the kernel backlog while a worker is replaced
// instead of being refused.
#ifndef DYNOGUARD_SUPERVISOR_LISTEN_SOCKET_H_
#define DYNOGUARD_SUPERVISOR_LISTEN_SOCKET_H_

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::supervisor {

// Binds and listens on host:port (IPv4 or IPv6 literal or name; SO_REUSEADDR;
// backlog 1024; close-on-exec: SpawnChild dup2s it to fd 3). Errors name the
// address, e.g. "bind 0.0.0.0:8080: Address already in use".
common::Result<common::UniqueFd> OpenListenSocket(const std::string& host,
                                                  int port);

// "host:port" the socket is bound to (the real port when 0 was asked), or "?".
std::string BoundAddress(int fd);

// The port the socket is bound to, or -1 when it cannot be read.
int BoundPort(int fd);

}  // namespace dynoguard::supervisor

#endif  // DYNOGUARD_SUPERVISOR_LISTEN_SOCKET_H_
