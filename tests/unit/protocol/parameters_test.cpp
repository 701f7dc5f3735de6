#define CAF_SUITE parameters
#include "caf/test/unit_test.hpp"

#include <string>

#include <rapidjson/document.h>

#include "protocol/codec.hpp"
#include "protocol/validate.hpp"

using namespace scopehub::protocol;

namespace {

// The error message for `params` of `a`, or "ok".
std::string check(action a, const std::string& params) {
  rapidjson::Document doc;
  doc.Parse(params.c_str());
  if (doc.HasParseError()) return "bad test JSON";
  auto err = validate_parameters(a, doc);
  if (!err) return "ok";
  return std::string{to_string(err->code)} + " " + err->message;
}

std::string batch_of(size_t n) {
  std::string s = R"({"commands":[)";
  for (size_t i = 0; i < n; ++i)
    s += std::string{i > 0 ? "," : ""} + R"({"action":"stop"})";
  return s + "]}";
}

} // namespace

CAF_TEST(goto ra and dec edges) {
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":0,"dec":90})"), "ok");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":23.9999,"dec":-90})"), "ok");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":24,"dec":0})"),
                  "INVALID_PARAMETERS parameters.ra: must be < 24");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":-0.0001,"dec":0})"),
                  "INVALID_PARAMETERS parameters.ra: must be >= 0");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":1,"dec":90.0001})"),
                  "INVALID_PARAMETERS parameters.dec: must be <= 90");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"ra":1,"dec":-90.0001})"),
                  "INVALID_PARAMETERS parameters.dec: must be >= -90");
  CAF_CHECK_EQUAL(check(action::goto_, R"({"dec":1})"),
                  "INVALID_PARAMETERS parameters.ra: is required");
}

CAF_TEST(move duration and speed edges) {
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","duration":1})"),
                  "ok");
  CAF_CHECK_EQUAL(
    check(action::move, R"({"direction":"west","duration":10000})"), "ok");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","duration":0})"),
                  "INVALID_PARAMETERS parameters.duration: must be >= 1");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","duration":10001})"),
                  "INVALID_PARAMETERS parameters.duration: must be <= 10000");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"stop","speed":1})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","speed":100})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","speed":0})"),
                  "INVALID_PARAMETERS parameters.speed: must be >= 1");
  CAF_CHECK_EQUAL(check(action::move, R"({"direction":"up","speed":101})"),
                  "INVALID_PARAMETERS parameters.speed: must be <= 100");
  CAF_CHECK_EQUAL(check(action::move, R"({})"),
                  "INVALID_PARAMETERS parameters.direction: is required");
  for (auto d : {"up", "down", "left", "right", "north", "south", "east",
                 "west", "stop"})
    CAF_CHECK_EQUAL(
      check(action::move, std::string{R"({"direction":")"} + d + R"("})"),
      "ok");
}

CAF_TEST(focus edges) {
  CAF_CHECK_EQUAL(check(action::focus, R"({"position":0})"), "ok");
  CAF_CHECK_EQUAL(check(action::focus, R"({"position":2600})"), "ok");
  CAF_CHECK_EQUAL(check(action::focus, R"({"position":-1})"),
                  "INVALID_PARAMETERS parameters.position: must be >= 0");
  CAF_CHECK_EQUAL(check(action::focus, R"({"position":2601})"),
                  "INVALID_PARAMETERS parameters.position: must be <= 2600");
  CAF_CHECK_EQUAL(check(action::focus_increment, R"({"increment":-1000})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::focus_increment, R"({"increment":1000})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::focus_increment, R"({"increment":-1001})"),
                  "INVALID_PARAMETERS parameters.increment: must be >= -1000");
  CAF_CHECK_EQUAL(check(action::focus_increment, R"({"increment":1001})"),
                  "INVALID_PARAMETERS parameters.increment: must be <= 1000");
}

CAF_TEST(gain and exposure edges) {
  CAF_CHECK_EQUAL(check(action::set_gain, R"({"gain":0})"), "ok");
  CAF_CHECK_EQUAL(check(action::set_gain, R"({"gain":200})"), "ok");
  CAF_CHECK_EQUAL(check(action::set_gain, R"({"gain":-1})"),
                  "INVALID_PARAMETERS parameters.gain: must be >= 0");
  CAF_CHECK_EQUAL(check(action::set_gain, R"({"gain":201})"),
                  "INVALID_PARAMETERS parameters.gain: must be <= 200");
  CAF_CHECK_EQUAL(check(action::set_exposure, R"({"exposure_ms":1})"), "ok");
  CAF_CHECK_EQUAL(check(action::set_exposure, R"({"exposure_ms":600000})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::set_exposure, R"({"exposure_ms":0})"),
                  "INVALID_PARAMETERS parameters.exposure_ms: must be >= 1");
  CAF_CHECK_EQUAL(
    check(action::set_exposure, R"({"exposure_ms":600001})"),
    "INVALID_PARAMETERS parameters.exposure_ms: must be <= 600000");
  CAF_CHECK_EQUAL(check(action::start_imaging, R"({})"), "ok");
  CAF_CHECK_EQUAL(
    check(action::start_imaging, R"({"target_name":"M31","exposure_ms":1})"),
    "ok");
}

CAF_TEST(other actions) {
  for (auto a : {action::stop, action::park, action::stop_imaging,
                 action::get_image_enhancement, action::get_status,
                 action::release_control, action::reboot,
                 action::acquire_control, action::scenery})
    CAF_CHECK_EQUAL(check(a, "{}"), "ok");
  CAF_CHECK_EQUAL(check(action::scenery, R"({"mode":"sun"})"), "ok");
  CAF_CHECK_EQUAL(check(action::get_status, R"({"categories":["focus"]})"),
                  "ok");
  CAF_CHECK_EQUAL(check(action::cancel, R"({"command_id":"c-1"})"), "ok");
  CAF_CHECK_EQUAL(check(action::cancel, R"({"command_id":""})"),
                  "INVALID_PARAMETERS parameters.command_id: must not be "
                  "empty");
  CAF_CHECK_EQUAL(check(action::acquire_control, R"({"ttl_ms":1000})"), "ok");
  CAF_CHECK_EQUAL(
    check(action::set_image_enhancement, R"({"denoise":true,"dehaze":2})"),
    "ok");
  CAF_CHECK_EQUAL(check(action::stop, "[]"),
                  "INVALID_PARAMETERS parameters: must be an object");
}

CAF_TEST(batch size edges and step checks) {
  CAF_CHECK_EQUAL(check(action::batch, batch_of(1)), "ok");
  CAF_CHECK_EQUAL(check(action::batch, batch_of(32)), "ok");
  CAF_CHECK_EQUAL(check(action::batch, batch_of(33)),
                  "INVALID_PARAMETERS parameters.commands: must have at most "
                  "32 items");
  CAF_CHECK_EQUAL(
    check(action::batch,
          R"({"commands":[{"action":"stop"},{"action":"move","parameters":)"
          R"({"direction":"up","duration":0}}]})"),
    "INVALID_PARAMETERS parameters.commands[1].parameters.duration: must be "
    ">= 1");
  CAF_CHECK_EQUAL(check(action::batch, R"({"commands":[{"action":"nap"}]})"),
                  R"(UNKNOWN_ACTION parameters.commands[0].action: unknown )"
                  R"(action "nap")");
  CAF_CHECK_EQUAL(check(action::batch, R"({"commands":[{"action":"batch"}]})"),
                  "INVALID_PARAMETERS parameters.commands[0].action: a batch "
                  "cannot contain a batch");
  CAF_CHECK_EQUAL(check(action::batch, R"({"commands":[{"action":"goto"}]})"),
                  "INVALID_PARAMETERS parameters.commands[0].parameters.ra: "
                  "is required");
}

CAF_TEST(validate_parameters takes a path and leaves the value alone) {
  rapidjson::Document doc;
  doc.Parse(R"({"direction":"up"})");
  CAF_CHECK(!validate_parameters(action::move, doc, "body.parameters"));
  CAF_CHECK(!doc.HasMember("duration"));
  doc.Parse(R"({"direction":"up","speed":0})");
  auto err = validate_parameters(action::move, doc, "body.parameters");
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(err->message, "body.parameters.speed: must be >= 1");
  CAF_CHECK(!err->ref_id);
  doc.Parse(R"({"direction":"up"})");
  CAF_CHECK(!normalize_parameters(action::move, doc, doc.GetAllocator()));
  CAF_CHECK_EQUAL(doc["duration"].GetInt(), 1000);
  CAF_CHECK_EQUAL(doc["speed"].GetInt(), 100);
}

CAF_TEST(timeout_ms edges through whole frames) {
  auto frame = [](const std::string& timeout) {
    return R"({"id":"t","type":"control_command","payload":{"action":"stop",)"
           R"("timeout_ms":)"
           + timeout + "}}";
  };
  CAF_CHECK(parse_client_message(frame("1")).ok());
  CAF_CHECK(parse_client_message(frame("120000")).ok());
  auto high = parse_client_message(frame("120001"));
  CAF_REQUIRE(!high.ok());
  CAF_CHECK_EQUAL(high.error().message,
                  "payload.timeout_ms: must be <= 120000");
  auto zero = parse_client_message(frame("0"));
  CAF_REQUIRE(!zero.ok());
  CAF_CHECK_EQUAL(zero.error().message, "payload.timeout_ms: must be >= 1");
}

CAF_TEST(the schema registry knows every action) {
  rapidjson::Document empty{rapidjson::kObjectType};
  for (auto a : all_actions()) {
    auto err = validate_parameters(a, empty);
    // Some actions require parameters; none may lack a schema.
    if (err)
      CAF_CHECK_NOT_EQUAL(static_cast<int>(err->code),
                          static_cast<int>(error_code::internal));
  }
  auto err = check_schema("parameters/nope", empty, "", error_code::internal);
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(err->message, "no schema named parameters/nope");
}
