#include "worker/session/session_key.h"

#include <catch2/catch.hpp>
#include <string>

#include "worker/session/snapshot_base64.h"

namespace dynoguard::worker {
namespace {

std::string Bytes0To31() {
  std::string s;
  for (int i = 0; i < 32; ++i) s += static_cast<char>(i * 7 + 200);
  return s;
}

void RequireKey(const common::Result<SnapshotKey>& key,
                const std::string& bytes) {
  REQUIRE(key.ok());
  REQUIRE(std::string(key->bytes.begin(), key->bytes.end()) == bytes);
}

void RequireRefused(const std::string& text, const std::string& got) {
  INFO(text);
  common::Result<SnapshotKey> key = ParseSnapshotKey(text);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == common::Status::Code::kInvalidArgument);
  CHECK(key.status().message() ==
        "SESSION_ENCRYPTION_KEY: expected 32 bytes as 64 hex digits or "
        "base64, got " +
            got);
  if (text.size() > 3) {
    CHECK(key.status().message().find(text) == std::string::npos);
  }
}

TEST_CASE("a key of 64 hex digits parses, either case", "[snapshot]") {
  const std::string bytes = Bytes0To31();
  std::string hex;
  for (unsigned char c : bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  RequireKey(ParseSnapshotKey(hex), bytes);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  RequireKey(ParseSnapshotKey(upper), bytes);
  RequireKey(ParseSnapshotKey("  " + hex + "\n"), bytes);
}

TEST_CASE("a key in base64 parses: both alphabets, padded or not",
          "[snapshot]") {
  const std::string bytes = Bytes0To31();
  const std::string standard = Base64Encode(bytes);
  REQUIRE(standard.size() == 44);
  REQUIRE(standard.back() == '=');
  REQUIRE(standard.find_first_of("+/") != std::string::npos);
  RequireKey(ParseSnapshotKey(standard), bytes);
  RequireKey(ParseSnapshotKey(standard.substr(0, 43)), bytes);
  std::string url = standard;
  for (char& c : url) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  RequireKey(ParseSnapshotKey(url), bytes);
  RequireKey(ParseSnapshotKey(url.substr(0, 43)), bytes);
  RequireKey(ParseSnapshotKey(standard + "\n"), bytes);
}

TEST_CASE("a key of another length is refused, naming its size only",
          "[snapshot]") {
  RequireRefused(std::string(62, 'a'), "31 bytes");
  RequireRefused(std::string(66, 'b'), "33 bytes");
  RequireRefused(std::string(128, '0'), "64 bytes");
  RequireRefused(Base64Encode(std::string(16, 'k')), "16 bytes");
  RequireRefused(Base64Encode(std::string(31, 'k')), "31 bytes");
  RequireRefused(Base64Encode(std::string(33, 'k')), "33 bytes");
  RequireRefused("", "0 bytes");
  RequireRefused("   ", "0 bytes");
}

TEST_CASE("a key that is neither hex nor base64 is refused", "[snapshot]") {
  RequireRefused("correct horse battery staple!",
                 "29 characters that are neither hex nor base64");
  RequireRefused(std::string(43, 'A') + "==",
                 "45 characters that are neither hex nor base64");
  // Both alphabets in one text.
  std::string mixed = Base64Encode(Bytes0To31());
  mixed[0] = '-';
  mixed[1] = '+';
  RequireRefused(mixed, "44 characters that are neither hex nor base64");
  // Not hex, but base64 of 48 bytes.
  RequireRefused("zz" + std::string(62, '0'), "48 bytes");
}

TEST_CASE("base64 decoding is strict", "[snapshot]") {
  CHECK(Base64Decode("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(Base64Decode("aGVsbG8") == std::nullopt);  // padding required
  CHECK(Base64Decode("aGVsbG8", false, true) ==
        std::optional<std::string>("hello"));
  CHECK(Base64Decode("aGVsbG9=") == std::nullopt);  // stray bits
  CHECK(Base64Decode("aGVs bG8=") == std::nullopt);
  CHECK(Base64Decode("aGVsbG8==") == std::nullopt);
  CHECK(Base64Decode("a===") == std::nullopt);
  CHECK(Base64Decode("=aGV") == std::nullopt);
  CHECK(Base64Decode("") == std::optional<std::string>(""));
  CHECK(Base64Decode("_-8=") == std::nullopt);  // URL-safe not allowed
  CHECK(Base64Decode("_-8=", true) == std::optional<std::string>("\xff\xef"));
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode(std::string("\0\xff", 2)) == "AP8=");
}

}  // namespace
}  // namespace dynoguard::worker
