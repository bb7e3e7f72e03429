// Base64 for the session snapshot: the payload (standard alphabet, padded)
// and SESSION_ENCRYPTION_KEY (standard or URL-safe alphabet, padded or not).
// OpenSSL does the conversion; the checks around it are ours, because
// EVP_DecodeBlock skips whitespace and pads with zero bytes.
#ifndef DYNOGUARD_WORKER_SESSION_SNAPSHOT_BASE64_H_
#define DYNOGUARD_WORKER_SESSION_SNAPSHOT_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::worker {

// Standard base64 (RFC 4648 §4) with '=' padding, no line breaks. Pure,
// thread-safe.
std::string Base64Encode(std::string_view bytes);

// Decodes `text` (no whitespace): the standard alphabet, and when
// `url_safe_too` also RFC 4648 §5 ('-' and '_'; one alphabet per text); '='
// padding required unless `padding_optional`. nullopt for anything else: a
// character outside the alphabet, a '=' before the end, a length that no
// encoding has (4n+1), non-zero bits in the last character. Pure,
// thread-safe.
std::optional<std::string> Base64Decode(std::string_view text,
                                        bool url_safe_too = false,
                                        bool padding_optional = false);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_SNAPSHOT_BASE64_H_
