#pragma once

// The JSON Schema files of protocol/schemas/, compiled into the library by
// cmake/EmbedGen.cmake.

#include <string_view>

namespace scopehub::protocol::schemas {

/// Bytes of the embedded schema file `file_name` (e.g. "envelope.json"),
/// or an empty view for an unknown name.
std::string_view embedded(std::string_view file_name);

} // namespace scopehub::protocol::schemas
