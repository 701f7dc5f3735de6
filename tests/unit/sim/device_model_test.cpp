#define CAF_SUITE device_model
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "protocol/seestar.hpp"
#include "sim/device_model.hpp"
#include "sim/sky.hpp"

using namespace scopehub;
using namespace scopehub::sim;

namespace {

/// One event seen by the test: its name, due time and parsed body.
struct seen {
  std::string name;
  double at;
  rapidjson::Document body;
};

struct fixture {
  device_model m;
  std::vector<seen> events;
  double now = 0;

  static device_config config() {
    device_config cfg;
    cfg.seed = 7;
    cfg.temp_drift_c = 0; // quiet PiStatus unless a test wants it
    cfg.battery_drain_pct_per_min = 0;
    cfg.drop_frame_pct = 0;
    return cfg;
  }

  explicit fixture(device_config cfg = config())
    : m(std::move(cfg), [] {
        // A fixed civil time: sidereal time never changes under the test.
        return std::chrono::system_clock::time_point{
          std::chrono::seconds{1700000000}};
      }) {
    // nop
  }

  void collect() {
    for (auto& line : m.take_events()) {
      auto p = protocol::seestar::parse_line(line);
      CAF_REQUIRE(p.kind == protocol::seestar::line_kind::event);
      auto ts = std::stod(p.ev.body["Timestamp"].GetString());
      events.push_back(seen{p.ev.name, ts, std::move(p.ev.body)});
    }
  }

  outcome call(std::string_view method, const char* params_json = "null") {
    rapidjson::Document p;
    p.Parse(params_json);
    CAF_REQUIRE(!p.HasParseError());
    CAF_REQUIRE_EQUAL(normalize_params(p, m.config().firmware_int), 0);
    auto r = m.handle(method, p, now);
    collect();
    return r;
  }

  /// Advances the fake clock to `until` in small steps.
  void run_until(double until, double step = 0.05) {
    while (now < until) {
      now = std::min(until, now + step);
      m.advance(now);
      collect();
    }
  }

  std::vector<const seen*> named(std::string_view name,
                                 std::string_view state = {}) const {
    std::vector<const seen*> out;
    for (auto& e : events)
      if (e.name == name
          && (state.empty()
              || (e.body.HasMember("state")
                  && e.body["state"].GetString() == state)))
        out.push_back(&e);
    return out;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& e : events)
      out.push_back(e.name);
    return out;
  }
};

bool near(double a, double b, double eps = 1e-3) {
  return std::abs(a - b) < eps;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(device_model_tests, fixture)

CAF_TEST(a slew takes distance over five degrees a second with progress) {
  now = 10;
  auto start = m.position(now);
  auto dist = angular_distance_deg(start.ra, start.dec, 6.0, 80.0);
  auto r = call("scope_goto", "[6.0, 80.0]");
  CAF_CHECK_EQUAL(r.code, 0);
  CAF_CHECK(m.slewing());
  CAF_CHECK(!m.parked());
  run_until(10 + dist / 5.0 + 1);
  auto working = named("ScopeGoto", "working");
  auto done = named("ScopeGoto", "complete");
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(near(done[0]->at, 10 + dist / 5.0));
  // One at the start, then every 0.5 s until the end.
  auto expected = 1 + static_cast<size_t>(std::ceil(dist / 5.0 / 0.5)) - 1;
  CAF_CHECK_EQUAL(working.size(), expected);
  double last = 1e9;
  for (auto w : working) {
    auto d = w->body["dist_deg"].GetDouble();
    CAF_CHECK(d <= last + 1e-6); // remaining distance only shrinks
    last = d;
    CAF_CHECK(w->body["cur_ra_dec"].IsArray());
  }
  auto p = m.position(now);
  CAF_CHECK(near(p.ra, 6.0));
  CAF_CHECK(near(p.dec, 80.0));
  CAF_CHECK(!m.slewing());
  CAF_CHECK(m.tracking());
  CAF_CHECK_EQUAL(named("ScopeTrack").size(), 1u);
}

CAF_TEST(a goto while slewing is refused with 203) {
  CAF_CHECK_EQUAL(call("scope_goto", R"({"ra": 6.0, "dec": 60.0})").code, 0);
  run_until(1);
  auto r = call("scope_goto", "[7.0, 70.0]");
  CAF_CHECK_EQUAL(r.code, 203);
  CAF_CHECK_EQUAL(r.error, "equipment is moving");
  r = call("iscope_start_view",
           R"({"mode":"star","target_ra_dec":[7.0,70.0],"target_name":"X"})");
  CAF_CHECK_EQUAL(r.code, 203);
  // scope_move ["none"] aborts the slew with a cancel event.
  CAF_CHECK_EQUAL(call("scope_move", R"(["none"])").code, 0);
  CAF_CHECK(!m.slewing());
  CAF_CHECK_EQUAL(named("ScopeGoto", "cancel").size(), 1u);
}

CAF_TEST(a target below the horizon gives 270 and an alert) {
  auto before = m.position(now);
  auto r = call("scope_goto", "[3.0, -89.0]");
  CAF_CHECK_EQUAL(r.code, 270);
  CAF_CHECK_EQUAL(r.error, "below horizon");
  r = call("iscope_start_view",
           R"({"mode":"star","target_ra_dec":[3.0,-89.0]})");
  CAF_CHECK_EQUAL(r.code, 270);
  auto alerts = named("Alert");
  CAF_REQUIRE_EQUAL(alerts.size(), 2u);
  CAF_CHECK_EQUAL(alerts[0]->body["code"].GetInt(), 270);
  CAF_CHECK(!m.slewing());
  CAF_CHECK(named("ScopeGoto").empty());
  CAF_CHECK(near(m.position(now).dec, before.dec));
}

CAF_TEST(park closes the arm after fifteen seconds) {
  call("scope_move_to_horizon");
  run_until(16);
  CAF_CHECK(!m.parked());
  CAF_CHECK_EQUAL(named("ScopeMoveToHorizon", "complete").size(), 1u);
  now = 20;
  CAF_CHECK_EQUAL(call("scope_park").code, 0);
  auto w = named("ScopeHome", "working");
  CAF_REQUIRE_EQUAL(w.size(), 1u);
  CAF_CHECK_EQUAL(w[0]->body["close"].GetBool(), false);
  run_until(34.9);
  CAF_CHECK(named("ScopeHome", "complete").empty());
  run_until(35.1);
  auto c = named("ScopeHome", "complete");
  CAF_REQUIRE_EQUAL(c.size(), 1u);
  CAF_CHECK(near(c[0]->at, 35));
  CAF_CHECK_EQUAL(c[0]->body["close"].GetBool(), true);
  CAF_CHECK(c[0]->body.HasMember("equ_mode"));
  CAF_CHECK(m.parked());
  // The status mapping sees the arm closed.
  protocol::seestar::event ev;
  ev.name = "ScopeHome";
  ev.body.CopyFrom(c[0]->body, ev.body.GetAllocator());
  auto ds = protocol::seestar::map_event(ev);
  CAF_REQUIRE_EQUAL(ds.size(), 1u);
  CAF_CHECK_EQUAL(ds[0].fields["parked"].GetBool(), true);
}

CAF_TEST(the focuser moves one step per millisecond) {
  auto r = call("move_focuser", R"({"step": 1780, "ret_step": true})");
  CAF_CHECK_EQUAL(r.code, 0);
  CAF_CHECK_EQUAL(r.result["step"].GetInt(), 1580);
  run_until(0.1, 0.01);
  CAF_CHECK(near(m.focuser_position(now), 1680, 2));
  run_until(0.25, 0.01);
  auto done = named("FocuserMove", "complete");
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(near(done[0]->at, 0.2));
  CAF_CHECK_EQUAL(done[0]->body["position"].GetInt(), 1780);
  CAF_CHECK_EQUAL(call("get_focuser_position").result.GetInt(), 1780);
  CAF_CHECK_EQUAL(call("move_focuser", R"({"step": 3000})").code, 207);
  CAF_CHECK_EQUAL(call("move_focuser", R"({"step": "x"})").code, 108);
  CAF_CHECK_EQUAL(call("move_focuser", "[1, 2]").code, 107);
}

CAF_TEST(battery drain reports only integer changes) {
  auto cfg = fixture::config();
  cfg.battery_pct = 95;
  cfg.battery_drain_pct_per_min = 1.0;
  fixture f{cfg};
  f.run_until(10 * 60 + 6, 1.0);
  auto pi = f.named("PiStatus");
  CAF_CHECK_EQUAL(pi.size(), 10u);
  int expect = 94;
  for (auto e : pi) {
    CAF_CHECK(e->body.HasMember("battery_capacity"));
    CAF_CHECK(!e->body.HasMember("temp"));
    CAF_CHECK_EQUAL(e->body["battery_capacity"].GetInt(), expect--);
  }
  CAF_CHECK_EQUAL(f.m.battery_capacity(), 85);
}

CAF_TEST(temperature drift is reported only when it changes) {
  auto cfg = fixture::config();
  cfg.temp_drift_c = 0.3;
  fixture f{cfg};
  f.run_until(300, 1.0);
  auto pi = f.named("PiStatus");
  CAF_CHECK(!pi.empty());
  CAF_CHECK(pi.size() < 60u); // not every 5 s tick
  double last = 42.0;
  for (auto e : pi) {
    auto t = e->body["temp"].GetDouble();
    CAF_CHECK(std::abs(t - last) >= 0.05);
    last = t;
  }
}

CAF_TEST(goto with plate solve follows the event script) {
  auto r = call("iscope_start_view", R"({"mode":"star",)"
                                     R"("target_ra_dec":[6.0,80.0],)"
                                     R"("target_name":"Polaris-ish"})");
  CAF_CHECK_EQUAL(r.code, 0);
  run_until(40, 0.1);
  auto n = names();
  auto pos = [&](std::string_view name, size_t from = 0) {
    for (size_t i = from; i < n.size(); ++i)
      if (n[i] == name) return i;
    return n.size();
  };
  CAF_CHECK_EQUAL(n.front(), "View");
  auto goto_done = named("ScopeGoto", "complete");
  CAF_REQUIRE_EQUAL(goto_done.size(), 1u);
  auto solved = named("PlateSolve", "complete");
  CAF_REQUIRE_EQUAL(solved.size(), 1u);
  CAF_CHECK(solved[0]->at > goto_done[0]->at);
  CAF_CHECK_EQUAL(named("AutoGoto", "complete").size(), 1u);
  CAF_CHECK(pos("AutoGoto") < pos("ScopeGoto"));
  CAF_CHECK(pos("Exposure") < pos("PlateSolve"));
  CAF_CHECK_EQUAL(n.back(), "ContinuousExposure");
  CAF_CHECK_EQUAL(m.view_mode(), "star");
  auto vs = call("get_view_state");
  CAF_CHECK_EQUAL(std::string{vs.result["View"]["stage"].GetString()},
                  "ContinuousExposure");
  CAF_CHECK_EQUAL(std::string{vs.result["View"]["target_name"].GetString()},
                  "Polaris-ish");
}

CAF_TEST(stopping a goto stage aborts it with 253) {
  call("iscope_start_view", R"({"target_ra_dec":[6.0,60.0]})");
  run_until(1);
  CAF_CHECK(m.slewing());
  CAF_CHECK_EQUAL(call("iscope_stop_view", R"({"stage":"AutoGoto"})").code, 0);
  CAF_CHECK(!m.slewing());
  CAF_CHECK_EQUAL(named("ScopeGoto", "cancel").size(), 1u);
  CAF_CHECK_EQUAL(named("AutoGoto", "cancel").size(), 1u);
  auto f = named("PlateSolve", "fail");
  CAF_REQUIRE_EQUAL(f.size(), 1u);
  CAF_CHECK_EQUAL(f[0]->body["code"].GetInt(), 253);
  run_until(60);
  CAF_CHECK(named("ScopeGoto", "complete").empty());
}

CAF_TEST(stacking counts frames at the set exposure and stops cleanly) {
  CAF_CHECK_EQUAL(call("set_setting", R"({"exp_ms":{"stack_l":1000}})").code,
                  0);
  auto s = call("get_setting");
  CAF_CHECK_EQUAL(s.result["exp_ms"]["stack_l"].GetInt(), 1000);
  CAF_CHECK_EQUAL(s.result["exp_ms"]["continuous"].GetInt(), 500);
  CAF_CHECK_EQUAL(call("set_control_value", R"(["gain", 120])").code, 0);
  CAF_CHECK_EQUAL(call("iscope_start_stack", R"({"restart":true})").code, 0);
  CAF_CHECK(m.stacking());
  run_until(7.6, 0.1); // 1 s exposure + 0.5 s stacking per frame
  CAF_CHECK_EQUAL(m.stacked_frames(), 5);
  CAF_CHECK_EQUAL(named("Stack", "frame_complete").size(), 5u);
  auto ex = named("Exposure", "working");
  CAF_REQUIRE(!ex.empty());
  CAF_CHECK_EQUAL(ex[0]->body["exp_ms"].GetInt(), 1000);
  CAF_CHECK_EQUAL(ex[0]->body["gain"].GetInt(), 120);
  CAF_CHECK_EQUAL(call("iscope_stop_view", R"({"stage":"Stack"})").code, 0);
  CAF_CHECK(!m.stacking());
  auto cancel = named("Stack", "cancel");
  CAF_REQUIRE_EQUAL(cancel.size(), 1u);
  CAF_CHECK_EQUAL(cancel[0]->body["stacked_frame"].GetInt(), 5);
  CAF_CHECK_EQUAL(named("Exposure", "fail").size(), 1u);
  CAF_CHECK_EQUAL(named("SaveImage").size(), 1u);
  call("iscope_stop_view");
  CAF_CHECK_EQUAL(m.view_mode(), "none");
  auto v = named("View", "cancel");
  CAF_REQUIRE(!v.empty());
  CAF_CHECK_EQUAL(std::string{v.back()->body["mode"].GetString()}, "none");
}

CAF_TEST(scenery view without target just starts the view) {
  CAF_CHECK_EQUAL(call("iscope_start_view", R"({"mode":"scenery"})").code, 0);
  CAF_REQUIRE_EQUAL(events.size(), 1u);
  CAF_CHECK_EQUAL(events[0].name, "View");
  CAF_CHECK_EQUAL(std::string{events[0].body["mode"].GetString()}, "scenery");
  CAF_CHECK_EQUAL(call("iscope_start_view", R"({"mode":"warp"})").code, 109);
}

CAF_TEST(queries and errors follow the device) {
  CAF_CHECK_EQUAL(std::string{call("test_connection").result.GetString()},
                  "server connected!");
  CAF_CHECK_EQUAL(call("no_such_method").code, 103);
  CAF_CHECK_EQUAL(call("no_such_method").error, "method not found");
  CAF_CHECK_EQUAL(call("get_device_state", "[1]").code, 107);
  CAF_CHECK_EQUAL(call("scope_goto", R"([["a"], 2])").code, 108);
  CAF_CHECK_EQUAL(call("scope_goto", "true").code, 107);
  CAF_CHECK_EQUAL(call("scope_set_track_state", "true").code, 207); // parked
  CAF_CHECK_EQUAL(call("scope_set_track_state", "\"yes\"").code, 109);
  auto ds = call("get_device_state", R"({"keys":["mount","device"]})");
  CAF_CHECK(ds.result.HasMember("mount"));
  CAF_CHECK(!ds.result.HasMember("pi_status"));
  CAF_CHECK_EQUAL(
    std::string{ds.result["device"]["firmware_ver_string"].GetString()},
    "5.82");
  auto full = call("get_device_state");
  auto deltas = protocol::seestar::map_device_state(full.result);
  CAF_CHECK_EQUAL(deltas.size(), 4u);
  auto hz = call("scope_get_horiz_coord");
  CAF_REQUIRE(hz.result.IsArray());
  CAF_CHECK_EQUAL(hz.result.Size(), 2u);
  auto eq = call("scope_get_equ_coord");
  CAF_CHECK(eq.result.HasMember("ra") && eq.result.HasMember("dec"));
  CAF_CHECK(call("pi_get_time").result.HasMember("year"));
  CAF_CHECK_EQUAL(call("get_disk_volume").result["freeMB"].GetInt(), 46854);
}

CAF_TEST(verify markers are stripped or refused by firmware) {
  rapidjson::Document p;
  p.Parse(R"([6.0, 80.0, "verify"])");
  CAF_CHECK_EQUAL(normalize_params(p, 2582), 0);
  CAF_CHECK_EQUAL(p.Size(), 2u);
  p.Parse(R"("verify")");
  CAF_CHECK_EQUAL(normalize_params(p, 2582), 0);
  CAF_CHECK(p.IsNull());
  p.Parse(R"(["verify"])");
  CAF_CHECK_EQUAL(normalize_params(p, 2582), 0);
  CAF_CHECK(p.IsNull());
  p.Parse(R"({"step": 5, "verify": true})");
  CAF_CHECK_EQUAL(normalize_params(p, 2582), 0);
  CAF_CHECK(!p.HasMember("verify"));
  p.Parse(R"({"step": 5, "verify": true})");
  CAF_CHECK_EQUAL(normalize_params(p, 2706), 109);
}

CAF_TEST_FIXTURE_SCOPE_END()
