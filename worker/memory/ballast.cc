#include "worker/memory/ballast.h"

#include <sys/mman.h>

namespace dynoguard::worker {

// Chunks come straight from mmap rather than malloc: whether a freed malloc
// block goes back to the kernel depends on glibc's thresholds, while munmap
// releases the pages at once, so the ballast moves RSS deterministically.

Ballast::~Ballast() { Release(); }

uint64_t Ballast::Grow(uint64_t megabytes, bool pinned) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<void*>& chunks = pinned ? pinned_ : chunks_;
  for (uint64_t i = 0; i < megabytes; ++i) {
    void* chunk = mmap(nullptr, kChunkBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Out of address space or memory: keep what we have; the caller sees the
    // smaller total.
    if (chunk == MAP_FAILED) break;
    // Anonymous pages are only backed once written; a non-zero byte per page
    // makes every page resident (zero-page merging cannot apply).
    auto* bytes = static_cast<unsigned char*>(chunk);
    for (uint64_t offset = 0; offset < kChunkBytes; offset += 4096) {
      bytes[offset] = 0xA5;
    }
    chunks.push_back(chunk);
  }
  return chunks_.size() + pinned_.size();
}

uint64_t Ballast::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t released = ReleaseChunksLocked(chunks_, chunks_.size()) +
                            ReleaseChunksLocked(pinned_, pinned_.size());
  return released / kChunkBytes;
}

uint64_t Ballast::megabytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return chunks_.size() + pinned_.size();
}

uint64_t Ballast::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return (chunks_.size() + pinned_.size()) * kChunkBytes;
}

uint64_t Ballast::Trim(CleanupLevel level) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t count = level == CleanupLevel::kEmergency
                           ? chunks_.size()
                           : (chunks_.size() + 1) / 2;
  return ReleaseChunksLocked(chunks_, count);
}

uint64_t Ballast::ReleaseChunksLocked(std::vector<void*>& chunks,
                                      size_t count) {
  uint64_t released = 0;
  for (size_t i = 0; i < count && !chunks.empty(); ++i) {
    munmap(chunks.back(), kChunkBytes);
    chunks.pop_back();
    released += kChunkBytes;
  }
  return released;
}

}  // namespace dynoguard::worker
