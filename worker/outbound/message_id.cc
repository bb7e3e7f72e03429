#include "worker/outbound/message_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "worker/crypto/digest.h"

namespace dynoguard::worker {

std::string FormatMessageId(int64_t now_ms,
                            const std::array<unsigned char, 6>& random) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "msg_";
  id.reserve(4 + 24);
  // 48 bits of milliseconds last until the year 10889; before 1970 is 0.
  const uint64_t ms = now_ms < 0 ? 0 : static_cast<uint64_t>(now_ms);
  for (int shift = 44; shift >= 0; shift -= 4) id += kHex[(ms >> shift) & 0xf];
  id += HexLower(random.data(), random.size());
  return id;
}

common::Result<std::string> NewMessageId(int64_t now_ms) {
  std::array<unsigned char, 6> bytes;
  size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return common::Status::Internal(std::string("message id: getrandom: ") +
                                      std::strerror(errno));
    }
    filled += static_cast<size_t>(n);
  }
  return FormatMessageId(now_ms, bytes);
}

}  // namespace dynoguard::worker
