#define CAF_SUITE codec
#include "caf/test/unit_test.hpp"

#include <string>

#include "protocol/codec.hpp"

using namespace scopehub::protocol;
using caf::term; // for CAF_CHECK_FAILED

namespace {

envelope env(std::string id, std::optional<std::string> tid = std::nullopt,
             std::optional<int64_t> ts = std::nullopt) {
  return envelope{std::move(id), std::move(tid), ts};
}

// serialize -> parse must give the same message, and serializing that
// again the same bytes.
void check_client_round_trip(const client_message& x) {
  auto text = serialize(x);
  auto back = parse_client_message(text);
  if (!back.ok()) {
    CAF_CHECK_FAILED("round trip failed: " << back.error().message << " in "
                                           << text);
    return;
  }
  CAF_CHECK(back.value() == x);
  CAF_CHECK_EQUAL(serialize(back.value()), text);
}

void check_server_round_trip(const server_message& x) {
  auto text = serialize(x);
  auto back = parse_server_message(text);
  if (!back.ok()) {
    CAF_CHECK_FAILED("round trip failed: " << back.error().message << " in "
                                           << text);
    return;
  }
  CAF_CHECK(back.value() == x);
  CAF_CHECK_EQUAL(serialize(back.value()), text);
}

template<class T>
const T* payload_of(const parsed<client_message>& x) {
  return x.ok() ? std::get_if<T>(&x.value().payload) : nullptr;
}

} // namespace

CAF_TEST(control commands round trip for every action) {
  for (auto a : all_actions()) {
    control_command cmd;
    cmd.action = a;
    switch (a) {
      case action::goto_:
        cmd.parameters = R"({"ra":5.5,"dec":-89.25,"target_name":"M 42"})";
        break;
      case action::move:
        cmd.parameters = R"({"direction":"up","duration":1,"speed":100})";
        break;
      case action::focus: cmd.parameters = R"({"position":1200})"; break;
      case action::focus_increment:
        cmd.parameters = R"({"increment":-20})";
        break;
      case action::set_gain: cmd.parameters = R"({"gain":80})"; break;
      case action::set_exposure:
        cmd.parameters = R"({"exposure_ms":10000})";
        break;
      case action::scenery: cmd.parameters = R"({"mode":"moon"})"; break;
      case action::set_image_enhancement:
        cmd.parameters = R"({"denoise":true,"stretch":0.5})";
        break;
      case action::cancel: cmd.parameters = R"({"command_id":"c-1"})"; break;
      case action::set_feature:
        cmd.parameters = R"({"name":"delta_updates","enabled":false})";
        break;
      case action::acquire_control:
        cmd.parameters = R"({"ttl_ms":60000,"force":true})";
        break;
      case action::batch:
        cmd.parameters = R"({"commands":[{"action":"stop","parameters":{}},)"
                         R"({"action":"focus","parameters":{"position":3}}]})";
        cmd.steps
          = {{action::stop, "{}"}, {action::focus, R"({"position":3})"}};
        break;
      default: break;
    }
    cmd.response_expected = a != action::stop;
    if (a == action::park) cmd.timeout_ms = 120000;
    check_client_round_trip(
      {env("c-" + std::string{to_string(a)}, "scope-1", 1640995200000), cmd});
  }
}

CAF_TEST(subscribe unsubscribe and heartbeat round trip) {
  subscribe s;
  s.types = {subscription_type::position, subscription_type::system};
  s.resume_from = {{category::position, 120}, {category::system, 33}};
  check_client_round_trip({env("c-1", "seestar-001"), s});
  subscribe pattern;
  pattern.telescope_pattern = "site-a-*";
  check_client_round_trip({env("c-2"), pattern});
  unsubscribe u;
  u.types = {subscription_type::imaging};
  check_client_round_trip({env("c-3", "s.1_x-2", 5), u});
  check_client_round_trip({env("c-4"), client_heartbeat{}});
}

CAF_TEST(server messages round trip) {
  status_update su;
  su.category = category::system;
  su.seq = 34;
  su.epoch = "e-7";
  su.status = R"({"battery_capacity":85,"temp":23.5})";
  su.changes = {"battery_capacity", "temp"};
  check_server_round_trip({env("s-1", "seestar-001", 1), su});
  su.full_update = true;
  su.conflated = 3;
  su.seq = 18446744073709551615u;
  check_server_round_trip({env("s-2", "seestar-001", 2), su});

  telescope_info info{"seestar-001", "Seestar 1", "S50",   "10.0.0.5",
                      4700,          "local",     "online"};
  check_server_round_trip(
    {env("s-3", "seestar-001", 3), telescope_discovered{info}});
  check_server_round_trip(
    {env("s-4", "seestar-001", 4), telescope_lost{"connection refused"}});

  command_response ok;
  ok.command_id = "c-42";
  ok.result = R"({"status":"movement_completed"})";
  ok.duration_ms = 3;
  check_server_round_trip({env("s-5", "seestar-001", 5), ok});
  command_response fail;
  fail.command_id = "c-43";
  fail.success = false;
  fail.error = "held by another session";
  fail.code = error_code::control_held;
  fail.result = R"({"controller":"sess-9"})";
  fail.duplicate = true;
  check_server_round_trip({env("s-6", "seestar-001", 6), fail});
  command_response bare;
  bare.command_id = "c-44";
  check_server_round_trip({env("s-7", std::nullopt, 7), bare});

  check_server_round_trip({env("s-8", "seestar-001", 8),
                           command_progress{"c-42", progress_state::working,
                                            R"({"dist_deg":12.5})"}});
  check_server_round_trip(
    {env("s-9", "seestar-001", 9),
     command_progress{"c-42", progress_state::accepted, ""}});

  server_heartbeat hb;
  hb.server_time = 1640995200000;
  hb.session_id = "sess-1";
  check_server_round_trip({env("s-10", std::nullopt, 10), hb});
  hb.server = "scopehub/0.1.0";
  hb.role = "operator";
  check_server_round_trip({env("s-11", std::nullopt, 11), hb});

  for (size_t i = 0; i < error_code_count; ++i) {
    error_message e{static_cast<error_code>(i), "text", "c-1", false};
    check_server_round_trip({env("s-e", std::nullopt, 12), e});
  }
  check_server_round_trip({env("s-13", "ghost", 13),
                           error_message{error_code::telescope_not_found,
                                         "no such telescope", "c-9", true}});
  check_server_round_trip(
    {env("s-14", std::nullopt, 14),
     error_message{error_code::invalid_json, "not valid JSON", std::nullopt,
                   false}});
}

CAF_TEST(defaults are filled in on parse) {
  auto sub = parse_client_message(R"({"id":"c1","type":"subscribe"})");
  CAF_REQUIRE(sub.ok());
  const auto* s = std::get_if<subscribe>(&sub.value().payload);
  CAF_REQUIRE(s != nullptr);
  CAF_CHECK(s->types == std::vector<subscription_type>{subscription_type::all});
  CAF_CHECK(!s->telescope_pattern);
  CAF_CHECK(!sub.value().env.telescope_id);

  auto mv = parse_client_message(
    R"({"id":"c2","type":"control_command","telescope_id":"s1",)"
    R"("payload":{"action":"move","parameters":{"direction":"up"}}})");
  const auto* m = payload_of<control_command>(mv);
  CAF_REQUIRE(m != nullptr);
  CAF_CHECK_EQUAL(m->parameters,
                  R"({"direction":"up","duration":1000,"speed":100})");
  CAF_CHECK(m->response_expected);
  CAF_CHECK(!m->timeout_ms);

  auto sc = parse_client_message(
    R"({"id":"c3","type":"control_command","payload":{"action":"scenery"}})");
  const auto* s2 = payload_of<control_command>(sc);
  CAF_REQUIRE(s2 != nullptr);
  CAF_CHECK_EQUAL(s2->parameters, R"({"mode":"scenery"})");

  auto ac = parse_client_message(
    R"({"id":"c4","type":"control_command","payload":{"action":)"
    R"("acquire_control","response_expected":false,"timeout_ms":1}})");
  const auto* a = payload_of<control_command>(ac);
  CAF_REQUIRE(a != nullptr);
  CAF_CHECK_EQUAL(a->parameters, R"({"ttl_ms":300000,"force":false})");
  CAF_CHECK(!a->response_expected);
  CAF_CHECK_EQUAL(a->timeout_ms.value_or(0), 1);
}

CAF_TEST(batch steps are parsed with their own defaults) {
  auto res = parse_client_message(
    R"({"id":"b1","type":"control_command","telescope_id":"s1","payload":)"
    R"({"action":"batch","parameters":{"commands":[)"
    R"({"action":"move","parameters":{"direction":"left","speed":5}},)"
    R"({"action":"park"}]}}})");
  const auto* b = payload_of<control_command>(res);
  CAF_REQUIRE(b != nullptr);
  CAF_REQUIRE_EQUAL(b->steps.size(), 2u);
  CAF_CHECK(b->steps[0].action == action::move);
  CAF_CHECK_EQUAL(b->steps[0].parameters,
                  R"({"direction":"left","speed":5,"duration":1000})");
  CAF_CHECK(b->steps[1].action == action::park);
  CAF_CHECK_EQUAL(b->steps[1].parameters, "{}");
  CAF_CHECK(is_motion(*b));
  CAF_CHECK(needs_lease(*b));
  CAF_CHECK(!requires_admin(*b));
}

CAF_TEST(unknown extra fields are ignored and null telescope_id is absent) {
  auto res = parse_client_message(
    R"({"id":"c1","type":"control_command","telescope_id":null,"extra":[1],)"
    R"("timestamp":0,"payload":{"action":"stop","future":{"a":1}}})");
  CAF_REQUIRE(res.ok());
  CAF_CHECK(!res.value().env.telescope_id);
  CAF_CHECK_EQUAL(res.value().env.timestamp.value_or(-1), 0);
  auto max_id = std::string(128, 'i');
  auto long_id
    = parse_client_message(R"({"id":")" + max_id + R"(","type":"heartbeat"})");
  CAF_REQUIRE(long_id.ok());
  CAF_CHECK_EQUAL(long_id.value().env.id, max_id);
  auto tid = std::string(64, 'T');
  CAF_CHECK(parse_client_message(R"({"id":"x","type":"heartbeat",)"
                                 R"("telescope_id":")"
                                 + tid + R"("})")
              .ok());
}

CAF_TEST(server frames are checked too) {
  auto no_ts = parse_server_message(
    R"({"id":"s1","type":"telescope_lost","payload":{"reason":"x"}})");
  CAF_REQUIRE(!no_ts.ok());
  CAF_CHECK_EQUAL(no_ts.error().code, error_code::invalid_message);
  CAF_CHECK_EQUAL(no_ts.error().message, "timestamp: is required");
  auto client_type
    = parse_server_message(R"({"id":"s1","type":"subscribe","timestamp":1})");
  CAF_REQUIRE(!client_type.ok());
  CAF_CHECK_EQUAL(client_type.error().code, error_code::unknown_type);
  auto bad_code
    = parse_server_message(R"({"id":"s1","type":"error","timestamp":1,)"
                           R"("payload":{"error_code":"OOPS","message":"m"}})");
  CAF_REQUIRE(!bad_code.ok());
  CAF_CHECK_EQUAL(bad_code.error().message,
                  R"(payload.error_code: unknown error code "OOPS")");
  CAF_CHECK_EQUAL(bad_code.error().ref_id.value_or(""), "s1");
  auto bad_seq = parse_server_message(
    R"({"id":"s1","type":"status_update","timestamp":1,"payload":)"
    R"({"category":"focus","seq":-1,"epoch":"e","status":{},)"
    R"("full_update":true}})");
  CAF_REQUIRE(!bad_seq.ok());
  CAF_CHECK_EQUAL(bad_seq.error().message, "payload.seq: must be >= 0");
}

CAF_TEST(http command bodies follow the frame rules without the envelope) {
  auto ok = parse_http_command(
    R"({"id":"h-1","action":"move","parameters":{"direction":"up"}})");
  CAF_REQUIRE(ok.ok());
  CAF_CHECK_EQUAL(ok.value().id.value_or(""), "h-1");
  CAF_CHECK(ok.value().command.action == action::move);
  CAF_CHECK_EQUAL(ok.value().command.parameters,
                  R"({"direction":"up","duration":1000,"speed":100})");
  auto anonymous = parse_http_command(R"({"action":"park"})");
  CAF_REQUIRE(anonymous.ok());
  CAF_CHECK(!anonymous.value().id);
  auto bad = parse_http_command(
    R"({"id":"h-2","action":"goto","parameters":{"ra":1,"dec":-91}})");
  CAF_REQUIRE(!bad.ok());
  CAF_CHECK_EQUAL(bad.error().code, error_code::invalid_parameters);
  CAF_CHECK_EQUAL(bad.error().message, "parameters.dec: must be >= -90");
  CAF_CHECK_EQUAL(bad.error().ref_id.value_or(""), "h-2");
  auto unknown = parse_http_command(R"({"action":"dance"})");
  CAF_REQUIRE(!unknown.ok());
  CAF_CHECK_EQUAL(unknown.error().code, error_code::unknown_action);
  CAF_CHECK_EQUAL(unknown.error().message, R"(action: unknown action "dance")");
  auto missing = parse_http_command(R"({"id":"h-3"})");
  CAF_REQUIRE(!missing.ok());
  CAF_CHECK_EQUAL(missing.error().code, error_code::invalid_message);
  CAF_CHECK_EQUAL(missing.error().message, "action: is required");
  auto junk = parse_http_command("{");
  CAF_REQUIRE(!junk.ok());
  CAF_CHECK_EQUAL(junk.error().code, error_code::invalid_json);
}
