#pragma once

// Frames to typed messages and back. Parsing never throws and never
// trusts its input (see json_read.hpp for the limits); serialization
// writes compact JSON, and parsing what was serialized gives back an
// equal message.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/json_read.hpp"
#include "protocol/message.hpp"
#include "protocol/parsed.hpp"

namespace scopehub::protocol {

/// Parses a client-to-server frame (control_command, subscribe,
/// unsubscribe, heartbeat), validating it against the schemas and filling
/// in defaults. Errors carry the frame's id as ref_id whenever the id
/// member is a string.
parsed<client_message> parse_client_message(const uint8_t* data, size_t n,
                                            const parse_options& opts = {});

/// Convenience overload of parse_client_message for text.
parsed<client_message> parse_client_message(std::string_view text,
                                            const parse_options& opts = {});

/// Parses the JSON body of an HTTP command, `{"id"?, "action",
/// "parameters"?, "response_expected"?, "timeout_ms"?}`, with the same
/// rules and error codes as a control_command frame; field paths in
/// messages have no "payload." prefix.
parsed<http_command> parse_http_command(const uint8_t* data, size_t n,
                                        const parse_options& opts = {});

/// Convenience overload of parse_http_command for text.
parsed<http_command> parse_http_command(std::string_view text,
                                        const parse_options& opts = {});

/// Parses a server-to-client frame (status_update, telescope_discovered,
/// telescope_lost, command_response, command_progress, heartbeat, error),
/// as the client library does. `timestamp` is required here.
parsed<server_message> parse_server_message(const uint8_t* data, size_t n,
                                            const parse_options& opts = {});

/// Convenience overload of parse_server_message for text.
parsed<server_message> parse_server_message(std::string_view text,
                                            const parse_options& opts = {});

/// Compact JSON of a client message (used by the client library).
std::string serialize(const client_message& x);

/// Compact JSON of a server message.
std::string serialize(const server_message& x);

} // namespace scopehub::protocol
