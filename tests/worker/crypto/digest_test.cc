#include "worker/crypto/digest.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace dynoguard::worker {
namespace {

std::string HmacHex(std::string_view key, std::string_view body) {
  std::optional<Sha256Digest> digest = HmacSha256(key, body);
  REQUIRE(digest);
  return HexLower(*digest);
}

TEST_CASE("Sha256 matches the FIPS 180-2 vectors", "[digest]") {
  CHECK(Sha256Hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex(std::string_view()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("Sha256 returns the bytes Sha256Hex spells", "[digest]") {
  std::optional<Sha256Digest> digest = Sha256("abc");
  REQUIRE(digest);
  CHECK((*digest)[0] == 0xba);
  CHECK((*digest)[31] == 0xad);
  CHECK(HexLower(*digest) == Sha256Hex("abc"));
}

TEST_CASE("HmacSha256 matches RFC 4231 test cases 1 and 2", "[digest]") {
  CHECK(HmacHex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(HmacHex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("HmacSha256 takes an empty key and an empty body", "[digest]") {
  CHECK(HmacHex("", "") ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(HmacHex(std::string_view(), std::string_view()) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(HmacHex("", "The quick brown fox jumps over the lazy dog") ==
        "fb011e6154a19b9a4c767373c305275a5a69e8b68b0b4c9200c383dced19a416");
}

TEST_CASE("HexLower writes two lowercase digits a byte", "[digest]") {
  const unsigned char bytes[] = {0x00, 0x09, 0x0a, 0x7f, 0xab, 0xf0, 0xff};
  CHECK(HexLower(bytes, sizeof bytes) == "00090a7fabf0ff");
  CHECK(HexLower(bytes, 0).empty());
  CHECK(HexLower(nullptr, 0).empty());
}

TEST_CASE("Sha256 and HmacSha256 give the same results on many threads",
          "[digest]") {
  const std::string input(100000, 'x');
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  std::vector<std::string> sha(kThreads);
  std::vector<std::string> hmac(kThreads);
  std::vector<int> same(kThreads, 0);  // not vector<bool>: one word each
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        bool ok = true;
        sha[t] = Sha256Hex(input);
        std::optional<Sha256Digest> first = HmacSha256("Jefe", input);
        if (first) hmac[t] = HexLower(*first);
        for (int i = 0; i < kRounds; ++i) {
          ok = ok && Sha256Hex(input) == sha[t];
          std::optional<Sha256Digest> again = HmacSha256("Jefe", input);
          ok = ok && again && HexLower(*again) == hmac[t];
        }
        same[t] = ok ? 1 : 0;
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(same[t] == 1);
    CHECK(sha[t] ==
          "d69e68988157833272305aaf21f453c800346e8a3640db6578e260215542e5d4");
    CHECK(hmac[t] ==
          "bb094d5a134b60f52b7f98d50f77783d91b45373fde6fa3695c5f8f1c757a1be");
  }
}

}  // namespace
}  // namespace dynoguard::worker
