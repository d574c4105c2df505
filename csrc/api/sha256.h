// SHA-256 (FIPS 180-4), for the digest that a checkpoint records of its tensor file.
#pragma once

#include <string>
#include <string_view>

namespace mtsnn::detail {

// The SHA-256 digest of data as 64 lowercase hex digits (Python's
// hashlib.sha256(data).hexdigest()).
std::string sha256_hex(std::string_view data);

}  // namespace mtsnn::detail
