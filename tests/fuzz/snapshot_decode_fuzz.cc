// libFuzzer target for the session snapshot decoder (snapshot_codec.h):
// ReadSnapshotHeader, and DecodeSnapshot with and without a key, on any
// bytes. Built only with clang and -DDYNOGUARD_FUZZ=ON (libFuzzer, ASan,
// UBSan); tests/fuzz/README.md says how to build and run it, and
// scripts/fuzz.sh runs it for a while on a seed corpus of valid documents.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/snapshot_decode_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = dynoguard::worker::testing::SnapshotDecodeOne(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "snapshot_decode_fuzz: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
