// SHA-256 and HMAC-SHA256 for the worker: the snapshot checksum, the queue's
// request hashes, event ids, API-key comparison and webhook signatures.
// OpenSSL 3's one-shot SHA256(), like EVP_Digest with EVP_sha256(), fetches
// the algorithm through the provider machinery on every call, touching about
// twice the libcrypto pages (~1.4 MB against ~0.7 MB) of a digest with an
// EVP_MD fetched once; the idle worker hashes its session every autosave, so
// here the EVP_MD is fetched once and kept.
#ifndef DYNOGUARD_WORKER_CRYPTO_DIGEST_H_
#define DYNOGUARD_WORKER_CRYPTO_DIGEST_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<unsigned char, kSha256Bytes>;

// The SHA-256 of `data`; nullopt only if OpenSSL fails (out of memory).
// Thread-safe.
std::optional<Sha256Digest> Sha256(std::string_view data);

// Fetches SHA-256 now rather than at the first hash: the worker calls it
// before it releases the pages its start touched
// (worker/memory/unused_library_pages.h), so the fetch's pages are not mapped
// back by the first autosave. Thread-safe.
void PrefetchSha256();

// The lowercase hex SHA-256 of `data` (64 digits); "" only if OpenSSL fails
// (out of memory). Thread-safe.
std::string Sha256Hex(std::string_view data);

// HMAC-SHA256(`key`, `body`); either may be empty. nullopt only if OpenSSL
// fails (out of memory). Thread-safe.
std::optional<Sha256Digest> HmacSha256(std::string_view key,
                                       std::string_view body);

// `size` bytes from `bytes` as lowercase hex, two digits a byte. Pure.
// REQUIRES: `bytes` points to `size` readable bytes (or `size` is 0).
std::string HexLower(const unsigned char* bytes, size_t size);

// The whole digest as lowercase hex (64 digits). Pure.
std::string HexLower(const Sha256Digest& digest);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_CRYPTO_DIGEST_H_
