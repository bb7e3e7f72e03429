// The fuzz entry (tests/fuzz/snapshot_decode_entry.h) on a few thousand
// deterministic mutations of valid documents, in every build (also ASan):
// each one is refused with one clear line or decodes to a valid state.
#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/snapshot_decode_entry.h"
#include "tests/fuzz/snapshot_samples.h"
#include "worker/session/snapshot_base64.h"
#include "worker/session/snapshot_codec.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker {
namespace {

using testing::FuzzKey;
using testing::SnapshotDecodeOne;

SessionState SmallState() {
  SessionState s;
  s.name = "n";
  s.sequence = 3;
  s.saved_ms = 99;
  s.transport = "sandbox";
  s.pending.push_back(testing::SampleMessage(1, MessageStatus::kQueued));
  s.seen.push_back(SeenKey{"k", 5});
  s.counters["c"] = 1;
  return s;
}

std::string Encode(const SessionState& state, const SnapshotKey* key) {
  common::Result<std::string> doc = EncodeSnapshot(state, key);
  REQUIRE(doc.ok());
  return *doc;
}

// Counts what the entry made of each input; fails on a broken property.
struct Tally {
  int decoded = 0;
  int refused = 0;
  void Feed(const std::string& input) {
    const std::string broken = SnapshotDecodeOne(input);
    if (!broken.empty()) {
      INFO("input (" << input.size() << " bytes): " << input.substr(0, 300));
      FAIL(broken);
    }
    if (DecodeSnapshot(input, nullptr).ok() ||
        DecodeSnapshot(input, &FuzzKey()).ok()) {
      ++decoded;
    } else {
      ++refused;
    }
  }
};

std::string Write(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A plaintext document around `raw`, with a checksum that matches: the
// mutations then reach the state's own parser.
std::string PlainDocument(const std::string& raw, const SessionState& header) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(size, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
                    reinterpret_cast<const Bytef*>(raw.data()), raw.size(),
                    1) == Z_OK);
  compressed.resize(size);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
         digest);
  std::string hex;
  for (unsigned char c : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return "{\"format\":\"dynoguard-session\",\"version\":1,\"name\":\"" +
         header.name + "\",\"sequence\":" + std::to_string(header.sequence) +
         ",\"savedAt\":" + std::to_string(header.saved_ms) +
         ",\"encoding\":\"zlib\",\"rawBytes\":" + std::to_string(raw.size()) +
         ",\"checksum\":\"sha256:" + hex + "\",\"payload\":\"" +
         Base64Encode(compressed) + "\"}";
}

TEST_CASE("fuzz entry: the valid documents decode", "[snapshot]") {
  Tally tally;
  for (const SnapshotKey* key :
       {static_cast<const SnapshotKey*>(nullptr), &FuzzKey()}) {
    tally.Feed(Encode(SmallState(), key));
    tally.Feed(Encode(testing::RichState(), key));
    tally.Feed(Encode(SessionState{}, key));
  }
  CHECK(tally.decoded == 6);
}

TEST_CASE("fuzz entry: truncation at every length of a small document",
          "[snapshot]") {
  for (const SnapshotKey* key :
       {static_cast<const SnapshotKey*>(nullptr), &FuzzKey()}) {
    const std::string doc = Encode(SmallState(), key);
    Tally tally;
    for (size_t n = 0; n < doc.size(); ++n) tally.Feed(doc.substr(0, n));
    CHECK(tally.decoded == 0);
    CHECK(tally.refused == static_cast<int>(doc.size()));
  }
}

TEST_CASE("fuzz entry: bit flips and byte changes", "[snapshot]") {
  std::mt19937 rng(20261201);
  Tally tally;
  for (const SnapshotKey* key :
       {static_cast<const SnapshotKey*>(nullptr), &FuzzKey()}) {
    for (const std::string& doc :
         {Encode(SmallState(), key), Encode(testing::RichState(), key)}) {
      for (int i = 0; i < 600; ++i) {
        std::string mutated = doc;
        const int changes = 1 + static_cast<int>(rng() % 3);
        for (int c = 0; c < changes; ++c) {
          const size_t at = rng() % mutated.size();
          switch (rng() % 4) {
            case 0:  // a bit flip
              mutated[at] = static_cast<char>(mutated[at] ^ (1 << (rng() % 8)));
              break;
            case 1:  // a random byte
              mutated[at] = static_cast<char>(rng() & 0xff);
              break;
            case 2:  // a byte removed
              mutated.erase(at, 1);
              break;
            default:  // a byte doubled
              mutated.insert(at, 1, mutated[at]);
              break;
          }
          if (mutated.empty()) break;
        }
        tally.Feed(mutated);
      }
    }
  }
  INFO("decoded " << tally.decoded << ", refused " << tally.refused);
  CHECK(tally.refused > 0);
}

TEST_CASE("fuzz entry: header fields swapped, retyped, huge rawBytes",
          "[snapshot]") {
  const std::vector<std::string> values = {"null",
                                           "true",
                                           "false",
                                           "0",
                                           "-1",
                                           "1.5",
                                           "1e300",
                                           "\"\"",
                                           "\"x\"",
                                           "[]",
                                           "{}",
                                           "[1]",
                                           "2",
                                           "4294967296",
                                           "9223372036854775808",
                                           "18446744073709551615",
                                           "-9223372036854775808",
                                           "67108864",
                                           "67108865",
                                           "\"zlib\"",
                                           "\"zlib+aes-256-gcm\"",
                                           "\"AAAAAAAAAAAAAAAA\"",
                                           "\"sha256:\""};
  Tally tally;
  for (const SnapshotKey* key :
       {static_cast<const SnapshotKey*>(nullptr), &FuzzKey()}) {
    const std::string doc = Encode(SmallState(), key);
    rapidjson::Document original;
    original.Parse(doc.data(), doc.size());
    REQUIRE(original.IsObject());
    std::vector<std::string> keys;
    for (auto it = original.MemberBegin(); it != original.MemberEnd(); ++it) {
      keys.emplace_back(it->name.GetString());
    }
    // Every value of every field, and the field left out.
    for (const std::string& k : keys) {
      for (const std::string& v : values) {
        rapidjson::Document d;
        d.CopyFrom(original, d.GetAllocator());
        rapidjson::Document parsed(&d.GetAllocator());
        parsed.Parse(v.data(), v.size());
        REQUIRE_FALSE(parsed.HasParseError());
        d[k.c_str()].CopyFrom(parsed, d.GetAllocator());
        tally.Feed(Write(d));
      }
      rapidjson::Document d;
      d.CopyFrom(original, d.GetAllocator());
      d.RemoveMember(k.c_str());
      tally.Feed(Write(d));
    }
    // Every pair of fields swapped.
    for (size_t a = 0; a < keys.size(); ++a) {
      for (size_t b = a + 1; b < keys.size(); ++b) {
        rapidjson::Document d;
        d.CopyFrom(original, d.GetAllocator());
        d[keys[a].c_str()].Swap(d[keys[b].c_str()]);
        tally.Feed(Write(d));
      }
    }
    // The payload of the other encoding under this header.
    const std::string other =
        Encode(SmallState(), key == nullptr ? &FuzzKey() : nullptr);
    rapidjson::Document o;
    o.Parse(other.data(), other.size());
    rapidjson::Document d;
    d.CopyFrom(original, d.GetAllocator());
    d["payload"].CopyFrom(o["payload"], d.GetAllocator());
    tally.Feed(Write(d));
  }
  INFO("decoded " << tally.decoded << ", refused " << tally.refused);
  CHECK(tally.refused > 0);
}

TEST_CASE("fuzz entry: mutations of the state inside a valid envelope",
          "[snapshot]") {
  const SessionState state = testing::RichState();
  const std::string raw = SessionStateToJson(state);
  std::mt19937 rng(8);
  Tally tally;
  const std::vector<std::string> values = {"null",       "0",   "-1",   "\"\"",
                                           "[]",         "{}",  "true", "1.5",
                                           "2147483648", "[{}]"};
  for (int i = 0; i < 800; ++i) {
    std::string mutated = raw;
    const size_t at = rng() % mutated.size();
    switch (rng() % 4) {
      case 0:
        mutated[at] = static_cast<char>(mutated[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        mutated.resize(at);
        break;
      case 2: {
        // A value after a ':' replaced by another of any type.
        const size_t colon = mutated.find(':', at);
        if (colon == std::string::npos) break;
        const size_t end = mutated.find_first_of(",}", colon);
        if (end == std::string::npos) break;
        mutated.replace(colon + 1, end - colon - 1,
                        values[rng() % values.size()]);
        break;
      }
      default: {
        // A key renamed.
        const size_t quote = mutated.find("\":", at);
        if (quote == std::string::npos) break;
        mutated.insert(quote, "x");
        break;
      }
    }
    tally.Feed(PlainDocument(mutated, state));
    tally.Feed(mutated);  // the state's parser on its own
  }
  // Nesting far deeper than any state, in a valid envelope.
  tally.Feed(PlainDocument(std::string(200000, '['), state));
  tally.Feed(PlainDocument(
      "{\"name\":" + std::string(100000, '[') + std::string(100000, ']') + "}",
      state));
  INFO("decoded " << tally.decoded << ", refused " << tally.refused);
  CHECK(tally.refused > 0);
  CHECK(tally.decoded > 0);
}

}  // namespace
}  // namespace dynoguard::worker
