// UTF-8 validity, strict (RFC 3629): what every text the programs store or
// forward must be.
#ifndef DYNOGUARD_COMMON_UTF8_H_
#define DYNOGUARD_COMMON_UTF8_H_

#include <string_view>

namespace dynoguard::common {

// True when `text` is well-formed UTF-8: no stray continuation bytes, no
// truncated sequences, no overlong forms, no surrogates (U+D800–U+DFFF, e.g.
// a JSON "\udc00" decoded as ED B0 80), nothing above U+10FFFF. NUL is valid.
// Pure.
bool IsValidUtf8(std::string_view text);

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_UTF8_H_
