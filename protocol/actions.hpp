#pragma once

// The actions of a control_command and what kind of operation each is:
// the table the session (role, lease, rate) and the telescope (long
// operations, conflicting motions) consult.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace scopehub::protocol {

/// A control_command action. `goto_` carries a suffix because `goto` is a
/// C++ keyword; its wire name is "goto".
enum class action : uint8_t {
  goto_,
  move,
  stop,
  park,
  focus,
  focus_increment,
  start_imaging,
  stop_imaging,
  set_gain,
  set_exposure,
  scenery,
  set_image_enhancement,
  get_image_enhancement,
  get_status,
  cancel,
  acquire_control,
  release_control,
  batch,
  reboot,
  set_feature,  ///< server-level: change a runtime feature flag (admin)
  get_features, ///< server-level: the feature flags
};

/// Number of actions.
inline constexpr size_t action_count = 21;

/// Every action, in declaration order.
const std::array<action, action_count>& all_actions() noexcept;

/// Wire name, e.g. "focus_increment".
std::string_view to_string(action x) noexcept;

/// Inverse of to_string (case-sensitive); nullopt for an unknown name.
std::optional<action> action_from_string(std::string_view s) noexcept;

/// True for operations that answer only when finished on the telescope
/// (goto, park, move, focus, focus_increment, start_imaging); they get
/// the long-operation timeout and command_progress messages.
bool is_long_operation(action x) noexcept;

/// True for motions, of which a telescope runs one at a time (goto, move,
/// park, focus, focus_increment); a second one is TELESCOPE_BUSY.
bool is_motion(action x) noexcept;

/// True for motion, imaging and settings actions, which fail with
/// CONTROL_HELD while another session holds the lease. `batch` answers
/// true; check its steps with the command overloads in message.hpp.
bool needs_lease(action x) noexcept;

/// True for actions only the admin role may send (reboot, set_feature).
bool requires_admin(action x) noexcept;

/// True for actions the server answers itself, with no telescope
/// (set_feature, get_features); they take no telescope_id and may not be
/// batch steps.
bool is_server_action(action x) noexcept;

} // namespace scopehub::protocol
