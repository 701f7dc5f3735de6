#define CAF_SUITE bad_frames
#include "caf/test/unit_test.hpp"

#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.hpp"

using namespace scopehub::protocol;
using caf::term; // for CAF_CHECK_FAILED

namespace {

// One rejected frame: what the client sent and what it must get back.
struct bad_frame {
  std::string text;
  error_code code;
  std::optional<std::string> ref_id;
  std::string message; // exact when `exact`, else a substring
  bool exact = true;
};

const std::optional<std::string> no_ref;

std::string cmd(std::string_view action, std::string_view params) {
  return R"({"id":"c1","type":"control_command","telescope_id":"s1",)"
         R"("payload":{"action":")"
         + std::string{action} + R"(","parameters":)" + std::string{params}
         + "}}";
}

std::string sub(std::string_view payload) {
  return R"({"id":"c1","type":"subscribe","payload":)" + std::string{payload}
         + "}";
}

std::string nested_arrays(size_t n) {
  return std::string(n, '[') + std::string(n, ']');
}

std::string step(std::string_view action, std::string_view params) {
  return R"({"action":")" + std::string{action} + R"(","parameters":)"
         + std::string{params} + "}";
}

std::string steps(size_t n) {
  std::string list = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) list += ',';
    list += step("stop", "{}");
  }
  return R"({"commands":)" + list + "]}";
}

const std::string id129(129, 'x');
const std::string name129(129, 'n');
const std::string tid65(65, 't');

std::vector<bad_frame> table() {
  using ec = error_code;
  auto J = ec::invalid_json;
  auto M = ec::invalid_message;
  auto T = ec::unknown_type;
  auto A = ec::unknown_action;
  auto P = ec::invalid_parameters;
  std::optional<std::string> c1{"c1"};
  std::optional<std::string> a{"a"};
  return {
    // -- INVALID_JSON: not JSON, not an object, not UTF-8, too deep ---------
    {"", J, no_ref, "empty frame"},
    {"   ", J, no_ref, "not valid JSON: The document is empty (at byte 3)"},
    {"not json", J, no_ref, "not valid JSON: Invalid value (at byte 1)"},
    {"[1,2]", J, no_ref, "a frame must be a JSON object"},
    {R"("hello")", J, no_ref, "a frame must be a JSON object"},
    {"42", J, no_ref, "a frame must be a JSON object"},
    {"null", J, no_ref, "a frame must be a JSON object"},
    {R"({"id":"a","type":"heartbeat")", J, no_ref, "not valid JSON", false},
    {R"({"id":"a","type":"heartbeat"} x)", J, no_ref,
     "not valid JSON: The document root must not be followed by other values",
     false},
    {R"({"id":"a","type":"heartbeat",})", J, no_ref, "not valid JSON", false},
    {R"({'id':'a'})", J, no_ref, "not valid JSON", false},
    {"{\"id\":\"a\xff\",\"type\":\"heartbeat\"}", J, no_ref,
     "not valid JSON: Invalid encoding in string", false},
    {"{\"id\":\"a\xc0\xaf\",\"type\":\"heartbeat\"}", J, no_ref,
     "Invalid encoding in string", false},
    {"{\"id\":\"a\",\"type\":\"heartbeat\",\"payload\":{\"x\":\"\xed\xa0\x80"
     "\"}}",
     J, no_ref, "Invalid encoding in string", false},
    {R"({"id":"a\ud800","type":"heartbeat"})", J, no_ref, "surrogate", false},
    {R"({"id":"a\udc81","type":"heartbeat"})", J, no_ref,
     "not valid JSON: a \\u escape encodes a lone surrogate"},
    {R"({"id":"a","type":"heartbeat","telescope_id":"s\ude81x"})", J, no_ref,
     "not valid JSON: a \\u escape encodes a lone surrogate"},
    {R"({"id":"a","type":"heartbeat","timestamp":NaN})", J, no_ref,
     "not valid JSON", false},
    {cmd("goto", R"({"ra":1e400,"dec":0})"), J, no_ref,
     "not valid JSON: Number too big to be stored in double", false},
    {nested_arrays(100000), J, no_ref, "nesting deeper than 32 levels"},
    {R"({"id":"a","type":"heartbeat","payload":{"x":)" + nested_arrays(31)
       + "}}",
     J, no_ref, "nesting deeper than 32 levels"},
    {R"({"id":"a","type":"heartbeat","payload":{"s":"]]]]","x":)"
       + nested_arrays(31) + "}}",
     J, no_ref, "nesting deeper than 32 levels"},
    // -- INVALID_MESSAGE: envelope ---------------------------------------
    {R"({"type":"heartbeat"})", M, no_ref, "id: is required"},
    {R"({"id":17,"type":"heartbeat"})", M, no_ref, "id: must be a string"},
    {R"({"id":null,"type":"heartbeat"})", M, no_ref, "id: must be a string"},
    {R"({"id":"","type":"heartbeat"})", M, std::string{},
     "id: must not be empty"},
    {R"({"id":")" + id129 + R"(","type":"heartbeat"})", M, id129,
     "id: must be at most 128 characters"},
    {R"({"id":"a"})", M, a, "type: is required"},
    {R"({"id":"a","type":5})", M, a, "type: must be a string"},
    {R"({"id":"a","type":"heartbeat","telescope_id":"bad id"})", M, a,
     "telescope_id: must match [A-Za-z0-9._-]{1,64}"},
    {R"({"id":"a","type":"heartbeat","telescope_id":")" + tid65 + R"("})", M, a,
     "telescope_id: must match [A-Za-z0-9._-]{1,64}"},
    {R"({"id":"a","type":"heartbeat","telescope_id":""})", M, a,
     "telescope_id: must match [A-Za-z0-9._-]{1,64}"},
    {R"({"id":"a","type":"heartbeat","telescope_id":7})", M, a,
     "telescope_id: must be a string or null"},
    {R"({"id":"a","type":"heartbeat","timestamp":"now"})", M, a,
     "timestamp: must be an integer"},
    {R"({"id":"a","type":"heartbeat","timestamp":1.5})", M, a,
     "timestamp: must be an integer"},
    {R"({"id":"a","type":"heartbeat","timestamp":-1})", M, a,
     "timestamp: must be >= 0"},
    {R"({"id":"a","type":"heartbeat","timestamp":18446744073709551615})", M, a,
     "timestamp: is out of range"},
    {R"({"id":"a","type":"heartbeat","timestamp":99999999999999999999})", M, a,
     "timestamp: is out of range"},
    {R"({"id":"a","type":"heartbeat","payload":[]})", M, a,
     "payload: must be an object"},
    {R"({"id":"a","type":"heartbeat","payload":null})", M, a,
     "payload: must be an object"},
    // -- INVALID_MESSAGE: duplicate keys -----------------------------------
    {R"({"id":"a","type":"heartbeat","type":"heartbeat"})", M, a,
     "type: duplicate field"},
    {R"({"id":"a","id":"b","type":"heartbeat"})", M, no_ref,
     "id: duplicate field"},
    {cmd("goto", R"({"ra":1,"dec":2,"dec":3})"), M, c1,
     "payload.parameters.dec: duplicate field"},
    {R"({"id":"a","type":"heartbeat","payload":{"x":[1,{"k":1,"k":2}]}})", M, a,
     "payload.x[1].k: duplicate field"},
    // -- INVALID_MESSAGE: payloads ----------------------------------------
    {R"({"id":"c1","type":"control_command","payload":{}})", M, c1,
     "payload.action: is required"},
    {R"({"id":"c1","type":"control_command"})", M, c1,
     "payload.action: is required"},
    {R"({"id":"c1","type":"control_command","payload":{"action":7}})", M, c1,
     "payload.action: must be a string"},
    {R"({"id":"c1","type":"control_command","payload":{"action":"stop",)"
     R"("response_expected":"yes"}})",
     M, c1, "payload.response_expected: must be a boolean"},
    {R"({"id":"c1","type":"control_command","payload":{"action":"stop",)"
     R"("timeout_ms":0}})",
     M, c1, "payload.timeout_ms: must be >= 1"},
    {R"({"id":"c1","type":"control_command","payload":{"action":"stop",)"
     R"("timeout_ms":120001}})",
     M, c1, "payload.timeout_ms: must be <= 120000"},
    {R"({"id":"c1","type":"control_command","payload":{"action":"stop",)"
     R"("timeout_ms":"5"}})",
     M, c1, "payload.timeout_ms: must be an integer"},
    {sub(R"({"subscription_types":"all"})"), M, c1,
     "payload.subscription_types: must be an array"},
    {sub(R"({"subscription_types":[]})"), M, c1,
     "payload.subscription_types: must not be empty"},
    {sub(R"({"subscription_types":["weather"]})"), M, c1,
     R"(payload.subscription_types[0]: must be one of "all", "status", )"
     R"("position", "focus", "imaging", "system")"},
    {sub(R"({"resume_from":{"position":-1}})"), M, c1,
     "payload.resume_from.position: must be >= 0"},
    {sub(R"({"resume_from":5})"), M, c1,
     "payload.resume_from: must be an object"},
    {sub(R"({"telescope_pattern":"site a*"})"), M, c1,
     "payload.telescope_pattern: must match [A-Za-z0-9._*?-]{1,64}"},
    {R"({"id":"c1","type":"subscribe","telescope_id":"s1",)"
     R"("payload":{"telescope_pattern":"s*"}})",
     M, c1, "payload.telescope_pattern: cannot be combined with telescope_id"},
    {R"({"id":"c1","type":"unsubscribe","payload":{"subscription_types":[1]}})",
     M, c1, "payload.subscription_types[0]: must be one of", false},
    // -- UNKNOWN_TYPE -------------------------------------------------------
    {R"({"id":"a","type":"teleport"})", T, a,
     R"(type: unknown type "teleport")"},
    {R"({"id":"a","type":""})", T, a, R"(type: unknown type "")"},
    {R"({"id":"a","type":"Heartbeat"})", T, a,
     R"(type: unknown type "Heartbeat")"},
    {R"({"id":"a","type":"status_update"})", T, a,
     R"(type: unknown type "status_update" (not accepted from clients))"},
    {R"({"id":"a","type":"error"})", T, a,
     R"(type: unknown type "error" (not accepted from clients))"},
    // -- UNKNOWN_ACTION -----------------------------------------------------
    {cmd("fly", "{}"), A, c1, R"(payload.action: unknown action "fly")"},
    {cmd("GOTO", "{}"), A, c1, R"(payload.action: unknown action "GOTO")"},
    {cmd("", "{}"), A, c1, R"(payload.action: unknown action "")"},
    {cmd("batch", R"({"commands":[)" + step("stop", "{}") + ","
                    + step("fly", "{}") + "]}"),
     A, c1, R"(payload.parameters.commands[1].action: unknown action "fly")"},
    // -- INVALID_PARAMETERS ---------------------------------------------------
    {cmd("goto", R"({"ra":1})"), P, c1, "payload.parameters.dec: is required"},
    {cmd("goto", R"({"ra":1,"dec":90.0001})"), P, c1,
     "payload.parameters.dec: must be <= 90"},
    {cmd("goto", R"({"ra":24,"dec":0})"), P, c1,
     "payload.parameters.ra: must be < 24"},
    {cmd("goto", R"({"ra":"5h","dec":0})"), P, c1,
     "payload.parameters.ra: must be a number"},
    {cmd("goto", R"({"ra":1,"dec":0,"target_name":")" + name129 + R"("})"), P,
     c1, "payload.parameters.target_name: must be at most 128 characters"},
    {cmd("goto", R"("x")"), P, c1, "payload.parameters: must be an object"},
    {cmd("goto", "null"), P, c1, "payload.parameters: must be an object"},
    {cmd("move", R"({"direction":"sideways"})"), P, c1,
     R"(payload.parameters.direction: must be one of "up", "down", "left", )"
     R"("right", "north", "south", "east", "west", "stop")"},
    {cmd("move", R"({"direction":"up","duration":1.5})"), P, c1,
     "payload.parameters.duration: must be an integer"},
    {cmd("move", R"({"direction":"up","speed":101})"), P, c1,
     "payload.parameters.speed: must be <= 100"},
    {cmd("focus", R"({"position":2601})"), P, c1,
     "payload.parameters.position: must be <= 2600"},
    {cmd("focus", R"({"position":99999999999999999999})"), P, c1,
     "payload.parameters.position: is out of range"},
    {cmd("focus_increment", R"({"increment":-1001})"), P, c1,
     "payload.parameters.increment: must be >= -1000"},
    {cmd("set_gain", R"({"gain":201})"), P, c1,
     "payload.parameters.gain: must be <= 200"},
    {cmd("set_exposure", R"({"exposure_ms":0})"), P, c1,
     "payload.parameters.exposure_ms: must be >= 1"},
    {cmd("start_imaging", R"({"exposure_ms":600001})"), P, c1,
     "payload.parameters.exposure_ms: must be <= 600000"},
    {cmd("scenery", R"({"mode":"mars"})"), P, c1,
     R"(payload.parameters.mode: must be one of "scenery", "sun", "moon")"},
    {cmd("set_image_enhancement", "{}"), P, c1,
     "payload.parameters: must not be empty"},
    {cmd("set_image_enhancement", R"({"sparkle":true})"), P, c1,
     "payload.parameters.sparkle: is not an allowed field"},
    {cmd("set_image_enhancement", R"({"denoise":"high"})"), P, c1,
     "payload.parameters.denoise: must be a boolean or a number"},
    {cmd("cancel", "{}"), P, c1, "payload.parameters.command_id: is required"},
    {cmd("acquire_control", R"({"ttl_ms":999})"), P, c1,
     "payload.parameters.ttl_ms: must be >= 1000"},
    {cmd("get_status", R"({"categories":["all"]})"), P, c1,
     R"(payload.parameters.categories[0]: must be one of "position", )"
     R"("focus", "imaging", "system")"},
    {cmd("batch", "{}"), P, c1, "payload.parameters.commands: is required"},
    {cmd("batch", R"({"commands":[]})"), P, c1,
     "payload.parameters.commands: must not be empty"},
    {cmd("batch", steps(33)), P, c1,
     "payload.parameters.commands: must have at most 32 items"},
    {cmd("batch", R"({"commands":[)" + step("batch", "{}") + "]}"), P, c1,
     "payload.parameters.commands[0].action: a batch cannot contain a batch"},
    {cmd("batch",
         R"({"commands":[)" + step("goto", R"({"ra":1,"dec":91})") + "]}"),
     P, c1, "payload.parameters.commands[0].parameters.dec: must be <= 90"},
    {cmd("batch", R"({"commands":[5]})"), P, c1,
     "payload.parameters.commands[0]: must be an object"},
    {cmd("batch", R"({"commands":[{"action":"stop","parameters":[]}]})"), P, c1,
     "payload.parameters.commands[0].parameters: must be an object"},
    {cmd("batch", R"({"commands":[{"parameters":{}}]})"), P, c1,
     "payload.parameters.commands[0].action: is required"},
  };
}

} // namespace

CAF_TEST(every bad frame gets the right error code ref_id and message) {
  auto rows = table();
  CAF_CHECK_GREATER_OR_EQUAL(rows.size(), 60u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    auto res = parse_client_message(row.text);
    if (res.ok()) {
      CAF_CHECK_FAILED("row " << i
                              << " was accepted: " << row.text.substr(0, 200));
      continue;
    }
    const auto& err = res.error();
    auto label = "row " + std::to_string(i) + ": ";
    CAF_CHECK_EQUAL(label + std::string{to_string(err.code)},
                    label + std::string{to_string(row.code)});
    CAF_CHECK_EQUAL(label + err.ref_id.value_or("<null>"),
                    label + row.ref_id.value_or("<null>"));
    if (row.exact)
      CAF_CHECK_EQUAL(label + err.message, label + row.message);
    else if (err.message.find(row.message) == std::string::npos)
      CAF_CHECK_EQUAL(label + err.message, label + "... " + row.message);
  }
}

CAF_TEST(every error code a frame can produce is covered by the table) {
  std::vector<error_code> produced;
  for (const auto& row : table())
    produced.push_back(row.code);
  for (auto code : {error_code::invalid_json, error_code::invalid_message,
                    error_code::unknown_type, error_code::unknown_action,
                    error_code::invalid_parameters}) {
    auto n = std::count(produced.begin(), produced.end(), code);
    CAF_CHECK_GREATER(n, 2);
  }
}

CAF_TEST(the byte entry point agrees with the text one) {
  const std::string text = "{\"id\":\"a\xff\"}";
  auto res = parse_client_message(reinterpret_cast<const uint8_t*>(text.data()),
                                  text.size());
  CAF_REQUIRE(!res.ok());
  CAF_CHECK_EQUAL(res.error().code, error_code::invalid_json);
  auto none = parse_client_message(nullptr, 0);
  CAF_REQUIRE(!none.ok());
  CAF_CHECK_EQUAL(none.error().message, "empty frame");
}

CAF_TEST(nesting right at the limit is accepted and the limit is adjustable) {
  // Root (1) + payload (2) + 30 arrays = 32 levels.
  auto text = R"({"id":"a","type":"heartbeat","payload":{"x":)"
              + nested_arrays(30) + "}}";
  CAF_CHECK(parse_client_message(text).ok());
  parse_options strict;
  strict.max_depth = 4;
  auto res = parse_client_message(text, strict);
  CAF_REQUIRE(!res.ok());
  CAF_CHECK_EQUAL(res.error().message, "nesting deeper than 4 levels");
  // Brackets inside strings (even after escaped quotes) do not count.
  auto quoted = R"({"id":"a","type":"heartbeat","payload":{"s":"\"[[[[[[["}})";
  CAF_CHECK(parse_client_message(quoted, strict).ok());
}
