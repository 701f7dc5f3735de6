#pragma once

// The Seestar driver: how each protocol action becomes Seestar JSON-RPC
// calls, and what device event finishes it. Pure functions, no actor, so
// the mapping is tested on its own (tests/unit/actors/seestar_driver_test).
//
// | action                | device calls                                  |
// done on                  |
// |-----------------------|-----------------------------------------------|--------------------------|
// | goto                  | iscope_start_view {mode star, target_ra_dec}  |
// AutoGoto complete        | | move                  | scope_speed_move {speed,
// angle, dur_sec}      | duration elapsed         | | stop                  |
// [iscope_stop_view AutoGoto], scope_move none  | reply                    | |
// park                  | scope_park                                    |
// ScopeHome complete       | | focus                 | move_focuser {step,
// ret_step}                 | FocuserMove complete     | | focus_increment |
// move_focuser {current + increment}            | FocuserMove complete     | |
// start_imaging         | [set_setting exp_ms], iscope_start_stack      | first
// Stack frame        | | stop_imaging          | iscope_stop_view {stage Stack}
// | reply                    | | set_gain              | set_control_value
// ["gain", g]                 | reply                    | | set_exposure |
// set_setting {exp_ms {stack_l}}                | reply                    | |
// scenery               | iscope_start_view {mode}                      | reply
// | | set_image_enhancement | set_setting {stack {...}}                     |
// reply                    | | reboot                | pi_reboot | reply |
// get_status, get_image_enhancement, cancel, acquire_control,
// release_control and batch are answered by the telescope actor itself.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "protocol/errors.hpp"

namespace scopehub::seestar_driver {

/// One JSON-RPC call: method and params as JSON text (empty: none).
struct device_call {
  std::string method;
  std::string params;
};

/// What ends an action after its calls were answered.
enum class completion {
  on_reply,    ///< the last reply
  goto_done,   ///< AutoGoto complete / fail / cancel
  park_done,   ///< ScopeHome complete / fail
  focus_done,  ///< FocuserMove complete / fail
  first_frame, ///< first Stack frame_complete / fail
  timed,       ///< `duration` after the reply (manual move)
};

/// The device side of one action, or why it cannot run.
struct plan {
  bool ok = true;
  protocol::error_code error = protocol::error_code::internal;
  std::string message;
  std::vector<device_call> calls;
  completion done = completion::on_reply;
  std::chrono::milliseconds duration{0};
  std::string status; ///< `result.status` on success, e.g. "goto_complete"
};

/// Device facts a plan may depend on.
struct device_facts {
  int focus_position = 0;
  int focus_max = 2600;
  bool goto_running = false;
};

/// Maps one device action with validated `params` to its plan. Actions the
/// telescope answers locally give a plan with ok = false and
/// error_code::internal.
plan plan_action(std::string_view action, const rapidjson::Value& params,
                 const device_facts& facts);

/// protocol::is_motion by wire name (false for unknown names).
bool is_motion(std::string_view action) noexcept;

/// protocol::needs_lease by wire name (false for unknown names).
bool needs_lease(std::string_view action) noexcept;

/// True for actions answered by the telescope actor without the device.
bool is_local(std::string_view action) noexcept;

/// protocol::is_long_operation by wire name (false for unknown names).
bool is_long_operation(std::string_view action) noexcept;

/// A camera setting done by one device call and answered on its reply
/// (set_gain, set_exposure, set_image_enhancement): such calls may share
/// the link with each other (telescope_config::max_calls_in_flight).
bool is_setting(std::string_view action) noexcept;

} // namespace scopehub::seestar_driver
