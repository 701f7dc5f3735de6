#pragma once

// The simulated Seestar's state and timings, with no sockets and no clock
// of its own: every call passes the device time `now` (seconds since boot,
// already scaled by the caller's time_scale), so tests drive it with a fake
// clock. Requests go in through handle(); timed work (slews, park,
// focuser, stacking frames, battery and temperature) sits on a timeline
// that advance() runs; both queue events that take_events() hands out as
// JSON lines (no terminator) for broadcast.
//
//   handle(req, now) --> outcome (reply) + queued events
//   advance(now)     --> runs due steps  --> queued events
//   next_due()       --> when to call advance() next

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "sim/json.hpp"

namespace scopehub::sim {

/// Fixed facts and rates of one simulated device.
struct device_config {
  std::string name = "seestar-sim";
  std::string serial = "SIM00000001";
  std::string model = "Seestar S50";
  int firmware_int = 2582; ///< 2000 + major*100 + minor (§6.4)
  double latitude = 50.0;  ///< degrees north
  double longitude = 10.0; ///< degrees east
  double battery_pct = 95.0;
  double battery_drain_pct_per_min = 0.2;
  double temp_c = 42.0;
  double temp_drift_c = 0.3; ///< max temperature step per 5 s (0: none)
  double slew_deg_per_s = 5.0;
  double park_s = 15.0; ///< ScopeHome / ScopeMoveToHorizon duration
  double focuser_ms_per_step = 1.0;
  double drop_frame_pct = 5.0; ///< stacked frames dropped at random
  double storage_total_mb = 51854;
  double storage_free_mb = 46854;
  uint32_t seed = 1;
};

/// The reply to one request: `result` (0 when left null) or an error.
struct outcome {
  int code = 0;
  std::string error;
  rapidjson::Document result;
  bool reboot = false; ///< the caller drops its clients for a while
};

/// Focuser travel limit (steps), as reported in get_device_state.
inline constexpr int focuser_max_step = 2600;

class device_model {
 public:
  using wall_clock = std::function<std::chrono::system_clock::time_point()>;

  /// `wall` gives the civil time used for sidereal time (Alt/Az, horizon
  /// checks); the system clock when empty.
  explicit device_model(device_config cfg, wall_clock wall = {});

  /// Executes one request (params already stripped of "verify" markers
  /// by normalize_params) at device time `now`.
  outcome handle(std::string_view method, const rapidjson::Value& params,
                 double now);

  /// Runs every timeline step due at or before `now`, in time order.
  void advance(double now);

  /// Device time of the next timeline step, if any.
  std::optional<double> next_due() const;

  /// Events queued since the last call, oldest first, as JSON text.
  std::vector<std::string> take_events();

  /// Stops every running operation (pi_reboot).
  void reboot(double now);

  /// Sets "Timestamp" to `now`: the device's uptime.
  std::string timestamp(double now) const { return timestamp_text(now); }

  // -- observers (for tests and discovery) ----------------------------------

  const device_config& config() const { return cfg_; }
  struct ra_dec {
    double ra;
    double dec;
  };
  ra_dec position(double now) const;
  double altitude_of(double ra_h, double dec_deg) const;
  bool parked() const { return parked_; }
  bool tracking() const { return tracking_; }
  bool slewing() const { return motion_ != motion::none; }
  int focuser_position(double now) const;
  int battery_capacity() const;
  std::string_view view_mode() const { return view_.mode; }
  bool stacking() const { return stack_.active; }
  int stacked_frames() const { return stack_.stacked; }

 private:
  enum class track : uint8_t { mount, focuser, view, stack, house };
  enum class motion : uint8_t { none, slew, manual, park, unpark };

  struct step {
    track t;
    std::function<void(double)> fn;
  };

  // timeline
  void at(double when, track t, std::function<void(double)> fn);
  void cancel(track t);
  void emit(const char* name, double now, const jobj& body);
  void housekeeping(double now);

  // mount
  outcome start_slew(double now, double ra, double dec, bool autogoto);
  void slew_progress(double now);
  void finish_slew(double now);
  void stop_motion(double now, bool announce);
  void freeze(double now);
  void set_tracking(double now, bool on);

  // view / imaging
  void start_view(double now, std::string mode, std::string target_name);
  void autogoto_solved(double now);
  void start_stack(double now, bool restart);
  void stack_frame(double now);
  void stop_stack(double now);
  void stop_view(double now);
  void abort_autogoto(double now);
  int stack_exposure_ms() const;

  // focuser
  void move_focuser(double now, int target);

  // results
  rapidjson::Document device_state(const rapidjson::Value& params,
                                   double now) const;
  jobj view_tree(double now) const;

  // requests (device_methods.cpp)
  outcome on_goto(const rapidjson::Value& p, double now);
  outcome on_start_view(const rapidjson::Value& p, double now);
  outcome on_stop_view(const rapidjson::Value& p, double now);
  outcome on_speed_move(const rapidjson::Value& p, double now);
  outcome on_move_focuser(const rapidjson::Value& p, double now);
  outcome on_set_setting(const rapidjson::Value& p);
  outcome on_set_control_value(const rapidjson::Value& p);
  outcome on_set_time(const rapidjson::Value& p);
  outcome below_horizon(double now);

  device_config cfg_;
  wall_clock wall_;
  std::mt19937 rng_;
  std::multimap<double, step> timeline_;
  std::vector<std::string> events_;

  // mount
  double ra_ = 0.0, dec_ = 89.0; // position when not moving
  bool parked_ = true;
  bool tracking_ = false;
  motion motion_ = motion::none;
  double m_start_ = 0, m_end_ = 0;
  double from_ra_ = 0, from_dec_ = 0, to_ra_ = 0, to_dec_ = 0;
  double rate_ra_ = 0, rate_dec_ = 0; // manual move, h/s and deg/s
  bool slew_autogoto_ = false;

  // focuser
  int focus_from_ = 1580, focus_to_ = 1580;
  double f_start_ = 0, f_end_ = 0;

  // view
  struct view_state {
    bool active = false;
    std::string mode = "none";
    std::string stage;
    std::string target_name;
    std::optional<ra_dec> target;
    bool autogoto = false;
    double since = 0;
  } view_;

  struct stack_state {
    bool active = false;
    int stacked = 0;
    int dropped = 0;
    double since = 0;
  } stack_;

  int gain_ = 80;
  rapidjson::Document settings_;
  std::string time_zone_ = "Etc/UTC";

  // power and storage
  double battery_ = 95.0;
  int battery_reported_ = 95;
  double temp_ = 42.0;
  double temp_reported_ = 42.0;
  double last_house_ = 0;
  double free_mb_ = 0;
};

/// Strips the "verify" markers of §6.2 from request params: a bare
/// "verify" string, a trailing "verify" array element, and (firmware
/// below 2706) a "verify" key in an object. Returns 0 or the device code
/// to answer with (109 for verify inside an object on firmware >= 2706).
int normalize_params(rapidjson::Document& params, int firmware_int);

} // namespace scopehub::sim
