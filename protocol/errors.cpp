#include "protocol/errors.hpp"

#include <array>

namespace scopehub::protocol {

namespace {

struct error_row {
  error_code code;
  std::string_view name;
  uint16_t http;
};

// The one table of error codes: wire name and HTTP status.
constexpr std::array<error_row, error_code_count> error_table{{
  {error_code::invalid_json, "INVALID_JSON", 400},
  {error_code::invalid_message, "INVALID_MESSAGE", 400},
  {error_code::unknown_type, "UNKNOWN_TYPE", 400},
  {error_code::unsupported_frame, "UNSUPPORTED_FRAME", 400},
  {error_code::missing_telescope_id, "MISSING_TELESCOPE_ID", 400},
  {error_code::telescope_not_found, "TELESCOPE_NOT_FOUND", 404},
  {error_code::telescope_unavailable, "TELESCOPE_UNAVAILABLE", 503},
  {error_code::telescope_busy, "TELESCOPE_BUSY", 409},
  {error_code::unknown_action, "UNKNOWN_ACTION", 400},
  {error_code::invalid_parameters, "INVALID_PARAMETERS", 400},
  {error_code::command_timeout, "COMMAND_TIMEOUT", 504},
  {error_code::command_cancelled, "COMMAND_CANCELLED", 409},
  {error_code::control_held, "CONTROL_HELD", 409},
  {error_code::unauthorized, "UNAUTHORIZED", 401},
  {error_code::forbidden, "FORBIDDEN", 403},
  {error_code::rate_limited, "RATE_LIMITED", 429},
  {error_code::overloaded, "OVERLOADED", 503},
  {error_code::internal, "INTERNAL", 500},
  {error_code::device_error, "DEVICE_ERROR", 502},
}};

} // namespace

std::string_view to_string(error_code x) noexcept {
  return error_table[static_cast<size_t>(x)].name;
}

std::optional<error_code> error_code_from_string(std::string_view s) noexcept {
  for (const auto& row : error_table)
    if (row.name == s) return row.code;
  return std::nullopt;
}

uint16_t http_status(error_code x) noexcept {
  return error_table[static_cast<size_t>(x)].http;
}

std::string_view to_string(close_code x) noexcept {
  switch (x) {
    case close_code::normal: return "normal";
    case close_code::going_away: return "server shutting down";
    case close_code::policy: return "policy violation";
    case close_code::too_big: return "message too big";
    case close_code::try_again_later: return "too many connections";
    case close_code::heartbeat_timeout: return "heartbeat timeout";
    case close_code::slow_consumer: return "slow consumer";
  }
  return "unknown";
}

} // namespace scopehub::protocol
