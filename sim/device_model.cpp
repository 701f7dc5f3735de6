#include "sim/device_model.hpp"

#include <algorithm>
#include <cmath>

#include "sim/sky.hpp"

namespace scopehub::sim {

namespace {

constexpr double progress_period_s = 0.5; // ScopeGoto working cadence
constexpr double house_period_s = 5.0;    // battery / temperature check
constexpr double autogoto_exposure_s = 2.0;
constexpr double plate_solve_s = 3.0;
constexpr double frame_stack_s = 0.5; // download + stack after exposure
constexpr double continuous_fps = 2.02;

int64_t ms_since(double since, double now) {
  return static_cast<int64_t>(std::llround((now - since) * 1000.0));
}

/// Rounded to `digits` decimals, for tidy event values.
double rounded(double x, int digits) {
  auto k = std::pow(10.0, digits);
  return std::round(x * k) / k;
}

} // namespace

device_model::device_model(device_config cfg, wall_clock wall)
  : cfg_(std::move(cfg)), wall_(std::move(wall)), rng_(cfg_.seed) {
  if (!wall_) wall_ = [] { return std::chrono::system_clock::now(); };
  battery_ = cfg_.battery_pct;
  battery_reported_ = battery_capacity();
  temp_ = temp_reported_ = cfg_.temp_c;
  free_mb_ = cfg_.storage_free_mb;
  settings_.Parse(R"({"exp_ms":{"stack_l":10000,"continuous":500},)"
                  R"("stack_dither":{"pix":50,"interval":5,"enable":true},)"
                  R"("stack_lenhance":false,"auto_af":false,)"
                  R"("stack_after_goto":false,"auto_power_off":true,)"
                  R"("frame_calib":true,"factory_focal_pos":1580,)"
                  R"("heater_enable":false,"lang":"en","guest_mode":false})");
  at(house_period_s, track::house, [this](double t) { housekeeping(t); });
}

// -- timeline -----------------------------------------------------------------

void device_model::at(double when, track t, std::function<void(double)> fn) {
  timeline_.emplace(when, step{t, std::move(fn)});
}

void device_model::cancel(track t) {
  for (auto i = timeline_.begin(); i != timeline_.end();)
    i = i->second.t == t ? timeline_.erase(i) : std::next(i);
}

void device_model::advance(double now) {
  while (!timeline_.empty() && timeline_.begin()->first <= now) {
    auto i = timeline_.begin();
    auto when = i->first;
    auto fn = std::move(i->second.fn);
    timeline_.erase(i);
    fn(when); // steps see their own due time, so timings are exact
  }
}

std::optional<double> device_model::next_due() const {
  if (timeline_.empty()) return std::nullopt;
  return timeline_.begin()->first;
}

std::vector<std::string> device_model::take_events() {
  std::vector<std::string> out;
  out.swap(events_);
  return out;
}

void device_model::emit(const char* name, double now, const jobj& body) {
  // "Event" and "Timestamp" lead, as on the device.
  auto rest = body.str();
  std::string line = "{\"Event\":\"";
  line += name;
  line += "\",\"Timestamp\":\"";
  line += timestamp(now);
  line += '"';
  if (rest.size() > 2) {
    line += ',';
    line.append(rest, 1, std::string::npos);
  } else {
    line += '}';
  }
  events_.push_back(std::move(line));
}

void device_model::housekeeping(double now) {
  auto dt = now - last_house_;
  last_house_ = now;
  battery_ = std::max(0.0, battery_ - cfg_.battery_drain_pct_per_min * dt / 60);
  jobj changes;
  bool changed = false;
  if (auto cap = battery_capacity(); cap != battery_reported_) {
    battery_reported_ = cap;
    changes.set("battery_capacity", cap);
    changed = true;
  }
  if (cfg_.temp_drift_c > 0) {
    std::uniform_real_distribution<double> step{-cfg_.temp_drift_c,
                                                cfg_.temp_drift_c};
    std::uniform_real_distribution<double> chance{0.0, 1.0};
    if (chance(rng_) < 0.3) // the CPU temperature moves now and then
      temp_ = std::clamp(temp_ + step(rng_), 30.0, 60.0);
    auto shown = rounded(temp_, 1);
    if (std::abs(shown - temp_reported_) >= 0.05) {
      temp_reported_ = shown;
      changes.set("temp", shown);
      changed = true;
    }
  }
  if (changed) emit("PiStatus", now, std::move(changes));
  at(now + house_period_s, track::house, [this](double t) { housekeeping(t); });
}

int device_model::battery_capacity() const {
  // Shown as the integer percent not yet fully used: 94.3 -> 95.
  return static_cast<int>(std::ceil(battery_ - 1e-9));
}

// -- mount --------------------------------------------------------------------

device_model::ra_dec device_model::position(double now) const {
  switch (motion_) {
    case motion::slew: {
      auto span = m_end_ - m_start_;
      auto f = span <= 0 ? 1.0 : std::clamp((now - m_start_) / span, 0.0, 1.0);
      auto dra = to_ra_ - from_ra_;
      if (dra > 12) dra -= 24;
      if (dra < -12) dra += 24;
      return {wrap_hours(from_ra_ + f * dra),
              from_dec_ + f * (to_dec_ - from_dec_)};
    }
    case motion::manual: {
      auto t = std::clamp(now, m_start_, m_end_) - m_start_;
      return {wrap_hours(from_ra_ + rate_ra_ * t),
              std::clamp(from_dec_ + rate_dec_ * t, -90.0, 90.0)};
    }
    default: return {ra_, dec_};
  }
}

double device_model::altitude_of(double ra_h, double dec_deg) const {
  auto lst = local_sidereal_hours(wall_(), cfg_.longitude);
  return to_alt_az(ra_h, dec_deg, cfg_.latitude, lst).alt;
}

void device_model::freeze(double now) {
  auto p = position(now);
  ra_ = p.ra;
  dec_ = p.dec;
}

void device_model::set_tracking(double now, bool on) {
  if (tracking_ == on) return;
  tracking_ = on;
  emit("ScopeTrack", now,
       jobj{}
         .set("state", on ? "on" : "off")
         .set("tracking", on)
         .set("manual", false));
}

outcome device_model::start_slew(double now, double ra, double dec,
                                 bool autogoto) {
  freeze(now);
  from_ra_ = ra_;
  from_dec_ = dec_;
  to_ra_ = ra;
  to_dec_ = dec;
  auto dist = angular_distance_deg(from_ra_, from_dec_, ra, dec);
  motion_ = motion::slew;
  m_start_ = now;
  m_end_ = now + std::max(dist / cfg_.slew_deg_per_s, 0.2);
  parked_ = false;
  slew_autogoto_ = autogoto;
  auto ev
    = jobj{}
        .set("state", "working")
        .set("lapse_ms", 0)
        .set_pair("cur_ra_dec", rounded(from_ra_, 6), rounded(from_dec_, 6))
        .set("dist_deg", rounded(dist, 6));
  if (autogoto)
    ev.set_strings("route", {"View", "AutoGoto"});
  else
    ev.set_strings("route", {});
  emit("ScopeGoto", now, std::move(ev));
  if (now + progress_period_s < m_end_)
    at(now + progress_period_s, track::mount,
       [this](double t) { slew_progress(t); });
  at(m_end_, track::mount, [this](double t) { finish_slew(t); });
  return {};
}

void device_model::slew_progress(double now) {
  auto p = position(now);
  auto ev
    = jobj{}
        .set("state", "working")
        .set("lapse_ms", ms_since(m_start_, now))
        .set_pair("cur_ra_dec", rounded(p.ra, 6), rounded(p.dec, 6))
        .set("dist_deg",
             rounded(angular_distance_deg(p.ra, p.dec, to_ra_, to_dec_), 6));
  if (slew_autogoto_) ev.set_strings("route", {"View", "AutoGoto"});
  emit("ScopeGoto", now, std::move(ev));
  if (now + progress_period_s < m_end_)
    at(now + progress_period_s, track::mount,
       [this](double t) { slew_progress(t); });
}

void device_model::finish_slew(double now) {
  ra_ = wrap_hours(to_ra_);
  dec_ = to_dec_;
  motion_ = motion::none;
  auto ev = jobj{}
              .set("state", "complete")
              .set("lapse_ms", ms_since(m_start_, now))
              .set_pair("cur_ra_dec", ra_, dec_)
              .set("dist_deg", 0.0);
  if (slew_autogoto_) ev.set_strings("route", {"View", "AutoGoto"});
  emit("ScopeGoto", now, std::move(ev));
  set_tracking(now, true);
  if (!slew_autogoto_) return;
  slew_autogoto_ = false;
  // Centring: a 2 s exposure, then a plate solve.
  emit("Exposure", now,
       jobj{}
         .set("state", "working")
         .set("exp_ms", 2000)
         .set("tag", "Exposure-AutoGoto")
         .set_strings("route", {"View", "AutoGoto"}));
  at(now + autogoto_exposure_s, track::view, [this](double t) {
    emit("Exposure", t,
         jobj{}
           .set("state", "complete")
           .set("exp_ms", 2000)
           .set("tag", "Exposure-AutoGoto")
           .set_strings("route", {"View", "AutoGoto"}));
    emit("PlateSolve", t,
         jobj{}
           .set("state", "working")
           .set("page", "preview")
           .set_strings("route", {"View", "AutoGoto"}));
    at(t + plate_solve_s, track::view,
       [this](double t2) { autogoto_solved(t2); });
  });
}

void device_model::stop_motion(double now, bool announce) {
  if (motion_ == motion::none) return;
  freeze(now);
  auto was = motion_;
  motion_ = motion::none;
  cancel(track::mount);
  if (announce && was == motion::slew)
    emit("ScopeGoto", now,
         jobj{}
           .set("state", "cancel")
           .set("lapse_ms", ms_since(m_start_, now))
           .set_pair("cur_ra_dec", ra_, dec_));
  if (announce && (was == motion::park || was == motion::unpark))
    emit(was == motion::park ? "ScopeHome" : "ScopeMoveToHorizon", now,
         jobj{}
           .set("state", "cancel")
           .set("lapse_ms", ms_since(m_start_, now))
           .set("close", false));
  if (was == motion::slew && slew_autogoto_) {
    slew_autogoto_ = false;
    abort_autogoto(now);
  }
}

// -- view and imaging ---------------------------------------------------------

void device_model::start_view(double now, std::string mode,
                              std::string target_name) {
  view_ = view_state{};
  view_.active = true;
  view_.mode = std::move(mode);
  view_.target_name = std::move(target_name);
  view_.stage = "ContinuousExposure";
  view_.since = now;
  auto ev = jobj{}
              .set("state", "working")
              .set("lapse_ms", 0)
              .set("mode", view_.mode)
              .set("cam_id", 0)
              .set("lp_filter", false)
              .set("gain", gain_);
  if (!view_.target_name.empty()) ev.set("target_name", view_.target_name);
  emit("View", now, std::move(ev));
}

void device_model::autogoto_solved(double now) {
  auto t = view_.target.value_or(ra_dec{ra_, dec_});
  jobj result;
  result.set_pair("ra_dec", t.ra, t.dec)
    .set_pair("fov", 0.71, 1.27)
    .set("focal_len", 250)
    .set("angle", 0.0)
    .set("image_id", 1)
    .set("star_number", 180)
    .set("duration_ms", 3000);
  emit("PlateSolve", now,
       jobj{}
         .set("state", "complete")
         .set("page", "preview")
         .set("result", result)
         .set_strings("route", {"View", "AutoGoto"}));
  emit("AutoGoto", now,
       jobj{}
         .set("state", "complete")
         .set("lapse_ms", ms_since(view_.since, now))
         .set_strings("route", {"View"}));
  view_.autogoto = false;
  view_.stage = "ContinuousExposure";
  emit("ContinuousExposure", now,
       jobj{}
         .set("state", "working")
         .set("lapse_ms", 0)
         .set("fps", continuous_fps));
}

void device_model::abort_autogoto(double now) {
  if (!view_.autogoto) return;
  cancel(track::view);
  view_.autogoto = false;
  emit("PlateSolve", now,
       jobj{}.set("state", "fail").set("error", "aborted").set("code", 253));
  emit("AutoGoto", now,
       jobj{}
         .set("state", "cancel")
         .set("lapse_ms", ms_since(view_.since, now))
         .set_strings("route", {"View"}));
  view_.stage = "ContinuousExposure";
  emit("ContinuousExposure", now,
       jobj{}
         .set("state", "working")
         .set("lapse_ms", 0)
         .set("fps", continuous_fps));
}

int device_model::stack_exposure_ms() const {
  auto exp = settings_.FindMember("exp_ms");
  if (exp != settings_.MemberEnd() && exp->value.IsObject()) {
    auto l = exp->value.FindMember("stack_l");
    if (l != exp->value.MemberEnd() && l->value.IsNumber())
      return std::max(1, static_cast<int>(l->value.GetDouble()));
  }
  return 10000;
}

void device_model::start_stack(double now, bool restart) {
  if (!view_.active) start_view(now, "star", "");
  if (stack_.active && !restart) return;
  cancel(track::stack);
  emit("ContinuousExposure", now, jobj{}.set("state", "cancel"));
  if (restart || !stack_.active) {
    if (restart) {
      stack_.stacked = 0;
      stack_.dropped = 0;
    }
  }
  stack_.active = true;
  stack_.since = now;
  view_.stage = "Stack";
  emit("Stack", now,
       jobj{}
         .set("state", "working")
         .set("lapse_ms", 0)
         .set("frame_errcode", -1)
         .set("stacked_frame", stack_.stacked)
         .set("dropped_frame", stack_.dropped)
         .set_strings("route", {"View"}));
  emit("Stack", now,
       jobj{}
         .set("state", "start")
         .set("page", "stack")
         .set_strings("route", {"View"}));
  auto used = 100.0 * (1.0 - free_mb_ / cfg_.storage_total_mb);
  emit("DiskSpace", now, jobj{}.set("used_percent", std::lround(used)));
  stack_frame(now);
}

void device_model::stack_frame(double now) {
  auto exp = stack_exposure_ms();
  emit("Exposure", now,
       jobj{}
         .set("state", "working")
         .set("exp_ms", exp)
         .set("gain", gain_)
         .set_strings("route", {"View", "Stack"}));
  at(now + exp / 1000.0, track::stack, [this, exp](double t) {
    emit("Exposure", t,
         jobj{}
           .set("state", "complete")
           .set("exp_ms", exp)
           .set_strings("route", {"View", "Stack"}));
    at(t + frame_stack_s, track::stack, [this](double t2) {
      std::uniform_real_distribution<double> roll{0.0, 100.0};
      bool dropped = roll(rng_) < cfg_.drop_frame_pct;
      ++(dropped ? stack_.dropped : stack_.stacked);
      emit("Stack", t2,
           jobj{}
             .set("state", "working")
             .set("lapse_ms", ms_since(stack_.since, t2))
             .set("frame_errcode", dropped ? 264 : 0)
             .set("stacked_frame", stack_.stacked)
             .set("dropped_frame", stack_.dropped)
             .set_strings("route", {"View"}));
      emit("Stack", t2,
           jobj{}
             .set("state", "frame_complete")
             .set("page", "stack")
             .set("frame_type", "light")
             .set("stacked_frame", stack_.stacked)
             .set("dropped_frame", stack_.dropped)
             .set("total_frame", stack_.stacked + stack_.dropped));
      stack_frame(t2);
    });
  });
}

void device_model::stop_stack(double now) {
  if (!stack_.active) return;
  cancel(track::stack);
  stack_.active = false;
  emit("Exposure", now,
       jobj{}.set("state", "fail").set("error", "interrupt").set("code", 514));
  emit("Exposure", now, jobj{}.set("state", "cancel"));
  auto name
    = view_.target_name.empty() ? std::string{"Sky"} : view_.target_name;
  auto file = "Stacked_" + std::to_string(stack_.stacked) + "_" + name + "_"
              + std::to_string(stack_exposure_ms() / 1000) + ".0s_IRCUT.fit";
  free_mb_ = std::max(0.0, free_mb_ - 25.0);
  emit("SaveImage", now,
       jobj{}
         .set("state", "complete")
         .set("filename", file)
         .set("fullname", "MyWorks/" + name + "/" + file));
  emit("Stack", now,
       jobj{}
         .set("state", "cancel")
         .set("lapse_ms", ms_since(stack_.since, now))
         .set("stacked_frame", stack_.stacked)
         .set("dropped_frame", stack_.dropped)
         .set("jpg_name", file.substr(0, file.size() - 4) + ".jpg"));
  view_.stage = "ContinuousExposure";
  emit("ContinuousExposure", now,
       jobj{}
         .set("state", "working")
         .set("lapse_ms", 0)
         .set("fps", continuous_fps));
}

void device_model::stop_view(double now) {
  if (motion_ == motion::slew && slew_autogoto_) stop_motion(now, true);
  abort_autogoto(now);
  cancel(track::view);
  if (stack_.active) {
    cancel(track::stack);
    stack_.active = false;
    emit("Stack", now,
         jobj{}
           .set("state", "cancel")
           .set("stacked_frame", stack_.stacked)
           .set("dropped_frame", stack_.dropped));
  }
  if (view_.active) {
    emit("ContinuousExposure", now, jobj{}.set("state", "cancel"));
    emit("View", now,
         jobj{}
           .set("state", "cancel")
           .set("lapse_ms", ms_since(view_.since, now))
           .set("mode", view_.mode));
  }
  emit("View", now, jobj{}.set("state", "cancel").set("mode", "none"));
  view_ = view_state{};
}

// -- focuser ------------------------------------------------------------------

int device_model::focuser_position(double now) const {
  if (now >= f_end_ || f_end_ <= f_start_) return focus_to_;
  auto f = (now - f_start_) / (f_end_ - f_start_);
  return static_cast<int>(
    std::lround(focus_from_ + f * (focus_to_ - focus_from_)));
}

void device_model::move_focuser(double now, int target) {
  auto cur = focuser_position(now);
  cancel(track::focuser);
  focus_from_ = cur;
  focus_to_ = target;
  f_start_ = now;
  f_end_ = now + std::abs(target - cur) * cfg_.focuser_ms_per_step / 1000.0;
  emit("FocuserMove", now,
       jobj{}.set("state", "working").set("lapse_ms", 0).set("position", cur));
  at(f_end_, track::focuser, [this](double t) {
    focus_from_ = focus_to_;
    emit("FocuserMove", t,
         jobj{}
           .set("state", "complete")
           .set("lapse_ms", ms_since(f_start_, t))
           .set("position", focus_to_));
  });
}

// -- system -------------------------------------------------------------------

void device_model::reboot(double now) {
  stop_motion(now, false);
  cancel(track::mount);
  cancel(track::view);
  cancel(track::stack);
  cancel(track::focuser);
  focus_from_ = focus_to_ = focuser_position(now);
  f_end_ = f_start_ = now;
  view_ = view_state{};
  stack_.active = false;
  tracking_ = false;
  events_.clear(); // nobody is connected to hear them
}

// -- results ------------------------------------------------------------------

jobj device_model::view_tree(double now) const {
  jobj v;
  if (!view_.active) {
    v.set("state", "cancel").set("lapse_ms", 0).set("mode", "none");
    return v;
  }
  v.set("state", "working")
    .set("lapse_ms", ms_since(view_.since, now))
    .set("mode", view_.mode)
    .set("cam_id", 0)
    .set("lp_filter", false)
    .set("gain", gain_);
  if (!view_.target_name.empty()) v.set("target_name", view_.target_name);
  if (view_.target)
    v.set_pair("target_ra_dec", view_.target->ra, view_.target->dec);
  auto stage = view_.autogoto ? std::string{"AutoGoto"} : view_.stage;
  v.set("stage", stage);
  jobj sub;
  sub.set("state", "working");
  if (stage == "Stack")
    sub.set("lapse_ms", ms_since(stack_.since, now))
      .set("stacked_frame", stack_.stacked)
      .set("dropped_frame", stack_.dropped);
  else if (stage == "ContinuousExposure")
    sub.set("fps", continuous_fps);
  v.set(stage, sub);
  return v;
}

rapidjson::Document device_model::device_state(const rapidjson::Value& params,
                                               double now) const {
  auto p = position(now);
  const char* move_type = "none";
  switch (motion_) {
    case motion::slew: move_type = "goto"; break;
    case motion::manual: move_type = "manual"; break;
    case motion::park:
    case motion::unpark: move_type = "home"; break;
    default: break;
  }
  auto major = (cfg_.firmware_int - 2000) / 100;
  auto minor = (cfg_.firmware_int - 2000) % 100;
  char fw[16];
  std::snprintf(fw, sizeof(fw), "%d.%02d", major, minor);
  jobj all;
  all.set("device", jobj{}
                      .set("name", cfg_.name)
                      .set("firmware_ver_int", cfg_.firmware_int)
                      .set("firmware_ver_string", fw)
                      .set("sn", cfg_.serial)
                      .set("product_model", cfg_.model)
                      .set("is_verified", true)
                      .set("focal_len", 250)
                      .set("fnumber", 5));
  jobj setting;
  setting.set("gain", gain_); // sim addition: the stack gain
  for (auto& m : settings_.GetObject())
    setting.set(std::string_view{m.name.GetString(), m.name.GetStringLength()},
                m.value);
  all.set("setting", setting);
  all.set_pair("location_lon_lat", cfg_.longitude, cfg_.latitude);
  jobj camera;
  camera.set_pair("chip_size", 1080, 1920)
    .set("pixel_size_um", 2.9)
    .set("debayer_pattern", "GR");
  all.set("camera", camera);
  auto fmoving = focuser_position(now) != focus_to_;
  all.set("focuser", jobj{}
                       .set("state", fmoving ? "moving" : "idle")
                       .set("max_step", focuser_max_step)
                       .set("step", focuser_position(now)));
  all.set("mount", jobj{}
                     .set("move_type", move_type)
                     .set("close", parked_)
                     .set("tracking", tracking_)
                     .set("equ_mode", false)
                     .set("ra", p.ra)
                     .set("dec", p.dec));
  all.set("pi_status", jobj{}
                         .set("temp", temp_reported_)
                         .set("battery_capacity", battery_capacity())
                         .set("charger_status", "Discharging")
                         .set("charge_online", false)
                         .set("battery_temp", 28)
                         .set("is_overtemp", false)
                         .set("battery_overtemp", false));
  jobj volume;
  volume.set("name", "emmc")
    .set("state", "mounted")
    .set("totalMB", std::lround(cfg_.storage_total_mb))
    .set("freeMB", std::lround(free_mb_))
    .set("used_percent",
         std::lround(100.0 * (1.0 - free_mb_ / cfg_.storage_total_mb)));
  rapidjson::Document vols{rapidjson::kArrayType};
  vols.PushBack(rapidjson::Value{volume.doc(), vols.GetAllocator()},
                vols.GetAllocator());
  all.set("storage", jobj{}
                       .set("is_typec_connected", false)
                       .set("cur_storage", "emmc")
                       .set("storage_volume", vols));
  all.set("client", jobj{}.set("is_master", true).set("master_index", 0));
  // {"keys": [...]} selects top-level keys; [] or absent means all.
  rapidjson::Document out;
  out.SetObject();
  const rapidjson::Value* keys = nullptr;
  if (params.IsObject())
    if (auto k = params.FindMember("keys");
        k != params.MemberEnd() && k->value.IsArray() && !k->value.Empty())
      keys = &k->value;
  for (auto& m : all.doc().GetObject()) {
    bool wanted = keys == nullptr;
    if (keys != nullptr)
      for (auto& k : keys->GetArray())
        wanted = wanted || (k.IsString() && k == m.name);
    if (wanted)
      out.AddMember(rapidjson::Value{m.name, out.GetAllocator()},
                    rapidjson::Value{m.value, out.GetAllocator()},
                    out.GetAllocator());
  }
  return out;
}

} // namespace scopehub::sim
