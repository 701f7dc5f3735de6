// device_model::handle: one branch per device method, with the parameter
// checks of firmware >= 2706 (107 expected object, 108 expected float,
// 109 unexpected param) and the busy / below-horizon refusals.

#include <algorithm>
#include <cmath>
#include <ctime>

#include "protocol/seestar.hpp"
#include "sim/device_model.hpp"
#include "sim/sky.hpp"

namespace scopehub::sim {

namespace {

using value = rapidjson::Value;

outcome fail(int code, std::string text = {}) {
  outcome r;
  r.code = code;
  r.error = text.empty() ? protocol::seestar::device_error_text(code)
                         : std::move(text);
  return r;
}

outcome ok() { return {}; }

template<class T>
outcome ok(const T& result) {
  outcome r;
  r.result.CopyFrom(result, r.result.GetAllocator());
  return r;
}

/// The object a method expects: the params themselves, or the single
/// element of a one-element array (firmware unwraps `[{...}]`).
const value* as_object(const value& p) {
  if (p.IsObject()) return &p;
  if (p.IsArray() && p.Size() == 1 && p[0].IsObject()) return &p[0];
  return nullptr;
}

const value* member(const value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

/// `[ra, dec]` or `{"ra": .., "dec": ..}`; nullopt unless both are numbers.
std::optional<std::pair<double, double>> ra_dec_param(const value& p) {
  if (p.IsArray() && p.Size() >= 2 && p[0].IsNumber() && p[1].IsNumber())
    return std::make_pair(p[0].GetDouble(), p[1].GetDouble());
  if (p.IsObject()) {
    auto ra = member(p, "ra");
    auto dec = member(p, "dec");
    if (ra && dec && ra->IsNumber() && dec->IsNumber())
      return std::make_pair(ra->GetDouble(), dec->GetDouble());
  }
  return std::nullopt;
}

bool valid_ra_dec(double ra, double dec) {
  return ra >= 0 && ra < 24 && dec >= -90 && dec <= 90;
}

/// Merges `src` into `dst` (objects recursively, anything else replaced).
void deep_merge(value& dst, const value& src,
                rapidjson::Document::AllocatorType& a) {
  for (auto& m : src.GetObject()) {
    auto it = dst.FindMember(m.name);
    if (it != dst.MemberEnd() && it->value.IsObject() && m.value.IsObject())
      deep_merge(it->value, m.value, a);
    else if (it != dst.MemberEnd())
      it->value.CopyFrom(m.value, a);
    else
      dst.AddMember(value{m.name, a}, value{m.value, a}, a);
  }
}

bool known_mode(std::string_view m) {
  return m == "star" || m == "scenery" || m == "solar_sys" || m == "moon"
         || m == "sun" || m == "planet";
}

} // namespace

int normalize_params(rapidjson::Document& params, int firmware_int) {
  if (params.IsString() && std::string_view{params.GetString()} == "verify") {
    params.SetNull();
  } else if (params.IsArray() && !params.Empty()) {
    auto& last = params[params.Size() - 1];
    if (last.IsString() && std::string_view{last.GetString()} == "verify")
      params.PopBack();
    if (params.Empty()) params.SetNull();
  } else if (params.IsObject() && params.HasMember("verify")) {
    if (firmware_int >= 2706) return 109;
    params.RemoveMember("verify");
  }
  return 0;
}

outcome device_model::below_horizon(double now) {
  emit("Alert", now, jobj{}.set("error", "below horizon").set("code", 270));
  return fail(270);
}

outcome device_model::on_goto(const value& p, double now) {
  if (!p.IsArray() && !p.IsObject()) return fail(107);
  auto rd = ra_dec_param(p);
  if (!rd || !valid_ra_dec(rd->first, rd->second)) return fail(108);
  if (motion_ != motion::none) return fail(203);
  if (altitude_of(rd->first, rd->second) < 0) return below_horizon(now);
  return start_slew(now, rd->first, rd->second, false);
}

outcome device_model::on_start_view(const value& params, double now) {
  value empty{rapidjson::kObjectType};
  auto p = params.IsNull() ? &empty : as_object(params);
  if (p == nullptr) return fail(107);
  std::string mode = "star";
  if (auto m = member(*p, "mode")) {
    if (!m->IsString() || !known_mode(m->GetString())) return fail(109);
    mode = m->GetString();
  }
  std::string name;
  if (auto n = member(*p, "target_name"); n && n->IsString())
    name = n->GetString();
  auto target = member(*p, "target_ra_dec");
  if (target == nullptr || target->IsNull()) {
    if (stack_.active) stop_stack(now);
    start_view(now, mode, name);
    if (mode == "star")
      emit("ContinuousExposure", now,
           jobj{}.set("state", "working").set("lapse_ms", 0).set("fps", 2.02));
    return ok();
  }
  auto rd = target->IsArray() ? ra_dec_param(*target) : std::nullopt;
  if (!rd || !valid_ra_dec(rd->first, rd->second)) return fail(108);
  if (motion_ != motion::none) return fail(203);
  if (altitude_of(rd->first, rd->second) < 0) return below_horizon(now);
  if (stack_.active) stop_stack(now);
  cancel(track::view);
  start_view(now, mode, name);
  view_.target = ra_dec{rd->first, rd->second};
  view_.autogoto = true;
  view_.stage = "AutoGoto";
  emit("AutoGoto", now,
       jobj{}
         .set("state", "working")
         .set("count", 0)
         .set("lapse_ms", 0)
         .set_strings("route", {"View"}));
  emit("AutoGoto", now,
       jobj{}
         .set("state", "start")
         .set("page", "preview")
         .set("func", "goto_ra_dec")
         .set_pair("target_ra_dec", rd->first, rd->second)
         .set("target_name", name));
  return start_slew(now, rd->first, rd->second, true);
}

outcome device_model::on_stop_view(const value& params, double now) {
  if (params.IsNull()) {
    stop_view(now);
    return ok();
  }
  auto p = as_object(params);
  if (p == nullptr) return fail(107);
  auto stage = member(*p, "stage");
  if (stage == nullptr || stage->IsNull()) {
    stop_view(now);
    return ok();
  }
  if (!stage->IsString()) return fail(109);
  std::string_view s = stage->GetString();
  if (s == "AutoGoto") {
    if (motion_ == motion::slew && slew_autogoto_)
      stop_motion(now, true);
    else
      abort_autogoto(now);
  } else if (s == "Stack") {
    stop_stack(now);
  } else if (s == "ScopeGoto") {
    if (motion_ == motion::slew) stop_motion(now, true);
  } else if (s == "ContinuousExposure") {
    emit("ContinuousExposure", now, jobj{}.set("state", "cancel"));
  }
  return ok();
}

outcome device_model::on_speed_move(const value& params, double now) {
  auto p = as_object(params);
  if (p == nullptr) return fail(107);
  double speed = -1;
  if (auto s = member(*p, "speed"))
    speed = s->IsNumber() ? s->GetDouble() : -2;
  else if (auto pc = member(*p, "percent"))
    speed = pc->IsNumber() ? pc->GetDouble() * 15.0 : -2;
  if (speed == -2 || speed == -1) return fail(108);
  double angle = 0, dur = 3;
  if (auto a = member(*p, "angle")) {
    if (!a->IsNumber()) return fail(108);
    angle = a->GetDouble();
  }
  if (auto d = member(*p, "dur_sec")) {
    if (!d->IsNumber()) return fail(108);
    dur = std::clamp(d->GetDouble(), 0.0, 10.0);
  }
  speed = std::clamp(speed, 0.0, 1500.0);
  if (motion_ == motion::slew || motion_ == motion::park
      || motion_ == motion::unpark)
    return fail(203);
  if (speed == 0 || dur == 0) {
    stop_motion(now, false);
    return ok();
  }
  freeze(now);
  cancel(track::mount);
  // speed 240 ~ 1 deg/s; angle 0 = right, 90 = up. Approximated in the
  // equatorial frame: right lowers RA, up raises Dec.
  constexpr double rad = 3.14159265358979323846 / 180.0;
  auto deg_s = speed / 240.0;
  motion_ = motion::manual;
  parked_ = false;
  from_ra_ = ra_;
  from_dec_ = dec_;
  rate_ra_ = -deg_s * std::cos(angle * rad) / 15.0;
  rate_dec_ = deg_s * std::sin(angle * rad);
  m_start_ = now;
  m_end_ = now + dur;
  at(m_end_, track::mount, [this](double t) {
    freeze(t);
    motion_ = motion::none;
  });
  return ok();
}

outcome device_model::on_move_focuser(const value& params, double now) {
  auto p = as_object(params);
  if (p == nullptr) return fail(107);
  auto s = member(*p, "step");
  if (s == nullptr || !s->IsNumber()) return fail(108);
  auto target = s->GetDouble();
  if (target < 0 || target > focuser_max_step)
    return fail(207, "focuser step out of range");
  auto cur = focuser_position(now);
  move_focuser(now, static_cast<int>(std::lround(target)));
  return ok(jobj{}.set("step", cur).doc());
}

outcome device_model::on_set_setting(const value& params) {
  auto p = as_object(params);
  if (p == nullptr) return fail(107);
  if (auto exp = member(*p, "exp_ms"); exp && exp->IsObject())
    if (auto l = member(*exp, "stack_l");
        l && (!l->IsNumber() || l->GetDouble() <= 0))
      return fail(108);
  deep_merge(settings_, *p, settings_.GetAllocator());
  return ok();
}

outcome device_model::on_set_control_value(const value& p) {
  if (!p.IsArray() || p.Size() < 2) return fail(109);
  if (!p[0].IsString() || !p[1].IsNumber()) return fail(108);
  if (std::string_view{p[0].GetString()} == "gain")
    gain_ = std::clamp(static_cast<int>(std::lround(p[1].GetDouble())), 0, 400);
  return ok();
}

outcome device_model::on_set_time(const value& params) {
  auto p = as_object(params);
  if (p == nullptr) return fail(107);
  if (auto tz = member(*p, "time_zone"); tz && tz->IsString())
    time_zone_ = tz->GetString();
  return ok();
}

outcome device_model::handle(std::string_view method, const value& params,
                             double now) {
  advance(now);
  auto& m = method;
  if (m == "test_connection") return ok(value{"server connected!"});
  if (m == "pi_is_verified") return ok(value{true});
  if (m == "get_device_state") {
    if (!params.IsNull() && !params.IsObject()) return fail(107);
    return ok(device_state(params, now));
  }
  if (m == "get_view_state")
    return ok(jobj{}.set("View", view_tree(now)).doc());
  if (m == "iscope_get_app_state") {
    auto pos = focuser_position(now);
    return ok(jobj{}
                .set("View", view_tree(now))
                .set("FocuserMove",
                     jobj{}
                       .set("state", pos == focus_to_ ? "complete" : "working")
                       .set("position", pos))
                .doc());
  }
  if (m == "get_focuser_position") return ok(value{focuser_position(now)});
  if (m == "scope_get_equ_coord") {
    auto p = position(now);
    return ok(jobj{}.set("ra", p.ra).set("dec", p.dec).doc());
  }
  if (m == "scope_get_horiz_coord") {
    auto p = position(now);
    auto lst = local_sidereal_hours(wall_(), cfg_.longitude);
    auto h = to_alt_az(p.ra, p.dec, cfg_.latitude, lst);
    rapidjson::Document arr{rapidjson::kArrayType};
    arr.PushBack(h.alt, arr.GetAllocator());
    arr.PushBack(h.az, arr.GetAllocator());
    return ok(arr);
  }
  if (m == "scope_get_track_state") return ok(value{tracking_});
  if (m == "iscope_start_view") return on_start_view(params, now);
  if (m == "iscope_stop_view") return on_stop_view(params, now);
  if (m == "iscope_start_stack") {
    bool restart = true;
    if (!params.IsNull()) {
      auto p = as_object(params);
      if (p == nullptr) return fail(107);
      if (auto r = member(*p, "restart")) {
        if (!r->IsBool()) return fail(109);
        restart = r->GetBool();
      }
    }
    if (motion_ == motion::slew || slew_autogoto_ || view_.autogoto)
      return fail(203);
    start_stack(now, restart);
    return ok();
  }
  if (m == "scope_goto") return on_goto(params, now);
  if (m == "scope_sync") {
    auto rd = ra_dec_param(params);
    if (!rd || !valid_ra_dec(rd->first, rd->second)) return fail(108);
    if (motion_ != motion::none) return fail(203);
    ra_ = rd->first;
    dec_ = rd->second;
    return ok();
  }
  if (m == "scope_move") {
    if (!params.IsArray() || params.Empty() || !params[0].IsString()
        || std::string_view{params[0].GetString()} != "none")
      return fail(109);
    stop_motion(now, true);
    return ok();
  }
  if (m == "scope_speed_move") return on_speed_move(params, now);
  if (m == "scope_park" || m == "scope_move_to_horizon") {
    bool park = m == "scope_park";
    if (motion_ == motion::slew) return fail(203);
    stop_motion(now, false);
    if (park) {
      if (view_.active || stack_.active) stop_view(now);
      set_tracking(now, false);
    }
    motion_ = park ? motion::park : motion::unpark;
    m_start_ = now;
    m_end_ = now + cfg_.park_s;
    auto name = park ? "ScopeHome" : "ScopeMoveToHorizon";
    emit(name, now,
         jobj{}.set("state", "working").set("lapse_ms", 0).set("close", false));
    if (!park) parked_ = false;
    at(m_end_, track::mount, [this, park, name](double t) {
      motion_ = motion::none;
      parked_ = park;
      auto ev = jobj{}
                  .set("state", "complete")
                  .set("lapse_ms", std::llround((t - m_start_) * 1000.0))
                  .set("close", park);
      if (park) ev.set("equ_mode", false);
      emit(name, t, std::move(ev));
    });
    return ok();
  }
  if (m == "scope_set_track_state") {
    auto& v = params.IsArray() && params.Size() == 1 ? params[0] : params;
    if (!v.IsBool()) return fail(109);
    if (v.GetBool() && parked_) return fail(207);
    set_tracking(now, v.GetBool());
    return ok();
  }
  if (m == "move_focuser") return on_move_focuser(params, now);
  if (m == "set_control_value") return on_set_control_value(params);
  if (m == "set_setting") return on_set_setting(params);
  if (m == "get_setting") return ok(settings_);
  if (m == "get_disk_volume")
    return ok(jobj{}
                .set("totalMB", std::lround(cfg_.storage_total_mb))
                .set("freeMB", std::lround(free_mb_))
                .doc());
  if (m == "pi_set_time") return on_set_time(params);
  if (m == "pi_get_time") {
    auto t = std::chrono::system_clock::to_time_t(wall_());
    std::tm tm{};
    gmtime_r(&t, &tm);
    return ok(jobj{}
                .set("year", tm.tm_year + 1900)
                .set("mon", tm.tm_mon + 1)
                .set("day", tm.tm_mday)
                .set("hour", tm.tm_hour)
                .set("min", tm.tm_min)
                .set("sec", tm.tm_sec)
                .set("time_zone", time_zone_)
                .doc());
  }
  if (m == "set_user_location") {
    auto p = as_object(params);
    if (p == nullptr) return fail(107);
    auto lat = member(*p, "lat");
    auto lon = member(*p, "lon");
    if (!lat || !lon || !lat->IsNumber() || !lon->IsNumber()) return fail(108);
    cfg_.latitude = lat->GetDouble();
    cfg_.longitude = lon->GetDouble();
    return ok();
  }
  if (m == "pi_reboot") {
    reboot(now);
    auto r = ok();
    r.reboot = true;
    return r;
  }
  return fail(103);
}

} // namespace scopehub::sim
