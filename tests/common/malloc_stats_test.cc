#include "common/malloc_stats.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>

namespace dynoguard::common {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST_CASE("malloc stats: an 8 MB allocation shows in heap_used until freed",
          "[malloc_stats][rss]") {
  if (kSanitized) {
    WARN(
        "sanitizer build: malloc is replaced, mallinfo2 does not see its "
        "allocations");
    return;
  }
  constexpr size_t kSize = 8 * 1024 * 1024;
  const MallocStats before = ReadMallocStats();
  char* block = static_cast<char*>(std::malloc(kSize));
  REQUIRE(block != nullptr);
  std::memset(block, 0x5a, kSize);
  const MallocStats during = ReadMallocStats();
  // Keep the memset observable so the allocation is not optimised away.
  const char probe = block[kSize / 2];
  std::free(block);
  const MallocStats after = ReadMallocStats();

  CHECK(probe == 0x5a);
  CHECK(during.heap_used >= before.heap_used + kSize);
  CHECK(during.heap_total >= during.heap_used);
  CHECK(during.heap_total >= before.heap_total + kSize);
  CHECK(after.heap_used + kSize <= during.heap_used);
}

}  // namespace
}  // namespace dynoguard::common
