// Time formatting: one ISO 8601 form for logs and the HTTP API.
#ifndef DYNOGUARD_COMMON_TIME_FORMAT_H_
#define DYNOGUARD_COMMON_TIME_FORMAT_H_

#include <cstdint>
#include <string>

namespace dynoguard::common {

// `ms` since the epoch as UTC with milliseconds: "2026-12-01T08:08:18.042Z".
// Times before 1970 are floored (-1 ms is 1969-12-31T23:59:59.999Z). Pure.
std::string FormatIsoUtc(int64_t ms);

// The wall clock now in ms since the epoch.
int64_t WallClockMs();

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_TIME_FORMAT_H_
