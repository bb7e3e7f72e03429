// Webhook signatures: Meta signs every POST /webhook body with the app secret,
// "X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>". Checked on
// the raw bytes, in constant time, before any parsing.
#ifndef DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_SIGNATURE_H_
#define DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_SIGNATURE_H_

#include <string>
#include <string_view>

namespace dynoguard::worker {

// The outcome of one check; each failure is its own value so the HTTP layer
// can answer 401 (missing) or 403 (malformed, mismatch) and count them.
enum class SignatureCheck {
  kValid,      // the HMAC matches
  kMissing,    // no header, or an empty one
  kMalformed,  // not "sha256=" followed by 64 hex digits
  kMismatch,   // well-formed but not the HMAC of this body with this secret
};

// "valid", "missing", "malformed", "mismatch".
std::string_view ToString(SignatureCheck check);

// Checks `header` (the X-Hub-Signature-256 value, empty when absent) against
// HMAC-SHA256(`app_secret`, `body`). The "sha256=" prefix is matched exactly
// (lowercase); the hex digits may be upper- or lowercase. Surrounding spaces
// or tabs in the header are ignored. The comparison of the digests takes the
// same time whatever bytes differ (CRYPTO_memcmp). An empty `app_secret`
// never validates (kMismatch). Nothing here logs or returns the secret.
// Thread-safe.
SignatureCheck VerifyWebhookSignature(std::string_view app_secret,
                                      std::string_view body,
                                      std::string_view header);

// "sha256=" + lowercase hex HMAC-SHA256(`app_secret`, `body`): what Meta
// sends, and what dynoguard's own forwarding signs with. Thread-safe.
std::string WebhookSignature(std::string_view app_secret,
                             std::string_view body);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_INBOUND_CLOUD_WEBHOOK_SIGNATURE_H_
