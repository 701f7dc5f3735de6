#include "protocol/actions.hpp"

namespace scopehub::protocol {

namespace {

struct action_row {
  action id;
  std::string_view name;
  bool long_operation;
  bool motion;
  bool lease;
  bool admin;
};

// The one table of actions: wire name and kind.
//                  name                     long   motion lease  admin
constexpr std::array<action_row, action_count> action_table{{
  {action::goto_, "goto", true, true, true, false},
  {action::move, "move", true, true, true, false},
  {action::stop, "stop", false, false, true, false},
  {action::park, "park", true, true, true, false},
  {action::focus, "focus", true, true, true, false},
  {action::focus_increment, "focus_increment", true, true, true, false},
  {action::start_imaging, "start_imaging", true, false, true, false},
  {action::stop_imaging, "stop_imaging", false, false, true, false},
  {action::set_gain, "set_gain", false, false, true, false},
  {action::set_exposure, "set_exposure", false, false, true, false},
  {action::scenery, "scenery", false, false, true, false},
  {action::set_image_enhancement, "set_image_enhancement", false, false, true,
   false},
  {action::get_image_enhancement, "get_image_enhancement", false, false, false,
   false},
  {action::get_status, "get_status", false, false, false, false},
  {action::cancel, "cancel", false, false, false, false},
  {action::acquire_control, "acquire_control", false, false, false, false},
  {action::release_control, "release_control", false, false, false, false},
  {action::batch, "batch", false, false, true, false},
  {action::reboot, "reboot", false, false, false, true},
  {action::set_feature, "set_feature", false, false, false, true},
  {action::get_features, "get_features", false, false, false, false},
}};

constexpr std::array<action, action_count> make_all() {
  std::array<action, action_count> result{};
  for (size_t i = 0; i < action_count; ++i)
    result[i] = action_table[i].id;
  return result;
}

constexpr std::array<action, action_count> all = make_all();

const action_row& row(action x) noexcept {
  return action_table[static_cast<size_t>(x)];
}

} // namespace

const std::array<action, action_count>& all_actions() noexcept { return all; }

std::string_view to_string(action x) noexcept { return row(x).name; }

std::optional<action> action_from_string(std::string_view s) noexcept {
  for (const auto& r : action_table)
    if (r.name == s) return r.id;
  return std::nullopt;
}

bool is_long_operation(action x) noexcept { return row(x).long_operation; }

bool is_motion(action x) noexcept { return row(x).motion; }

bool needs_lease(action x) noexcept { return row(x).lease; }

bool requires_admin(action x) noexcept { return row(x).admin; }

} // namespace scopehub::protocol

namespace scopehub::protocol {

bool is_server_action(action x) noexcept {
  return x == action::set_feature || x == action::get_features;
}

} // namespace scopehub::protocol
