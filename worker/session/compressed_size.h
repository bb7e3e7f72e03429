// CompressedSize: how large text would be as a snapshot's payload — zlib at
// the snapshot's level, then base64 — measured without keeping the output.
// The pending-size check (session_collector.h) feeds it the pending
// messages' JSON one at a time, so it knows that they alone overflow
// SESSION_MAX_BYTES without ever holding the queue in memory.
#ifndef DYNOGUARD_WORKER_SESSION_COMPRESSED_SIZE_H_
#define DYNOGUARD_WORKER_SESSION_COMPRESSED_SIZE_H_

#include <zlib.h>

#include <cstdint>
#include <string_view>

namespace dynoguard::worker {

class CompressedSize {
 public:
  CompressedSize();
  ~CompressedSize();
  CompressedSize(const CompressedSize&) = delete;
  CompressedSize& operator=(const CompressedSize&) = delete;

  // Compresses `bytes` after what came before (one stream, as the payload
  // is). No-op after Finish.
  void Add(std::string_view bytes);
  // Ends the stream: encoded_bytes() is then exact.
  void Finish();

  // The base64 length of the compressed bytes produced so far. Before
  // Finish it may lag the text added (zlib holds back up to a block), so it
  // only ever grows towards the exact figure: a lower bound.
  uint64_t encoded_bytes() const;

 private:
  void Drain(int flush);

  z_stream z_{};
  bool ok_ = false;
  bool finished_ = false;
  uint64_t compressed_ = 0;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_COMPRESSED_SIZE_H_
