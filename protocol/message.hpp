#pragma once

// The typed messages of the client protocol (docs/protocol.md), both
// directions. Free-form JSON parts (command parameters, status objects,
// results, details) are kept as compact JSON text so that every type is
// copyable, comparable and can cross nodes as a plain string.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/actions.hpp"
#include "protocol/errors.hpp"
#include "protocol/status.hpp"

namespace scopehub::protocol {

/// Protocol version announced in heartbeats.
inline constexpr int protocol_version = 1;

/// Longest message id (client or server).
inline constexpr size_t max_id_length = 128;

/// Largest timeout_ms a control_command may ask for.
inline constexpr int64_t max_timeout_ms = 120000;

/// Most steps in one batch.
inline constexpr size_t max_batch_steps = 32;

/// Every `type` of the wire protocol.
enum class message_type : uint8_t {
  control_command,
  subscribe,
  unsubscribe,
  heartbeat,
  status_update,
  telescope_discovered,
  telescope_lost,
  command_response,
  command_progress,
  error,
};

/// Wire name, e.g. "control_command".
std::string_view to_string(message_type x) noexcept;

/// Inverse of to_string; nullopt for an unknown name.
std::optional<message_type> message_type_from_string(std::string_view s);

/// The fields every message carries besides `type` and `payload`.
struct envelope {
  std::string id;
  std::optional<std::string> telescope_id;
  std::optional<int64_t> timestamp;
};

// -- client to server ---------------------------------------------------------

/// One step of a batch: an action and its validated parameters (compact
/// JSON object text, defaults filled in).
struct batch_step {
  protocol::action action;
  std::string parameters;
};

/// Payload of `control_command`.
struct control_command {
  protocol::action action = action::get_status;
  /// Validated parameters as a compact JSON object, defaults filled in.
  /// Authoritative: serialization writes only this.
  std::string parameters = "{}";
  bool response_expected = true;
  /// Absent: the server's default for the action.
  std::optional<int64_t> timeout_ms;
  /// For `batch`: the steps, parsed from `parameters` (filled by parse).
  std::vector<batch_step> steps;
};

/// What a subscription names.
enum class subscription_type : uint8_t {
  all,
  status,
  position,
  focus,
  imaging,
  system
};

/// Wire name, e.g. "position".
std::string_view to_string(subscription_type x) noexcept;

/// Inverse of to_string; nullopt for an unknown name.
std::optional<subscription_type>
subscription_type_from_string(std::string_view s) noexcept;

/// Categories a list of subscription types covers (`all` and `status`
/// cover every category), in category order, without duplicates.
std::vector<category> categories_of(const std::vector<subscription_type>& xs);

/// Payload of `subscribe` and `unsubscribe`.
struct subscription_spec {
  /// Never empty after parse (default: {all}).
  std::vector<subscription_type> types{subscription_type::all};
  /// Glob over telescope ids; exclusive with the envelope's telescope_id.
  std::optional<std::string> telescope_pattern;
  /// Last sequence number the client has seen, per category.
  std::map<category, uint64_t> resume_from;
};

/// Payload of `subscribe`.
struct subscribe : subscription_spec {};

/// Payload of `unsubscribe`.
struct unsubscribe : subscription_spec {};

/// Payload of a client `heartbeat` (its content is ignored).
struct client_heartbeat {};

using client_payload
  = std::variant<control_command, subscribe, unsubscribe, client_heartbeat>;

/// A parsed client-to-server message.
struct client_message {
  envelope env;
  client_payload payload;
};

/// Body of `POST /api/telescopes/{id}/commands`: a control_command
/// without the envelope.
struct http_command {
  /// Client-chosen id (the idempotency key), if any.
  std::optional<std::string> id;
  control_command command;
};

/// The message type of a client payload.
message_type type_of(const client_payload& x) noexcept;

/// True if the command (or any step of a batch) is a motion.
bool is_motion(const control_command& x) noexcept;

/// True if the command (or any step of a batch) needs the control lease.
bool needs_lease(const control_command& x) noexcept;

/// True if the command (or any step of a batch) is admin-only.
bool requires_admin(const control_command& x) noexcept;

// -- server to client ---------------------------------------------------------

/// Payload of `status_update`.
struct status_update {
  protocol::category category = category::system;
  uint64_t seq = 0;
  std::string epoch;
  /// Compact JSON object: changed fields, or every field if full_update.
  std::string status = "{}";
  std::vector<std::string> changes;
  bool full_update = false;
  /// Number of deltas merged into this one; 0 means not conflated.
  uint32_t conflated = 0;
};

/// A telescope as `telescope_discovered` describes it.
struct telescope_info {
  std::string id;
  std::string name;
  std::string model;
  std::string host;
  uint16_t port = 0;
  std::string node;
  /// "online" or "offline".
  std::string state = "offline";
};

/// Payload of `telescope_discovered`.
struct telescope_discovered {
  telescope_info telescope;
};

/// Payload of `telescope_lost`.
struct telescope_lost {
  std::string reason;
};

/// Payload of `command_response`.
struct command_response {
  std::string command_id;
  bool success = true;
  /// Compact JSON value; empty means null.
  std::string result;
  /// Human message of a failure.
  std::optional<std::string> error;
  std::optional<error_code> code;
  std::optional<int64_t> duration_ms;
  /// Set when this is the stored answer to a repeated command id.
  bool duplicate = false;
};

/// Progress of a long operation.
enum class progress_state : uint8_t { accepted, working };

/// Wire name: "accepted" or "working".
std::string_view to_string(progress_state x) noexcept;

/// Payload of `command_progress`.
struct command_progress {
  std::string command_id;
  progress_state state = progress_state::accepted;
  /// Compact JSON object; empty means no detail member.
  std::string detail;
};

/// Payload of a server `heartbeat`.
struct server_heartbeat {
  int64_t server_time = 0;
  std::string session_id;
  int64_t heartbeat_interval_ms = 30000;
  int protocol = protocol_version;
  /// Only in the first heartbeat of a session: "scopehub/<version>".
  std::optional<std::string> server;
  /// Only in the first heartbeat: "observer", "operator" or "admin".
  std::optional<std::string> role;
};

/// Payload of `error`.
struct error_message {
  error_code code = error_code::internal;
  std::string message;
  std::optional<std::string> ref_id;
  /// Set on TELESCOPE_NOT_FOUND for a subscription that is kept anyway.
  bool subscription_kept = false;
};

using server_payload
  = std::variant<status_update, telescope_discovered, telescope_lost,
                 command_response, command_progress, server_heartbeat,
                 error_message>;

/// A server-to-client message.
struct server_message {
  envelope env;
  server_payload payload;
};

/// The message type of a server payload.
message_type type_of(const server_payload& x) noexcept;

// -- equality (for tests and dedup) -------------------------------------------

bool operator==(const envelope& x, const envelope& y);
bool operator==(const batch_step& x, const batch_step& y);
bool operator==(const control_command& x, const control_command& y);
bool operator==(const subscription_spec& x, const subscription_spec& y);
bool operator==(const client_heartbeat& x, const client_heartbeat& y);
bool operator==(const client_message& x, const client_message& y);
bool operator==(const status_update& x, const status_update& y);
bool operator==(const telescope_info& x, const telescope_info& y);
bool operator==(const telescope_discovered& x, const telescope_discovered& y);
bool operator==(const telescope_lost& x, const telescope_lost& y);
bool operator==(const command_response& x, const command_response& y);
bool operator==(const command_progress& x, const command_progress& y);
bool operator==(const server_heartbeat& x, const server_heartbeat& y);
bool operator==(const error_message& x, const error_message& y);
bool operator==(const server_message& x, const server_message& y);

inline bool operator!=(const client_message& x, const client_message& y) {
  return !(x == y);
}
inline bool operator!=(const server_message& x, const server_message& y) {
  return !(x == y);
}

} // namespace scopehub::protocol
