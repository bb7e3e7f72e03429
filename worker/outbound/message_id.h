// Message ids: "msg_" and 24 hex digits — the enqueue time (48 bits of
// milliseconds since the epoch) then 48 random bits. Ids of one moment land
// side by side in the queue's unique index on `id`, so an enqueue touches the
// index's newest page, not a random one: with fully random ids, every insert
// into a table of 300,000 messages dirtied (and checkpointed) a page of its
// own, 43 µs per row against 27 µs (bench/, docs/benchmarks.md). 48 random
// bits keep two ids of one millisecond apart (the insert retries in the
// 2^-48 case anyway).
#ifndef DYNOGUARD_WORKER_OUTBOUND_MESSAGE_ID_H_
#define DYNOGUARD_WORKER_OUTBOUND_MESSAGE_ID_H_

#include <array>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace dynoguard::worker {

// The id for `now_ms` with these random bytes. Ids of later milliseconds
// sort after earlier ones (as strings). Pure.
std::string FormatMessageId(int64_t now_ms,
                            const std::array<unsigned char, 6>& random);

// FormatMessageId with 48 bits from the kernel's CSPRNG (getrandom(2); it
// blocks only before the pool is first seeded at boot). Not OpenSSL's DRBG:
// its first use initialises ~1.6 MB of libcrypto the sandbox otherwise never
// touches. Internal when getrandom fails.
common::Result<std::string> NewMessageId(int64_t now_ms);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_OUTBOUND_MESSAGE_ID_H_
