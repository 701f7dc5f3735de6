#define CAF_SUITE status
#include "caf/test/unit_test.hpp"

#include <rapidjson/document.h>

#include "protocol/status.hpp"

using namespace scopehub::protocol;

namespace {

rapidjson::Document json(const char* text) {
  rapidjson::Document doc;
  doc.Parse(text);
  return doc;
}

} // namespace

CAF_TEST(categories have wire names and known fields) {
  for (auto c : all_categories) {
    auto back = category_from_string(to_string(c));
    CAF_REQUIRE(back.has_value());
    CAF_CHECK(*back == c);
    CAF_CHECK(!known_fields(c).empty());
  }
  CAF_CHECK(!category_from_string("all"));
  CAF_CHECK_EQUAL(to_string(category::imaging), "imaging");
  CAF_CHECK_EQUAL(known_fields(category::focus).size(), 2u);
  CAF_CHECK_EQUAL(known_fields(category::system).back(), "controller");
}

CAF_TEST(merge reports only fields whose value changed) {
  rapidjson::Document state;
  auto first = merge(state, json(R"({"ra":1.5,"dec":2,"tracking":true})"));
  CAF_CHECK_EQUAL(first.size(), 3u);
  auto again = merge(state, json(R"({"ra":1.5,"dec":2.0,"tracking":false})"));
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0], "tracking");
  CAF_CHECK_EQUAL(to_json(state), R"({"ra":1.5,"dec":2,"tracking":false})");
  auto nested = merge(state, json(R"({"extra":{"a":[1,2]}})"));
  CAF_CHECK_EQUAL(nested.size(), 1u);
  CAF_CHECK(merge(state, json(R"({"extra":{"a":[1,2]}})")).empty());
  CAF_CHECK_EQUAL(merge(state, json(R"({"extra":{"a":[1,3]}})")).size(), 1u);
  CAF_CHECK(merge(state, json("[1]")).empty());
}

CAF_TEST(diff returns changed and new fields only) {
  auto before = json(R"({"a":1,"b":"x","c":true,"gone":1})");
  auto now = json(R"({"a":1.0,"b":"y","c":true,"d":null})");
  auto d = diff(before, now);
  CAF_CHECK_EQUAL(to_json(d), R"({"b":"y","d":null})");
  auto from_nothing = diff(json("null"), json(R"({"a":1})"));
  CAF_CHECK_EQUAL(to_json(from_nothing), R"({"a":1})");
  // diff then merge reproduces `now` on top of `before`.
  rapidjson::Document state;
  state.CopyFrom(before, state.GetAllocator());
  merge(state, d);
  CAF_CHECK(json_equal(state["b"], now["b"]));
}

CAF_TEST(json_equal compares deeply and numbers by value) {
  CAF_CHECK(json_equal(json("1"), json("1.0")));
  CAF_CHECK(json_equal(json("-3"), json("-3")));
  CAF_CHECK(!json_equal(json("1"), json("2")));
  CAF_CHECK(
    json_equal(json("18446744073709551615"), json("18446744073709551615")));
  CAF_CHECK(
    !json_equal(json("9223372036854775807"), json("9223372036854775806")));
  CAF_CHECK(json_equal(json(R"({"a":[1,{"b":null}]})"),
                       json(R"({"a":[1,{"b":null}]})")));
  CAF_CHECK(!json_equal(json(R"({"a":1})"), json(R"({"a":1,"b":2})")));
  CAF_CHECK(!json_equal(json(R"({"a":1})"), json(R"({"b":1})")));
  CAF_CHECK(!json_equal(json("[1,2]"), json("[2,1]")));
  CAF_CHECK(!json_equal(json("true"), json("false")));
  CAF_CHECK(!json_equal(json(R"("1")"), json("1")));
  CAF_CHECK(!json_equal(json(R"("ab")"), json(R"("abc")")));
}
