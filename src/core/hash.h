// Content hashes used for ids and integrity checks.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace concierge {

// Lower-case hex SHA-256 of `bytes` (64 characters).
std::string Sha256Hex(std::string_view bytes);

// The same of a file's contents, read in small blocks (model files are tens
// of MB; reading them whole would leave the heap that much larger).
// kIoError if it cannot be read.
Result<std::string> Sha256HexOfFile(const std::string& path);

}  // namespace concierge
