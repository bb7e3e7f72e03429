// Byte sizes as people write them in environment variables: "65536",
// "64k", "64KB", "64KiB", "16M", "1.5MiB", "1G". Units are binary (k = 1024):
// memory limits and body sizes are counted that way everywhere else here.
#ifndef DYNOGUARD_COMMON_BYTE_SIZE_H_
#define DYNOGUARD_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynoguard::common {

// A non-negative number (integer, or decimal with a unit) with an optional
// unit: none or "B" (bytes), k/K/kB/KB/KiB, m/M/MB/MiB, g/G/GB/GiB, case
// insensitive, no space before the unit. The result is rounded down to whole
// bytes. Nullopt for anything else (empty, negative, a fraction of a byte
// without a unit, an unknown unit, overflow). Pure.
std::optional<uint64_t> ParseByteSize(std::string_view text);

// The shortest exact way to write `bytes` for messages: "64 MiB", "16 KiB",
// "256 B".
std::string FormatByteSize(uint64_t bytes);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_BYTE_SIZE_H_
