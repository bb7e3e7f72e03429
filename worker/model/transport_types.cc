#include "worker/model/transport_types.h"

namespace dynoguard::worker {

std::string_view ToString(ConnectionState state) {
  switch (state) {
    case ConnectionState::kStarting:
      return "starting";
    case ConnectionState::kRestoring:
      return "restoring";
    case ConnectionState::kConnected:
      return "connected";
    case ConnectionState::kReconnecting:
      return "reconnecting";
    case ConnectionState::kDisconnected:
      return "disconnected";
  }
  return "?";
}

}  // namespace dynoguard::worker
