#pragma once

// Validation against the JSON Schemas of protocol/schemas/ (RapidJSON's
// draft-04 validator). Each schema is compiled once, on first use, and
// shared read-only between threads; each check runs its own validator.

#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "protocol/actions.hpp"
#include "protocol/parsed.hpp"

namespace scopehub::protocol {

/// Checks `x` against the schema `name`, which is "envelope" or
/// "<file>/<key>" for a member of client_payloads.json ("client/..."),
/// server_payloads.json ("server/...") or parameters.json
/// ("parameters/<action>"). On failure returns an error with `code` and a
/// message naming the field under `path`, e.g.
/// "payload.parameters.dec: must be <= 90". An unknown schema name is an
/// INTERNAL error.
std::optional<protocol_error> check_schema(std::string_view name,
                                           const rapidjson::Value& x,
                                           std::string_view path,
                                           error_code code);

/// Checks the parameters of `a` (a JSON object; for `batch`, also every
/// step: known action (else UNKNOWN_ACTION), not itself a batch, valid
/// parameters). Usable for WebSocket commands, HTTP commands and batch
/// steps. `path` names `params` in messages. Errors are
/// INVALID_PARAMETERS or UNKNOWN_ACTION, without ref_id.
std::optional<protocol_error>
validate_parameters(action a, const rapidjson::Value& params,
                    std::string_view path = "parameters");

/// validate_parameters, then fills in the schema's defaults for absent
/// parameters (for `batch`, in every step, adding an empty `parameters`
/// object where a step has none).
std::optional<protocol_error>
normalize_parameters(action a, rapidjson::Value& params,
                     rapidjson::Document::AllocatorType& alloc,
                     std::string_view path = "parameters");

} // namespace scopehub::protocol
