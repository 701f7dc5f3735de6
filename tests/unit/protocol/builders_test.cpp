#define CAF_SUITE builders
#include "caf/test/unit_test.hpp"

#include <rapidjson/document.h>

#include "protocol/builders.hpp"
#include "protocol/codec.hpp"

using namespace scopehub::protocol;
using caf::term; // for CAF_CHECK_FAILED

CAF_TEST(error frames) {
  stamp s{"s-1", 1640995200000};
  CAF_CHECK_EQUAL(make_error(s, error_code::invalid_json, "not valid JSON"),
                  R"({"id":"s-1","type":"error","timestamp":1640995200000,)"
                  R"("payload":{"error_code":"INVALID_JSON",)"
                  R"("message":"not valid JSON","ref_id":null}})");
  stamp t{"s-2", 5, "ghost"};
  CAF_CHECK_EQUAL(make_error(t, error_code::telescope_not_found,
                             "no such telescope", "c-1", true),
                  R"({"id":"s-2","type":"error","telescope_id":"ghost",)"
                  R"("timestamp":5,"payload":{"error_code":)"
                  R"("TELESCOPE_NOT_FOUND","message":"no such telescope",)"
                  R"("ref_id":"c-1","subscription_kept":true}})");
  auto parsed_err = parse_client_message(R"({"id":"q","type":"nope"})");
  CAF_REQUIRE(!parsed_err.ok());
  CAF_CHECK_EQUAL(make_error(stamp{"s-3", 7}, parsed_err.error()),
                  R"({"id":"s-3","type":"error","timestamp":7,"payload":)"
                  R"({"error_code":"UNKNOWN_TYPE","message":)"
                  R"("type: unknown type \"nope\"","ref_id":"q"}})");
}

CAF_TEST(command responses) {
  stamp s{"r-77", 9, "seestar-001"};
  CAF_CHECK_EQUAL(
    make_command_success(s, "c-42", R"({"status":"movement_completed"})", 3),
    R"({"id":"r-77","type":"command_response","telescope_id":"seestar-001",)"
    R"("timestamp":9,"payload":{"command_id":"c-42","success":true,)"
    R"("result":{"status":"movement_completed"},"error":null,)"
    R"("error_code":null,"duration_ms":3}})");
  CAF_CHECK_EQUAL(
    make_command_failure(s, "c-43", error_code::command_timeout,
                         "deadline passed", R"({"dispatched":false})"),
    R"({"id":"r-77","type":"command_response","telescope_id":"seestar-001",)"
    R"("timestamp":9,"payload":{"command_id":"c-43","success":false,)"
    R"("result":{"dispatched":false},"error":"deadline passed",)"
    R"("error_code":"COMMAND_TIMEOUT"}})");
  command_response dup;
  dup.command_id = "c-1";
  dup.duplicate = true;
  CAF_CHECK_EQUAL(make_command_response(stamp{"r", 1}, dup),
                  R"({"id":"r","type":"command_response","timestamp":1,)"
                  R"("payload":{"command_id":"c-1","success":true,)"
                  R"("result":null,"error":null,"error_code":null,)"
                  R"("duplicate":true}})");
}

CAF_TEST(status updates progress heartbeats and fleet messages) {
  rapidjson::Document status;
  status.Parse(R"({"battery_capacity":85,"temp":23.5})");
  CAF_CHECK_EQUAL(
    make_status_update(stamp{"s-9812", 1640995200000, "seestar-001"},
                       category::system, 34, "e1", status,
                       {"battery_capacity", "temp"}, false),
    R"({"id":"s-9812","type":"status_update","telescope_id":"seestar-001",)"
    R"("timestamp":1640995200000,"payload":{"category":"system","seq":34,)"
    R"("epoch":"e1","status":{"battery_capacity":85,"temp":23.5},)"
    R"("changes":["battery_capacity","temp"],"full_update":false}})");
  CAF_CHECK_EQUAL(make_status_update(stamp{"s", 1, "x"}, category::focus, 2,
                                     "e", status, {}, true, 4),
                  R"({"id":"s","type":"status_update","telescope_id":"x",)"
                  R"("timestamp":1,"payload":{"category":"focus","seq":2,)"
                  R"("epoch":"e","status":{"battery_capacity":85,)"
                  R"("temp":23.5},"changes":[],"full_update":true,)"
                  R"("conflated":4}})");
  CAF_CHECK_EQUAL(make_command_progress(stamp{"p", 2, "x"}, "c-42",
                                        progress_state::working,
                                        R"({"dist_deg":12.5})"),
                  R"({"id":"p","type":"command_progress","telescope_id":"x",)"
                  R"("timestamp":2,"payload":{"command_id":"c-42",)"
                  R"("state":"working","detail":{"dist_deg":12.5}}})");
  server_heartbeat hb{100, "sess-1", 30000, 1, "scopehub/0.1.0", "admin"};
  CAF_CHECK_EQUAL(make_heartbeat(stamp{"h", 100}, hb),
                  R"({"id":"h","type":"heartbeat","timestamp":100,)"
                  R"("payload":{"server_time":100,"session_id":"sess-1",)"
                  R"("heartbeat_interval_ms":30000,"protocol":1,)"
                  R"("server":"scopehub/0.1.0","role":"admin"}})");
  telescope_info info{"s1", "Scope", "S50",   "127.0.0.1",
                      4700, "local", "online"};
  CAF_CHECK_EQUAL(make_telescope_discovered(stamp{"d", 3}, info),
                  R"({"id":"d","type":"telescope_discovered",)"
                  R"("telescope_id":"s1","timestamp":3,"payload":)"
                  R"({"telescope":{"id":"s1","name":"Scope","model":"S50",)"
                  R"("host":"127.0.0.1","port":4700,"node":"local",)"
                  R"("state":"online"}}})");
  CAF_CHECK_EQUAL(make_telescope_lost(stamp{"l", 4, "s1"}, "link down"),
                  R"({"id":"l","type":"telescope_lost","telescope_id":"s1",)"
                  R"("timestamp":4,"payload":{"reason":"link down"}})");
}

CAF_TEST(builder output parses back as a server message) {
  rapidjson::Document status;
  status.Parse(R"({"ra":1})");
  for (const auto& text :
       {make_error(stamp{"a", 1}, error_code::overloaded, "busy"),
        make_command_success(stamp{"b", 2}, "c"),
        make_status_update(stamp{"c", 3, "t"}, category::position, 1, "e",
                           status, {"ra"}, false),
        make_command_progress(stamp{"d", 4}, "c", progress_state::accepted),
        make_telescope_lost(stamp{"e", 5, "t"}, "gone")}) {
    auto back = parse_server_message(text);
    if (!back.ok())
      CAF_CHECK_FAILED(back.error().message << " in " << text);
    else
      CAF_CHECK_EQUAL(serialize(back.value()), text);
  }
}
