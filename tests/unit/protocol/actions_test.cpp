#define CAF_SUITE actions
#include "caf/test/unit_test.hpp"

#include "protocol/actions.hpp"
#include "protocol/glob.hpp"
#include "protocol/message.hpp"

using namespace scopehub::protocol;

CAF_TEST(every action has a wire name that round trips) {
  for (auto a : all_actions()) {
    auto back = action_from_string(to_string(a));
    CAF_REQUIRE(back.has_value());
    CAF_CHECK(*back == a);
  }
  CAF_CHECK_EQUAL(to_string(action::goto_), "goto");
  CAF_CHECK(!action_from_string("Goto"));
  CAF_CHECK(!action_from_string(""));
}

CAF_TEST(action kinds follow the protocol) {
  auto count = [](auto pred) {
    size_t n = 0;
    for (auto a : all_actions())
      n += pred(a) ? 1 : 0;
    return n;
  };
  CAF_CHECK_EQUAL(count([](action a) { return is_long_operation(a); }), 6u);
  CAF_CHECK_EQUAL(count([](action a) { return is_motion(a); }), 5u);
  CAF_CHECK_EQUAL(count([](action a) { return requires_admin(a); }), 2u);
  CAF_CHECK(requires_admin(action::set_feature));
  CAF_CHECK_EQUAL(count([](action a) { return is_server_action(a); }), 2u);
  CAF_CHECK(is_server_action(action::get_features));
  CAF_CHECK(!needs_lease(action::set_feature));
  CAF_CHECK(is_long_operation(action::start_imaging));
  CAF_CHECK(!is_motion(action::start_imaging));
  CAF_CHECK(!is_motion(action::stop));
  CAF_CHECK(is_motion(action::focus_increment));
  CAF_CHECK(requires_admin(action::reboot));
  for (auto a :
       {action::goto_, action::move, action::stop, action::park, action::focus,
        action::start_imaging, action::stop_imaging, action::set_gain,
        action::set_exposure, action::scenery, action::set_image_enhancement})
    CAF_CHECK(needs_lease(a));
  for (auto a :
       {action::get_status, action::get_image_enhancement, action::cancel,
        action::acquire_control, action::release_control})
    CAF_CHECK(!needs_lease(a));
}

CAF_TEST(batch commands are judged by their steps) {
  control_command cmd;
  cmd.action = action::batch;
  cmd.steps = {{action::get_status, "{}"}};
  CAF_CHECK(!is_motion(cmd));
  CAF_CHECK(!requires_admin(cmd));
  cmd.steps.push_back({action::reboot, "{}"});
  CAF_CHECK(requires_admin(cmd));
  cmd.steps.push_back({action::park, "{}"});
  CAF_CHECK(is_motion(cmd));
}

CAF_TEST(subscription types expand to categories) {
  CAF_CHECK_EQUAL(categories_of({subscription_type::all}).size(), 4u);
  CAF_CHECK_EQUAL(categories_of({subscription_type::status}).size(), 4u);
  auto two
    = categories_of({subscription_type::system, subscription_type::position,
                     subscription_type::system});
  CAF_REQUIRE_EQUAL(two.size(), 2u);
  CAF_CHECK(two[0] == category::position);
  CAF_CHECK(two[1] == category::system);
  CAF_CHECK(categories_of({}).empty());
  CAF_CHECK(subscription_type_from_string("imaging")
            == subscription_type::imaging);
  CAF_CHECK(!subscription_type_from_string("weather"));
}

CAF_TEST(glob matching) {
  CAF_CHECK(glob_match("site-a-*", "site-a-"));
  CAF_CHECK(glob_match("site-a-*", "site-a-001"));
  CAF_CHECK(!glob_match("site-a-*", "site-b-001"));
  CAF_CHECK(glob_match("*", ""));
  CAF_CHECK(glob_match("*", "anything"));
  CAF_CHECK(glob_match("s?", "s1"));
  CAF_CHECK(!glob_match("s?", "s"));
  CAF_CHECK(!glob_match("s?", "s12"));
  CAF_CHECK(glob_match("*-0?1", "site-a-001"));
  CAF_CHECK(glob_match("a*b*c", "a-b-b-c"));
  CAF_CHECK(!glob_match("a*b*c", "a-b-b-d"));
  CAF_CHECK(glob_match("**x", "x"));
  CAF_CHECK(!glob_match("", "x"));
  CAF_CHECK(glob_match("", ""));
  CAF_CHECK(!glob_match("Seestar", "seestar"));
  // Worst case stays fast (no exponential backtracking).
  CAF_CHECK(!glob_match("*a*a*a*a*a*a*a*a*b", std::string(64, 'a')));
}

CAF_TEST(telescope ids and patterns) {
  CAF_CHECK(valid_telescope_id("seestar-001"));
  CAF_CHECK(valid_telescope_id("A.b_c-9"));
  CAF_CHECK(valid_telescope_id(std::string(64, 'x')));
  CAF_CHECK(!valid_telescope_id(std::string(65, 'x')));
  CAF_CHECK(!valid_telescope_id(""));
  CAF_CHECK(!valid_telescope_id("a b"));
  CAF_CHECK(!valid_telescope_id("a*"));
  CAF_CHECK(valid_telescope_pattern("site-?-*"));
  CAF_CHECK(!valid_telescope_pattern("site/*"));
  CAF_CHECK(!valid_telescope_pattern(""));
}
