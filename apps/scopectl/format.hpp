#pragma once

// scopectl's human output: aligned columns, field units, and the exit
// code of each outcome (the table is in scopectl.cpp's --help).

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "net/ws_client.hpp"

namespace scopehub::scopectl {

/// Exit codes by error class.
enum exit_code : int {
  exit_ok = 0,
  exit_failed = 1,    // DEVICE_ERROR, INTERNAL, anything else
  exit_usage = 2,     // bad command line
  exit_connect = 3,   // server unreachable, gave up reconnecting
  exit_timeout = 4,   // local deadline or COMMAND_TIMEOUT
  exit_invalid = 5,   // INVALID_PARAMETERS, UNKNOWN_ACTION, INVALID_MESSAGE,
                      // MISSING_TELESCOPE_ID, INVALID_JSON
  exit_not_found = 6, // TELESCOPE_NOT_FOUND, TELESCOPE_UNAVAILABLE
  exit_conflict = 7,  // TELESCOPE_BUSY, CONTROL_HELD, RATE_LIMITED, OVERLOADED
  exit_denied = 8,    // UNAUTHORIZED, FORBIDDEN
  exit_cancelled = 9, // COMMAND_CANCELLED, interrupted
};

/// Exit code of a command's outcome.
int exit_code_of(const net::command_result& r);

/// Text of a field value with its unit, e.g. "12.5000 h", "85 %".
std::string with_unit(std::string_view field, const rapidjson::Value& v);

/// Compact text of a JSON value (strings without quotes).
std::string plain(const rapidjson::Value& v);

/// Rows printed with every column padded to its widest cell.
std::string aligned(const std::vector<std::vector<std::string>>& rows);

/// "  field   value unit" lines of a status object, fields sorted in the
/// protocol's order first.
std::string field_lines(const rapidjson::Value& status);

} // namespace scopehub::scopectl
