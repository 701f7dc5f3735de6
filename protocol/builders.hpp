#pragma once

// One function per server message: the compact JSON frame, ready to send.
// The caller supplies the message id (unique per server run) and the
// clock reading, so output is deterministic under test.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "protocol/message.hpp"
#include "protocol/parsed.hpp"

namespace scopehub::protocol {

/// Envelope fields of an outgoing message.
struct stamp {
  std::string_view id;
  int64_t timestamp = 0;
  /// Empty: the message has no telescope_id.
  std::string_view telescope_id = {};
};

/// `error` frame. `ref_id` is the offending message's id, if known.
std::string make_error(const stamp& s, error_code code,
                       std::string_view message,
                       std::optional<std::string_view> ref_id = std::nullopt,
                       bool subscription_kept = false);

/// `error` frame from a parse failure.
std::string make_error(const stamp& s, const protocol_error& err);

/// `command_response` frame.
std::string make_command_response(const stamp& s, const command_response& x);

/// Successful `command_response`; `result_json` is compact JSON (empty:
/// null).
std::string make_command_success(const stamp& s, std::string_view command_id,
                                 std::string_view result_json = {},
                                 std::optional<int64_t> duration_ms
                                 = std::nullopt);

/// Failed `command_response` with `error_code` and message; `result_json`
/// may carry details (e.g. {"controller": ...} or {"dispatched": false}).
std::string make_command_failure(const stamp& s, std::string_view command_id,
                                 error_code code, std::string_view message,
                                 std::string_view result_json = {},
                                 std::optional<int64_t> duration_ms
                                 = std::nullopt);

/// `command_progress` frame; `detail_json` is a compact JSON object or
/// empty.
std::string make_command_progress(const stamp& s, std::string_view command_id,
                                  progress_state state,
                                  std::string_view detail_json = {});

/// `status_update` frame. `status` is a JSON object: the changed fields,
/// or every field when `full_update`. `conflated` is the number of deltas
/// merged into this one (0: none).
std::string make_status_update(const stamp& s, category cat, uint64_t seq,
                               std::string_view epoch,
                               const rapidjson::Value& status,
                               const std::vector<std::string>& changes,
                               bool full_update, uint32_t conflated = 0);

/// `heartbeat` frame.
std::string make_heartbeat(const stamp& s, const server_heartbeat& x);

/// `telescope_discovered` frame; its telescope_id is the telescope's id.
std::string make_telescope_discovered(const stamp& s,
                                      const telescope_info& info);

/// `telescope_lost` frame.
std::string make_telescope_lost(const stamp& s, std::string_view reason);

} // namespace scopehub::protocol
