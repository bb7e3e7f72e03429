// Body limits per route (SPEC §5 MAX_BODY_BYTES). Every route takes at most
// MAX_BODY_BYTES (16 KiB by default) except POST /api/messages, which takes up
// to kMessageBodyBytes (or MAX_BODY_BYTES when that is larger): the largest
// valid message must fit, and a 4,096-character text written as \uXXXX
// escapes is 24 KiB (48 KiB in surrogate pairs). The text itself is checked
// against 4,096 characters after decoding (worker/outbound/message_request.h).
// POST /webhook takes up to kWebhookBodyBytes (or MAX_BODY_BYTES when that is
// larger): Meta batches many events in one body. Pure.
#ifndef DYNOGUARD_WORKER_HTTP_BODY_LIMIT_H_
#define DYNOGUARD_WORKER_HTTP_BODY_LIMIT_H_

#include <cstdint>
#include <string_view>

namespace dynoguard::worker {

// Fits any valid text message: 4,096 characters of 12-byte surrogate-pair
// escapes (48 KiB), replyTo and idempotencyKey escaped (4.5 KiB), the rest.
inline constexpr uint64_t kMessageBodyBytes = 64 * 1024;

// Meta's batched webhook deliveries (POST /webhook): "Webhooks payloads can
// be up to 3MB" (Meta's Cloud API webhooks overview); 3 MiB takes any of
// them. A larger bound than the other routes', read before the signature
// can be checked: see docs/http-api.md "Webhook" for what it costs.
inline constexpr uint64_t kWebhookBodyBytes = 3 * 1024 * 1024;

// The most bytes a body of `method` `path` may have. `path` is the request
// target without its query. `max_body_bytes` is MAX_BODY_BYTES.
uint64_t BodyLimitFor(uint64_t max_body_bytes, std::string_view method,
                      std::string_view path);

// The largest BodyLimitFor over every route: what the server may read before
// it knows the route's own limit.
uint64_t LargestBodyLimit(uint64_t max_body_bytes);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_BODY_LIMIT_H_
