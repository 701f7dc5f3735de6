#include "protocol/message.hpp"

#include "protocol/parsed.hpp"

#include <array>
#include <tuple>

namespace scopehub::protocol {

namespace {

constexpr std::array<std::string_view, 10> type_names{
  "control_command", "subscribe",        "unsubscribe",
  "heartbeat",       "status_update",    "telescope_discovered",
  "telescope_lost",  "command_response", "command_progress",
  "error",
};

constexpr std::array<std::string_view, 6> subscription_names{
  "all", "status", "position", "focus", "imaging", "system",
};

template<class Predicate>
bool any_step(const control_command& x, Predicate pred) {
  if (pred(x.action)) return true;
  for (const auto& step : x.steps)
    if (pred(step.action)) return true;
  return false;
}

} // namespace

std::string_view to_string(message_type x) noexcept {
  return type_names[static_cast<size_t>(x)];
}

std::optional<message_type> message_type_from_string(std::string_view s) {
  for (size_t i = 0; i < type_names.size(); ++i)
    if (type_names[i] == s) return static_cast<message_type>(i);
  return std::nullopt;
}

std::string_view to_string(subscription_type x) noexcept {
  return subscription_names[static_cast<size_t>(x)];
}

std::optional<subscription_type>
subscription_type_from_string(std::string_view s) noexcept {
  for (size_t i = 0; i < subscription_names.size(); ++i)
    if (subscription_names[i] == s) return static_cast<subscription_type>(i);
  return std::nullopt;
}

std::vector<category> categories_of(const std::vector<subscription_type>& xs) {
  std::array<bool, all_categories.size()> wanted{};
  for (auto x : xs) {
    switch (x) {
      case subscription_type::all:
      case subscription_type::status: wanted.fill(true); break;
      case subscription_type::position:
        wanted[static_cast<size_t>(category::position)] = true;
        break;
      case subscription_type::focus:
        wanted[static_cast<size_t>(category::focus)] = true;
        break;
      case subscription_type::imaging:
        wanted[static_cast<size_t>(category::imaging)] = true;
        break;
      case subscription_type::system:
        wanted[static_cast<size_t>(category::system)] = true;
        break;
    }
  }
  std::vector<category> result;
  for (auto c : all_categories)
    if (wanted[static_cast<size_t>(c)]) result.push_back(c);
  return result;
}

std::string_view to_string(progress_state x) noexcept {
  return x == progress_state::accepted ? "accepted" : "working";
}

message_type type_of(const client_payload& x) noexcept {
  switch (x.index()) {
    case 0: return message_type::control_command;
    case 1: return message_type::subscribe;
    case 2: return message_type::unsubscribe;
    default: return message_type::heartbeat;
  }
}

message_type type_of(const server_payload& x) noexcept {
  switch (x.index()) {
    case 0: return message_type::status_update;
    case 1: return message_type::telescope_discovered;
    case 2: return message_type::telescope_lost;
    case 3: return message_type::command_response;
    case 4: return message_type::command_progress;
    case 5: return message_type::heartbeat;
    default: return message_type::error;
  }
}

bool is_motion(const control_command& x) noexcept {
  return any_step(x, [](action a) { return is_motion(a); });
}

bool needs_lease(const control_command& x) noexcept {
  return any_step(x, [](action a) { return needs_lease(a); });
}

bool requires_admin(const control_command& x) noexcept {
  return any_step(x, [](action a) { return requires_admin(a); });
}

// -- equality -----------------------------------------------------------------

bool operator==(const protocol_error& x, const protocol_error& y) {
  return std::tie(x.code, x.message, x.ref_id)
         == std::tie(y.code, y.message, y.ref_id);
}

bool operator==(const envelope& x, const envelope& y) {
  return std::tie(x.id, x.telescope_id, x.timestamp)
         == std::tie(y.id, y.telescope_id, y.timestamp);
}

bool operator==(const batch_step& x, const batch_step& y) {
  return x.action == y.action && x.parameters == y.parameters;
}

bool operator==(const control_command& x, const control_command& y) {
  return std::tie(x.action, x.parameters, x.response_expected, x.timeout_ms,
                  x.steps)
         == std::tie(y.action, y.parameters, y.response_expected, y.timeout_ms,
                     y.steps);
}

bool operator==(const subscription_spec& x, const subscription_spec& y) {
  return std::tie(x.types, x.telescope_pattern, x.resume_from)
         == std::tie(y.types, y.telescope_pattern, y.resume_from);
}

bool operator==(const client_heartbeat&, const client_heartbeat&) {
  return true;
}

bool operator==(const client_message& x, const client_message& y) {
  return x.env == y.env && x.payload == y.payload;
}

bool operator==(const status_update& x, const status_update& y) {
  return std::tie(x.category, x.seq, x.epoch, x.status, x.changes,
                  x.full_update, x.conflated)
         == std::tie(y.category, y.seq, y.epoch, y.status, y.changes,
                     y.full_update, y.conflated);
}

bool operator==(const telescope_info& x, const telescope_info& y) {
  return std::tie(x.id, x.name, x.model, x.host, x.port, x.node, x.state)
         == std::tie(y.id, y.name, y.model, y.host, y.port, y.node, y.state);
}

bool operator==(const telescope_discovered& x, const telescope_discovered& y) {
  return x.telescope == y.telescope;
}

bool operator==(const telescope_lost& x, const telescope_lost& y) {
  return x.reason == y.reason;
}

bool operator==(const command_response& x, const command_response& y) {
  return std::tie(x.command_id, x.success, x.result, x.error, x.code,
                  x.duration_ms, x.duplicate)
         == std::tie(y.command_id, y.success, y.result, y.error, y.code,
                     y.duration_ms, y.duplicate);
}

bool operator==(const command_progress& x, const command_progress& y) {
  return std::tie(x.command_id, x.state, x.detail)
         == std::tie(y.command_id, y.state, y.detail);
}

bool operator==(const server_heartbeat& x, const server_heartbeat& y) {
  return std::tie(x.server_time, x.session_id, x.heartbeat_interval_ms,
                  x.protocol, x.server, x.role)
         == std::tie(y.server_time, y.session_id, y.heartbeat_interval_ms,
                     y.protocol, y.server, y.role);
}

bool operator==(const error_message& x, const error_message& y) {
  return std::tie(x.code, x.message, x.ref_id, x.subscription_kept)
         == std::tie(y.code, y.message, y.ref_id, y.subscription_kept);
}

bool operator==(const server_message& x, const server_message& y) {
  return x.env == y.env && x.payload == y.payload;
}

} // namespace scopehub::protocol
