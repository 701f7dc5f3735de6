#include "actors/seestar_driver.hpp"
#include "protocol/json_text.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "protocol/actions.hpp"

namespace scopehub::seestar_driver {

namespace {

using rapidjson::Value;

double number_or(const Value& params, const char* key, double fallback) {
  if (params.IsObject()) {
    auto i = params.FindMember(key);
    if (i != params.MemberEnd() && i->value.IsNumber())
      return i->value.GetDouble();
  }
  return fallback;
}

std::string string_or(const Value& params, const char* key,
                      std::string fallback) {
  if (params.IsObject()) {
    auto i = params.FindMember(key);
    if (i != params.MemberEnd() && i->value.IsString())
      return i->value.GetString();
  }
  return fallback;
}

using protocol::json_text;

plan failure(protocol::error_code code, std::string message) {
  plan p;
  p.ok = false;
  p.error = code;
  p.message = std::move(message);
  return p;
}

/// Seestar joystick angle: 0 = right, 90 = up, 180 = left, 270 = down.
/// North/south follow up/down and east/west left/right, as on an alt-az
/// mount pointed south.
int direction_angle(const std::string& dir) {
  if (dir == "up" || dir == "north") return 90;
  if (dir == "down" || dir == "south") return 270;
  if (dir == "left" || dir == "east") return 180;
  return 0; // right, west
}

/// Full joystick speed of the Seestar (about 6 deg/s; 240 ~ 1 deg/s).
constexpr int max_device_speed = 1500;

plan plan_move(const Value& params) {
  auto dir = string_or(params, "direction", "stop");
  auto duration = number_or(params, "duration", 1000);
  auto percent = number_or(params, "speed", 100);
  plan p;
  if (dir == "stop") {
    p.calls.push_back(
      {"scope_speed_move", R"({"speed":0,"angle":0,"dur_sec":0})"});
    p.status = "movement_stopped";
    return p;
  }
  auto speed = std::max(
    1, static_cast<int>(std::lround(percent * max_device_speed / 100.0)));
  p.calls.push_back({"scope_speed_move", json_text([&](auto& w) {
                       w.StartObject();
                       w.Key("speed");
                       w.Int(speed);
                       w.Key("angle");
                       w.Int(direction_angle(dir));
                       w.Key("dur_sec");
                       w.Double(duration / 1000.0);
                       w.EndObject();
                     })});
  p.done = completion::timed;
  p.duration = std::chrono::milliseconds{static_cast<int64_t>(duration)};
  p.status = "movement_completed";
  return p;
}

plan plan_focus_to(int target, const device_facts& facts) {
  if (target < 0 || target > facts.focus_max)
    return failure(protocol::error_code::invalid_parameters,
                   "payload.parameters: focuser target "
                     + std::to_string(target) + " outside [0, "
                     + std::to_string(facts.focus_max) + "]");
  plan p;
  p.calls.push_back({"move_focuser", R"({"step":)" + std::to_string(target)
                                       + R"(,"ret_step":true})"});
  // A move to where the focuser already is produces no FocuserMove event.
  p.done = target == facts.focus_position ? completion::on_reply
                                          : completion::focus_done;
  p.status = "focus_complete";
  return p;
}

std::string exposure_setting(double ms) {
  return json_text([&](auto& w) {
    w.StartObject();
    w.Key("exp_ms");
    w.StartObject();
    w.Key("stack_l");
    w.Int64(static_cast<int64_t>(ms));
    w.EndObject();
    w.EndObject();
  });
}

} // namespace

plan plan_action(std::string_view action, const Value& params,
                 const device_facts& facts) {
  plan p;
  if (action == "goto") {
    auto ra = number_or(params, "ra", 0);
    auto dec = number_or(params, "dec", 0);
    auto name = string_or(params, "target_name", "");
    p.calls.push_back({"iscope_start_view", json_text([&](auto& w) {
                         w.StartObject();
                         w.Key("mode");
                         w.String("star");
                         w.Key("target_ra_dec");
                         w.StartArray();
                         w.Double(ra);
                         w.Double(dec);
                         w.EndArray();
                         w.Key("target_name");
                         w.String(name.empty() ? "target" : name.c_str());
                         w.Key("lp_filter");
                         w.Bool(false);
                         w.EndObject();
                       })});
    p.done = completion::goto_done;
    p.status = "goto_complete";
  } else if (action == "move") {
    return plan_move(params);
  } else if (action == "stop") {
    if (facts.goto_running)
      p.calls.push_back({"iscope_stop_view", R"({"stage":"AutoGoto"})"});
    p.calls.push_back({"scope_move", R"(["none"])"});
    p.status = "stopped";
  } else if (action == "park") {
    p.calls.push_back({"scope_park", ""});
    p.done = completion::park_done;
    p.status = "parked";
  } else if (action == "focus") {
    return plan_focus_to(static_cast<int>(number_or(params, "position", 0)),
                         facts);
  } else if (action == "focus_increment") {
    auto inc = static_cast<int>(number_or(params, "increment", 0));
    return plan_focus_to(facts.focus_position + inc, facts);
  } else if (action == "start_imaging") {
    if (params.IsObject() && params.HasMember("exposure_ms"))
      p.calls.push_back(
        {"set_setting", exposure_setting(number_or(params, "exposure_ms", 0))});
    p.calls.push_back({"iscope_start_stack", R"({"restart":true})"});
    p.done = completion::first_frame;
    p.status = "stacking";
  } else if (action == "stop_imaging") {
    p.calls.push_back({"iscope_stop_view", R"({"stage":"Stack"})"});
    p.status = "imaging_stopped";
  } else if (action == "set_gain") {
    p.calls.push_back(
      {"set_control_value",
       "[\"gain\"," + std::to_string(std::lround(number_or(params, "gain", 0)))
         + "]"});
    p.status = "gain_set";
  } else if (action == "set_exposure") {
    p.calls.push_back(
      {"set_setting", exposure_setting(number_or(params, "exposure_ms", 0))});
    p.status = "exposure_set";
  } else if (action == "scenery") {
    auto mode = string_or(params, "mode", "scenery");
    p.calls.push_back({"iscope_start_view", R"({"mode":")" + mode + R"("})"});
    p.status = "view_started";
  } else if (action == "set_image_enhancement") {
    p.calls.push_back({"set_setting", json_text([&](auto& w) {
                         w.StartObject();
                         w.Key("stack");
                         params.Accept(w);
                         w.EndObject();
                       })});
    p.status = "image_enhancement_set";
  } else if (action == "reboot") {
    p.calls.push_back({"pi_reboot", ""});
    p.status = "rebooting";
  } else {
    return failure(protocol::error_code::internal,
                   "action " + std::string{action} + " has no device plan");
  }
  return p;
}

bool is_motion(std::string_view action) noexcept {
  auto a = protocol::action_from_string(action);
  return a && protocol::is_motion(*a);
}

bool needs_lease(std::string_view action) noexcept {
  auto a = protocol::action_from_string(action);
  return a && protocol::needs_lease(*a);
}

bool is_local(std::string_view action) noexcept {
  static constexpr std::array<std::string_view, 6> xs{
    "get_status",      "get_image_enhancement", "cancel",
    "acquire_control", "release_control",       "batch"};
  return std::find(xs.begin(), xs.end(), action) != xs.end();
}

bool is_long_operation(std::string_view action) noexcept {
  auto a = protocol::action_from_string(action);
  return a && protocol::is_long_operation(*a);
}

bool is_setting(std::string_view action) noexcept {
  static constexpr std::array<std::string_view, 3> xs{
    "set_gain", "set_exposure", "set_image_enhancement"};
  return std::find(xs.begin(), xs.end(), action) != xs.end();
}

} // namespace scopehub::seestar_driver
