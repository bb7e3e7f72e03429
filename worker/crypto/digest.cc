#include "worker/crypto/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace dynoguard::worker {
namespace {

// SHA-256 fetched once for the process (a function-local static: the first
// caller fetches, the others wait for it). Never freed: it lives as long as
// libcrypto, and freeing it at exit would only race with threads still
// hashing. Should the fetch fail (out of memory), EVP_sha256() still works,
// at the cost of the implicit fetch on every call.
const EVP_MD* Sha256Md() {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched != nullptr ? fetched : EVP_sha256();
}

}  // namespace

void PrefetchSha256() { (void)Sha256Md(); }

std::optional<Sha256Digest> Sha256(std::string_view data) {
  Sha256Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, Sha256Md(),
                 nullptr) != 1 ||
      length != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

std::string Sha256Hex(std::string_view data) {
  std::optional<Sha256Digest> digest = Sha256(data);
  return digest ? HexLower(*digest) : std::string();
}

std::optional<Sha256Digest> HmacSha256(std::string_view key,
                                       std::string_view body) {
  Sha256Digest digest{};
  unsigned int length = 0;
  // A zero-length key or body is legal for HMAC, but OpenSSL wants non-null
  // pointers (an empty string_view may hold nullptr).
  static const unsigned char kEmpty = 0;
  const void* key_data =
      key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  const unsigned char* body_data =
      body.empty() ? &kEmpty
                   : reinterpret_cast<const unsigned char*>(body.data());
  if (HMAC(Sha256Md(), key_data, static_cast<int>(key.size()), body_data,
           body.size(), digest.data(), &length) == nullptr ||
      length != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

std::string HexLower(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * size, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

std::string HexLower(const Sha256Digest& digest) {
  return HexLower(digest.data(), digest.size());
}

}  // namespace dynoguard::worker
