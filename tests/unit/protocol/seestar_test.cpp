#define CAF_SUITE seestar
#include "caf/test/unit_test.hpp"

#include <string>
#include <vector>

#include "protocol/seestar.hpp"

using namespace scopehub::protocol;
using namespace scopehub::protocol::seestar;

namespace {

struct framer_run {
  std::vector<std::string> lines;
  std::vector<size_t> overflows;

  void feed(line_framer& f, std::string_view bytes) {
    f.feed(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
      [this](std::string_view l) { lines.emplace_back(l); },
      [this](size_t n) { overflows.push_back(n); });
  }
};

/// The deltas of one category, or nullptr.
const rapidjson::Value* fields_of(const std::vector<status_delta>& ds,
                                  category cat) {
  for (auto& d : ds)
    if (d.cat == cat) return &d.fields;
  return nullptr;
}

std::vector<status_delta> map_line(std::string_view line) {
  auto p = parse_line(line);
  CAF_REQUIRE(p.kind == line_kind::event);
  return map_event(p.ev);
}

} // namespace

CAF_TEST(framer splits merged lines and joins split ones) {
  line_framer f;
  framer_run r;
  r.feed(f, "{\"a\":1}\r\n{\"b\":2}\r\n{\"c\"");
  CAF_CHECK_EQUAL(r.lines.size(), 2u);
  CAF_CHECK_EQUAL(f.buffered(), 4u);
  r.feed(f, ":3}\r");
  CAF_CHECK_EQUAL(r.lines.size(), 2u);
  r.feed(f, "\n\r\n\n{\"d\":4}\n");
  CAF_REQUIRE_EQUAL(r.lines.size(), 4u);
  CAF_CHECK_EQUAL(r.lines[0], "{\"a\":1}");
  CAF_CHECK_EQUAL(r.lines[1], "{\"b\":2}");
  CAF_CHECK_EQUAL(r.lines[2], "{\"c\":3}");
  CAF_CHECK_EQUAL(r.lines[3], "{\"d\":4}");
  CAF_CHECK_EQUAL(f.buffered(), 0u);
  CAF_CHECK(r.overflows.empty());
}

CAF_TEST(framer feeds byte by byte) {
  line_framer f;
  framer_run r;
  std::string in = "{\"x\":1}\r\n{\"y\":2}\r\n";
  for (char c : in)
    r.feed(f, std::string_view{&c, 1});
  CAF_REQUIRE_EQUAL(r.lines.size(), 2u);
  CAF_CHECK_EQUAL(r.lines[1], "{\"y\":2}");
}

CAF_TEST(overlong line is reported once and framing resumes) {
  line_framer f{8};
  framer_run r;
  r.feed(f, "ok\r\n0123456789");
  CAF_CHECK_EQUAL(r.overflows.size(), 1u);
  r.feed(f, "abcdefghijklmnop");
  r.feed(f, "qrstuvwxyz");
  CAF_CHECK_EQUAL(r.overflows.size(), 1u);
  r.feed(f, "xyz\r\nnext\r\n");
  CAF_CHECK_EQUAL(r.overflows.size(), 1u);
  CAF_REQUIRE_EQUAL(r.lines.size(), 2u);
  CAF_CHECK_EQUAL(r.lines[0], "ok");
  CAF_CHECK_EQUAL(r.lines[1], "next");
  // Overlong within one read, and exactly max_line is fine.
  r.feed(f, "0123456789abc\r\n01234567\r\n");
  CAF_CHECK_EQUAL(r.overflows.size(), 2u);
  CAF_REQUIRE_EQUAL(r.lines.size(), 3u);
  CAF_CHECK_EQUAL(r.lines[2], "01234567");
  f.reset();
  CAF_CHECK_EQUAL(f.buffered(), 0u);
}

CAF_TEST(garbage lines are invalid and never throw) {
  for (auto bad : {"not json", "[1,2]", "{\"foo\":1}", "{\"Event\":5}",
                   "{\"id\":\"x\",\"jsonrpc\":\"2.0\"}", "{\"id\":1",
                   "\xff\xfe", "", "{\"id\":1,\"code\":\"0\"}"}) {
    auto p = parse_line(bad);
    CAF_CHECK(p.kind == line_kind::invalid);
    CAF_CHECK(!p.problem.empty());
  }
}

CAF_TEST(make request builds one terminated line) {
  CAF_CHECK_EQUAL(make_request(10001, "scope_get_equ_coord"),
                  "{\"id\":10001,\"method\":\"scope_get_equ_coord\"}\r\n");
  CAF_CHECK_EQUAL(make_request(7, "scope_set_track_state", "true"),
                  "{\"id\":7,\"method\":\"scope_set_track_state\","
                  "\"params\":true}\r\n");
  auto line = make_request(8, "iscope_stop_view", "{\"stage\":\"Stack\"}");
  auto p = parse_line(std::string_view{line}.substr(0, line.size() - 2));
  // A request has neither jsonrpc nor code: not a response.
  CAF_CHECK(p.kind == line_kind::invalid);
  id_generator ids;
  CAF_CHECK_EQUAL(ids.next(), 10000);
  CAF_CHECK_EQUAL(ids.next(), 10001);
}

CAF_TEST(responses carry results of every type) {
  auto p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"9507.244805160",)"
                      R"("method":"scope_get_equ_coord",)"
                      R"("result":{"ra":17.093056,"dec":34.349722},)"
                      R"("code":0,"id":83})");
  CAF_REQUIRE(p.kind == line_kind::response);
  CAF_CHECK_EQUAL(p.resp.id, 83);
  CAF_CHECK_EQUAL(p.resp.method, "scope_get_equ_coord");
  CAF_CHECK_EQUAL(p.resp.code, 0);
  CAF_CHECK(p.resp.result.IsObject());
  CAF_CHECK_EQUAL(p.resp.result["dec"].GetDouble(), 34.349722);
  p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"1.0","method":)"
                 R"("scope_get_horiz_coord","result":[45.5,120.25],)"
                 R"("code":0,"id":2})");
  CAF_REQUIRE(p.kind == line_kind::response);
  CAF_CHECK(p.resp.result.IsArray());
  p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"1.0","method":)"
                 R"("get_focuser_position","result":1605,"code":0,"id":3})");
  CAF_REQUIRE(p.kind == line_kind::response);
  CAF_CHECK_EQUAL(p.resp.result.GetInt(), 1605);
  p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"1.0","method":)"
                 R"("pi_is_verified","result":true,"code":0,"id":4})");
  CAF_CHECK(p.resp.result.IsBool());
  p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"1.0","method":)"
                 R"("test_connection","result":"server connected!",)"
                 R"("code":0,"id":5})");
  CAF_CHECK_EQUAL(std::string{p.resp.result.GetString()}, "server connected!");
  p = parse_line(R"({"jsonrpc":"2.0","Timestamp":"3957.619006162",)"
                 R"("method":"get_last_solve_result","error":"no solve data",)"
                 R"("code":215,"id":1})");
  CAF_REQUIRE(p.kind == line_kind::response);
  CAF_CHECK_EQUAL(p.resp.code, 215);
  CAF_CHECK_EQUAL(p.resp.error, "no solve data");
  CAF_CHECK(p.resp.result.IsNull());
  p = parse_line(R"({"jsonrpc":"2.0","method":"x","code":270,"id":6})");
  CAF_CHECK_EQUAL(p.resp.error, "below horizon");
}

CAF_TEST(events are told apart from responses by shape) {
  auto p = parse_line(R"({"Event":"PiStatus","Timestamp":"4515.241781720",)"
                      R"("temp":44.5})");
  CAF_REQUIRE(p.kind == line_kind::event);
  CAF_CHECK_EQUAL(p.ev.name, "PiStatus");
  CAF_CHECK(p.ev.body.HasMember("Timestamp"));
}

CAF_TEST(pi status maps to system fields that are present) {
  auto ds = map_line(R"({"Event":"PiStatus","Timestamp":"1.0","temp":44.5,)"
                     R"("battery_capacity":87,"charger_status":"Charging",)"
                     R"("battery_temp":30})");
  auto f = fields_of(ds, category::system);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL((*f)["temp"].GetDouble(), 44.5);
  CAF_CHECK_EQUAL((*f)["battery_capacity"].GetInt(), 87);
  CAF_CHECK_EQUAL(std::string{(*f)["charger_status"].GetString()}, "Charging");
  CAF_CHECK(!f->HasMember("battery_temp"));
  CAF_CHECK(map_line(R"({"Event":"PiStatus","is_overtemp":false})").empty());
}

CAF_TEST(scope goto maps to position and slewing) {
  auto ds = map_line(R"({"Event":"ScopeGoto","Timestamp":"1162.789215939",)"
                     R"("state":"working","lapse_ms":0,)"
                     R"("cur_ra_dec":[21.100833,4.908333],)"
                     R"("dist_deg":100.180442,"route":["View","AutoGoto"]})");
  auto f = fields_of(ds, category::position);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL((*f)["ra"].GetDouble(), 21.100833);
  CAF_CHECK_EQUAL((*f)["dec"].GetDouble(), 4.908333);
  CAF_CHECK_EQUAL((*f)["slewing"].GetBool(), true);
  for (auto st : {"complete", "fail", "cancel"}) {
    auto line = std::string{R"({"Event":"ScopeGoto","state":")"} + st + "\"}";
    auto g = map_line(line);
    auto p = fields_of(g, category::position);
    CAF_REQUIRE(p != nullptr);
    CAF_CHECK_EQUAL((*p)["slewing"].GetBool(), false);
  }
}

CAF_TEST(track home and focuser events map to their categories) {
  auto ds = map_line(R"({"Event":"ScopeTrack","state":"on","tracking":true,)"
                     R"("manual":false})");
  CAF_CHECK_EQUAL((*fields_of(ds, category::position))["tracking"].GetBool(),
                  true);
  ds = map_line(R"({"Event":"ScopeHome","state":"working","close":false})");
  auto f = fields_of(ds, category::position);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL((*f)["parked"].GetBool(), false);
  CAF_CHECK_EQUAL((*f)["slewing"].GetBool(), true);
  ds = map_line(R"({"Event":"ScopeHome","state":"complete","close":true,)"
                R"("equ_mode":false})");
  f = fields_of(ds, category::position);
  CAF_CHECK_EQUAL((*f)["parked"].GetBool(), true);
  CAF_CHECK_EQUAL((*f)["slewing"].GetBool(), false);
  ds = map_line(R"({"Event":"FocuserMove","state":"complete",)"
                R"("position":1605,"lapse_ms":300})");
  f = fields_of(ds, category::focus);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL((*f)["focus_position"].GetInt(), 1605);
  CAF_CHECK_EQUAL((*f)["focuser_moving"].GetBool(), false);
}

CAF_TEST(view stack and exposure events map to imaging) {
  auto ds = map_line(R"({"Event":"View","state":"working","mode":"star",)"
                     R"("target_name":"M31","target_ra_dec":[0.7,41.2]})");
  auto f = fields_of(ds, category::imaging);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL(std::string{(*f)["view_state"].GetString()}, "star");
  CAF_CHECK_EQUAL(std::string{(*f)["target_name"].GetString()}, "M31");
  ds = map_line(R"({"Event":"View","state":"cancel","mode":"none"})");
  f = fields_of(ds, category::imaging);
  CAF_CHECK_EQUAL(std::string{(*f)["view_state"].GetString()}, "idle");
  ds = map_line(R"({"Event":"View","state":"working","mode":"solar_sys",)"
                R"("target_type":"moon"})");
  f = fields_of(ds, category::imaging);
  CAF_CHECK_EQUAL(std::string{(*f)["view_state"].GetString()}, "moon");
  ds = map_line(R"({"Event":"Stack","state":"working","stacked_frame":12,)"
                R"("dropped_frame":1,"frame_errcode":-1})");
  f = fields_of(ds, category::imaging);
  CAF_CHECK_EQUAL((*f)["stacked_frames"].GetInt(), 12);
  CAF_CHECK_EQUAL((*f)["dropped_frames"].GetInt(), 1);
  CAF_CHECK_EQUAL(std::string{(*f)["view_state"].GetString()}, "stacking");
  ds = map_line(R"({"Event":"Exposure","state":"working","exp_ms":10000,)"
                R"("route":["View","Stack"]})");
  f = fields_of(ds, category::imaging);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK_EQUAL((*f)["exposure_ms"].GetInt(), 10000);
  // The 2 s plate-solve exposure of a goto is not the user's setting.
  CAF_CHECK(map_line(R"({"Event":"Exposure","state":"working",)"
                     R"("exp_ms":2000,"route":["View","AutoGoto"]})")
              .empty());
  CAF_CHECK(map_line(R"({"Event":"DarkLibrary","percent":10})").empty());
}

CAF_TEST(device state maps to every category it covers) {
  rapidjson::Document d;
  d.Parse(R"({"device":{"name":"ASI AIR imager","firmware_ver_int":2582,)"
          R"("firmware_ver_string":"5.82","product_model":"Seestar S50"},)"
          R"("setting":{"exp_ms":{"stack_l":10000,"continuous":500},)"
          R"("gain":80},"focuser":{"state":"idle","max_step":2600,)"
          R"("step":1580},"mount":{"move_type":"none","close":true,)"
          R"("tracking":false,"equ_mode":false},)"
          R"("pi_status":{"temp":41.2,"battery_capacity":95,)"
          R"("charger_status":"Discharging"},"storage":{"cur_storage":)"
          R"("emmc","storage_volume":[{"name":"emmc","freeMB":46854}]}})");
  CAF_REQUIRE(!d.HasParseError());
  auto ds = map_device_state(d);
  CAF_CHECK_EQUAL(ds.size(), 4u);
  auto pos = fields_of(ds, category::position);
  CAF_REQUIRE(pos != nullptr);
  CAF_CHECK_EQUAL((*pos)["parked"].GetBool(), true);
  CAF_CHECK_EQUAL((*pos)["tracking"].GetBool(), false);
  auto foc = fields_of(ds, category::focus);
  CAF_CHECK_EQUAL((*foc)["focus_position"].GetInt(), 1580);
  auto img = fields_of(ds, category::imaging);
  CAF_CHECK_EQUAL((*img)["exposure_ms"].GetInt(), 10000);
  CAF_CHECK_EQUAL((*img)["gain"].GetInt(), 80);
  auto sys = fields_of(ds, category::system);
  CAF_REQUIRE(sys != nullptr);
  CAF_CHECK_EQUAL(std::string{(*sys)["firmware"].GetString()}, "5.82");
  CAF_CHECK_EQUAL(std::string{(*sys)["model"].GetString()}, "Seestar S50");
  CAF_CHECK_EQUAL((*sys)["battery_capacity"].GetInt(), 95);
  CAF_CHECK_EQUAL((*sys)["free_storage_mb"].GetInt(), 46854);
  rapidjson::Document partial;
  partial.Parse(R"({"mount":{"close":false}})");
  CAF_CHECK_EQUAL(map_device_state(partial).size(), 1u);
  CAF_CHECK(map_device_state(rapidjson::Value{5}).empty());
}

CAF_TEST(device error codes map to text and protocol errors) {
  CAF_CHECK_EQUAL(device_error_text(270), "below horizon");
  CAF_CHECK_EQUAL(device_error_text(103), "method not found");
  CAF_CHECK_EQUAL(device_error_text(203), "equipment is moving");
  CAF_CHECK_EQUAL(device_error_text(42), "device error 42");
  CAF_CHECK(to_protocol_error(203) == error_code::telescope_busy);
  for (int c : {103, 107, 108, 109})
    CAF_CHECK(to_protocol_error(c) == error_code::internal);
  CAF_CHECK(to_protocol_error(270) == error_code::invalid_parameters);
  CAF_CHECK(to_protocol_error(207) == error_code::device_error);
  CAF_CHECK(to_protocol_error(501) == error_code::device_error);
}
