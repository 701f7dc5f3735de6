#pragma once

// Error codes and close codes of the client protocol (docs/protocol.md),
// each with its wire name in one table (errors.cpp).

#include <cstdint>
#include <optional>
#include <string_view>

namespace scopehub::protocol {

/// Every `error_code` a client can see, in `error` frames and in failed
/// `command_response` payloads.
enum class error_code : uint8_t {
  invalid_json,
  invalid_message,
  unknown_type,
  unsupported_frame,
  missing_telescope_id,
  telescope_not_found,
  telescope_unavailable,
  telescope_busy,
  unknown_action,
  invalid_parameters,
  command_timeout,
  command_cancelled,
  control_held,
  unauthorized,
  forbidden,
  rate_limited,
  overloaded,
  internal,
  device_error, // the telescope refused; the message carries its text
};

/// Number of error codes (for tables and exhaustive tests).
inline constexpr size_t error_code_count = 19;

/// Wire name, e.g. "INVALID_JSON".
std::string_view to_string(error_code x) noexcept;

/// Inverse of to_string; nullopt for an unknown name.
std::optional<error_code> error_code_from_string(std::string_view s) noexcept;

/// HTTP status used when the error travels over the HTTP fallback.
uint16_t http_status(error_code x) noexcept;

/// WebSocket close codes scopehub uses.
enum class close_code : uint16_t {
  normal = 1000,
  going_away = 1001,
  policy = 1008,
  too_big = 1009,
  try_again_later = 1013,
  heartbeat_timeout = 4001,
  slow_consumer = 4002,
};

/// Reason text sent in the close frame, e.g. "heartbeat timeout".
std::string_view to_string(close_code x) noexcept;

} // namespace scopehub::protocol
