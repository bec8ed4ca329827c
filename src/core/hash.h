// Content hashes used for ids and integrity checks.
#pragma once

#include <string>
#include <string_view>

namespace concierge {

// Lower-case hex SHA-256 of `bytes` (64 characters).
std::string Sha256Hex(std::string_view bytes);

}  // namespace concierge
