#define CAF_SUITE errors
#include "caf/test/unit_test.hpp"

#include "protocol/errors.hpp"

using namespace scopehub::protocol;

CAF_TEST(every error code has a distinct wire name that round trips) {
  for (size_t i = 0; i < error_code_count; ++i) {
    auto code = static_cast<error_code>(i);
    auto name = to_string(code);
    CAF_CHECK(!name.empty());
    auto back = error_code_from_string(name);
    CAF_REQUIRE(back.has_value());
    CAF_CHECK_EQUAL(static_cast<int>(*back), static_cast<int>(code));
  }
  CAF_CHECK(!error_code_from_string("NOT_A_CODE").has_value());
}

CAF_TEST(wire names and http statuses follow the protocol table) {
  CAF_CHECK_EQUAL(to_string(error_code::invalid_json), "INVALID_JSON");
  CAF_CHECK_EQUAL(to_string(error_code::telescope_busy), "TELESCOPE_BUSY");
  CAF_CHECK_EQUAL(to_string(error_code::internal), "INTERNAL");
  CAF_CHECK_EQUAL(http_status(error_code::control_held), 409);
  CAF_CHECK_EQUAL(http_status(error_code::rate_limited), 429);
  CAF_CHECK_EQUAL(http_status(error_code::command_timeout), 504);
  CAF_CHECK_EQUAL(http_status(error_code::telescope_not_found), 404);
}

CAF_TEST(close codes carry the protocol numbers) {
  CAF_CHECK_EQUAL(static_cast<int>(close_code::heartbeat_timeout), 4001);
  CAF_CHECK_EQUAL(static_cast<int>(close_code::slow_consumer), 4002);
  CAF_CHECK_EQUAL(static_cast<int>(close_code::too_big), 1009);
  CAF_CHECK_EQUAL(to_string(close_code::heartbeat_timeout),
                  "heartbeat timeout");
}
