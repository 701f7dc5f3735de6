#pragma once

// Reading untrusted JSON text: a nesting-depth guard that runs before the
// (recursive) RapidJSON parser, UTF-8 validation, and the duplicate-key
// check RapidJSON does not do.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "protocol/parsed.hpp"

namespace scopehub::protocol {

/// Limits applied while reading a frame.
struct parse_options {
  /// Deepest nesting of arrays and objects (the root object counts 1).
  size_t max_depth = 32;
};

/// Deepest nesting of arrays and objects in the JSON text `data` (the
/// root counts 1; brackets inside strings do not count), scanning stops
/// as soon as it passes `limit`. Iterative and cheap: run it on untrusted
/// text before RapidJSON's parser, which recurses once per level.
size_t json_nesting_depth(const uint8_t* data, size_t n, size_t limit);

/// Parses `n` bytes as one JSON object into `out`. Errors (all
/// INVALID_JSON, without ref_id): nesting deeper than `max_depth`
/// (detected by a scan before parsing, so no input can exhaust the
/// stack), malformed JSON, invalid UTF-8, numbers too big for a double
/// (e.g. 1e400), trailing data, a root that is not an object.
std::optional<protocol_error> read_json_object(const uint8_t* data, size_t n,
                                               rapidjson::Document& out,
                                               const parse_options& opts = {});

/// Returns the dotted path of the first object member whose name repeats
/// an earlier one of the same object, e.g. "payload.parameters.dec", or
/// nullopt. `prefix` names `x` ("" for the root).
std::optional<std::string> find_duplicate_key(const rapidjson::Value& x,
                                              const std::string& prefix = {});

} // namespace scopehub::protocol
