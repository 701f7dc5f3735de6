#pragma once

// Telescope ids and the globs (`telescope_pattern`) that select them.

#include <string_view>

namespace scopehub::protocol {

/// Longest telescope id (and telescope_pattern) the protocol accepts.
inline constexpr size_t max_telescope_id_length = 64;

/// True if `id` matches [A-Za-z0-9._-]{1,64}.
bool valid_telescope_id(std::string_view id) noexcept;

/// True if `pattern` is 1..64 characters of [A-Za-z0-9._-*?].
bool valid_telescope_pattern(std::string_view pattern) noexcept;

/// Glob match over the whole of `text`: `*` matches any run of
/// characters (also none), `?` exactly one character, anything else
/// itself (case-sensitive). Runs in O(|pattern| * |text|) at worst.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

} // namespace scopehub::protocol
