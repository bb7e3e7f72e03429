// PercentDecode: a URL component's %XX escapes decoded (the password of a
// DATABASE_URL or MONGODB_URI, which must never appear in a message as
// written or decoded). Pure.
#ifndef DYNOGUARD_COMMON_PERCENT_DECODE_H_
#define DYNOGUARD_COMMON_PERCENT_DECODE_H_

#include <string>
#include <string_view>

namespace dynoguard::common {

// `text` with every %XX (hex, either case) replaced by its byte; a malformed
// escape ("%4", "%zz") is kept as written.
std::string PercentDecode(std::string_view text);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_PERCENT_DECODE_H_
