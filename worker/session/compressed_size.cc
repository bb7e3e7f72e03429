#include "worker/session/compressed_size.h"

#include <algorithm>
#include <array>

#include "worker/session/snapshot_codec.h"

namespace dynoguard::worker {

namespace {
// Where zlib writes the output that is only counted.
constexpr size_t kScratchBytes = 16 * 1024;
}  // namespace

CompressedSize::CompressedSize() {
  ok_ = deflateInit(&z_, kSnapshotCompressionLevel) == Z_OK;
}

CompressedSize::~CompressedSize() {
  if (ok_) deflateEnd(&z_);
}

void CompressedSize::Drain(int flush) {
  std::array<Bytef, kScratchBytes> scratch;
  while (true) {
    z_.next_out = scratch.data();
    z_.avail_out = static_cast<uInt>(scratch.size());
    const int rc = deflate(&z_, flush);
    compressed_ += scratch.size() - z_.avail_out;
    if (rc == Z_STREAM_ERROR) {
      ok_ = false;
      return;
    }
    // Done once zlib left room (it has nothing more to give for this call)
    // and, when finishing, once the stream ended.
    if (flush == Z_FINISH ? rc == Z_STREAM_END : z_.avail_out != 0) return;
  }
}

void CompressedSize::Add(std::string_view bytes) {
  if (!ok_ || finished_) return;
  // zlib's lengths are 32-bit: feed large text in pieces.
  while (!bytes.empty() && ok_) {
    const size_t piece = std::min<size_t>(bytes.size(), 1u << 30);
    z_.next_in =
        reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));  // read only
    z_.avail_in = static_cast<uInt>(piece);
    Drain(Z_NO_FLUSH);
    bytes.remove_prefix(piece);
  }
}

void CompressedSize::Finish() {
  if (!ok_ || finished_) return;
  finished_ = true;
  z_.next_in = nullptr;
  z_.avail_in = 0;
  Drain(Z_FINISH);
}

uint64_t CompressedSize::encoded_bytes() const {
  return (compressed_ + 2) / 3 * 4;
}

}  // namespace dynoguard::worker
