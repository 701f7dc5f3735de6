#define CAF_SUITE fault_plan
#include "caf/test/unit_test.hpp"

#include "sim/fault_plan.hpp"

using scopehub::sim::fault_plan;

CAF_TEST(empty and none specs give the empty plan) {
  for (auto spec : {"", "none", "  ", " none "}) {
    auto p = fault_plan::parse(spec);
    CAF_REQUIRE(p.has_value());
    CAF_CHECK(!p->any());
    CAF_CHECK_EQUAL(p->to_string(), "none");
  }
}

CAF_TEST(a full spec parses and round trips) {
  std::string err;
  auto p = fault_plan::parse(
    "latency=200, jitter=50,drop_replies=30,drop_events=10,"
    "disconnect_after=20,disconnect_random=0.01,stall=1,garbage_every=5,"
    "garbage=0.2,truncate_every=7,truncate=0.1,error_code=207,"
    "error_method=scope_park,refuse=1",
    &err);
  CAF_REQUIRE(p.has_value());
  CAF_CHECK_EQUAL(p->latency_ms, 200u);
  CAF_CHECK_EQUAL(p->jitter_ms, 50u);
  CAF_CHECK_EQUAL(p->drop_replies_pct, 30.0);
  CAF_CHECK_EQUAL(p->drop_events_pct, 10.0);
  CAF_CHECK_EQUAL(p->disconnect_after, 20u);
  CAF_CHECK_EQUAL(p->disconnect_random, 0.01);
  CAF_CHECK(p->stall);
  CAF_CHECK_EQUAL(p->garbage_every, 5u);
  CAF_CHECK_EQUAL(p->garbage_prob, 0.2);
  CAF_CHECK_EQUAL(p->truncate_every, 7u);
  CAF_CHECK_EQUAL(p->truncate_prob, 0.1);
  CAF_CHECK_EQUAL(p->error_code, 207);
  CAF_CHECK_EQUAL(p->error_method, "scope_park");
  CAF_CHECK(p->refuse);
  auto again = fault_plan::parse(p->to_string());
  CAF_REQUIRE(again.has_value());
  CAF_CHECK(*again == *p);
}

CAF_TEST(bare flags and boolean words are accepted) {
  auto p = fault_plan::parse("stall,refuse=true");
  CAF_REQUIRE(p.has_value());
  CAF_CHECK(p->stall && p->refuse);
  p = fault_plan::parse("stall=off");
  CAF_REQUIRE(p.has_value());
  CAF_CHECK(!p->stall);
}

CAF_TEST(invalid specs are rejected with a reason) {
  for (auto bad :
       {"latency=-5", "latency=abc", "latency", "drop_replies=101",
        "drop_events=-1", "disconnect_random=1.5", "garbage=2", "frobnicate=1",
        "stall=maybe", "error_method=", "jitter=1.5", "truncate_every=x",
        "error_code=1e9", "latency=200,,bogus"}) {
    std::string err;
    auto p = fault_plan::parse(bad, &err);
    CAF_CHECK(!p.has_value());
    CAF_CHECK(!err.empty());
  }
}
