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

namespace {

void WriteSeed(const std::string& dir, const std::string& name,
               const dynoguard::worker::SessionState& state,
               const dynoguard::worker::SnapshotKey* key) {
  auto doc = dynoguard::worker::EncodeSnapshot(state, key);
  if (!doc.ok()) std::abort();
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(doc->data(), 1, doc->size(), f);
  std::fclose(f);
}

}  // namespace

// With SNAPSHOT_FUZZ_WRITE_SEEDS=DIR, writes the seed corpus first: valid
// documents, plaintext and encrypted with the fuzz key, and a state's raw
// JSON (scripts/fuzz.sh).
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* dir = std::getenv("SNAPSHOT_FUZZ_WRITE_SEEDS");
  if (dir == nullptr) return 0;
  using dynoguard::worker::SessionState;
  namespace t = dynoguard::worker::testing;
  SessionState small;
  small.name = "n";
  small.sequence = 1;
  small.pending.push_back(
      t::SampleMessage(1, dynoguard::worker::MessageStatus::kQueued));
  small.seen.push_back({"k", 5});
  small.counters["c"] = 1;
  WriteSeed(dir, "empty-plain", SessionState{}, nullptr);
  WriteSeed(dir, "empty-key", SessionState{}, &t::FuzzKey());
  WriteSeed(dir, "small-plain", small, nullptr);
  WriteSeed(dir, "small-key", small, &t::FuzzKey());
  WriteSeed(dir, "rich-plain", t::RichState(), nullptr);
  WriteSeed(dir, "rich-key", t::RichState(), &t::FuzzKey());
  // The payload's raw JSON, for SessionStateFromJson.
  const std::string raw = dynoguard::worker::SessionStateToJson(t::RichState());
  std::FILE* f = std::fopen((std::string(dir) + "/rich-raw").c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(raw.data(), 1, raw.size(), f);
  std::fclose(f);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = dynoguard::worker::testing::SnapshotDecodeOne(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "snapshot_decode_fuzz: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
