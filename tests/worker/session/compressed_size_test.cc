// CompressedSize measures what a snapshot payload of the text would be:
// exactly, once finished; never more than that before.
#include "worker/session/compressed_size.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "worker/session/snapshot_base64.h"
#include "worker/session/snapshot_codec.h"

namespace dynoguard::worker {
namespace {

uint64_t PayloadBytes(const std::string& text) {
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::string out(size, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                    reinterpret_cast<const Bytef*>(text.data()),
                    static_cast<uLong>(text.size()),
                    kSnapshotCompressionLevel) == Z_OK);
  out.resize(size);
  return Base64Encode(out).size();
}

std::string Text(size_t pieces, bool random) {
  std::mt19937 rng(7);
  std::string text;
  for (size_t i = 0; i < pieces; ++i) {
    text += "{\"id\":\"msg_";
    for (int j = 0; j < 24; ++j) {
      text += "0123456789abcdef"[random ? rng() % 16 : (i + j) % 16];
    }
    text +=
        "\",\"to\":\"1555" + std::to_string(i) + "\",\"status\":\"queued\"},";
  }
  return text;
}

TEST_CASE("compressed size: finished, it is the payload's size exactly",
          "[session][compressed-size]") {
  for (bool random : {false, true}) {
    for (size_t pieces : {0, 1, 50, 5000}) {
      const std::string text = Text(pieces, random);
      CompressedSize size;
      // Fed in uneven pieces, as messages come.
      for (size_t at = 0; at < text.size(); at += 97) {
        size.Add(std::string_view(text).substr(at, 97));
      }
      size.Finish();
      INFO("random " << random << ", pieces " << pieces);
      CHECK(size.encoded_bytes() == PayloadBytes(text));
    }
  }
}

TEST_CASE("compressed size: before Finish it is a lower bound that grows",
          "[session][compressed-size]") {
  const std::string text = Text(20000, /*random=*/true);
  CompressedSize size;
  uint64_t last = 0;
  for (size_t at = 0; at < text.size(); at += 4096) {
    size.Add(std::string_view(text).substr(at, 4096));
    CHECK(size.encoded_bytes() >= last);
    last = size.encoded_bytes();
  }
  const uint64_t exact = PayloadBytes(text);
  CHECK(last <= exact);
  CHECK(last > 0);  // output came before the end: the probe can stop early
  size.Finish();
  CHECK(size.encoded_bytes() == exact);
  size.Add("more");  // ignored once finished
  CHECK(size.encoded_bytes() == exact);
}

}  // namespace
}  // namespace dynoguard::worker
