#define CAF_SUITE connect_limiter
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <string>

#include "net/connect_limiter.hpp"

using namespace scopehub::net;
using namespace std::chrono_literals;

namespace {

connect_limits limits(double rate, double burst) {
  connect_limits l;
  l.rate = rate;
  l.burst = burst;
  l.exempt = {"127.0.0.1"};
  return l;
}

} // namespace

CAF_TEST(an address gets its burst at once and not one attempt more) {
  connect_limiter lim{limits(2, 5)};
  auto t = connect_limiter::clock::now();
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(lim.admit("10.0.0.1", t));
  CAF_CHECK(!lim.admit("10.0.0.1", t));
  CAF_CHECK_EQUAL(lim.refused(), 1u);
  // Other addresses have their own bucket.
  CAF_CHECK(lim.admit("10.0.0.2", t));
}

CAF_TEST(tokens come back at the configured rate) {
  connect_limiter lim{limits(2, 5)};
  auto t = connect_limiter::clock::now();
  for (int i = 0; i < 5; ++i)
    lim.admit("10.0.0.1", t);
  CAF_CHECK(!lim.admit("10.0.0.1", t + 400ms)); // 0.8 of a token
  CAF_CHECK(lim.admit("10.0.0.1", t + 500ms));  // 1.0
  CAF_CHECK(!lim.admit("10.0.0.1", t + 500ms));
  // Never more than the burst, however long the pause.
  auto later = t + 1h;
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(lim.admit("10.0.0.1", later));
  CAF_CHECK(!lim.admit("10.0.0.1", later));
}

CAF_TEST(exempt addresses and a zero rate are never limited) {
  connect_limiter lim{limits(1, 1)};
  auto t = connect_limiter::clock::now();
  for (int i = 0; i < 100; ++i)
    CAF_CHECK(lim.admit("127.0.0.1", t));
  connect_limiter off{limits(0, 1)};
  for (int i = 0; i < 100; ++i)
    CAF_CHECK(off.admit("10.0.0.9", t));
  CAF_CHECK_EQUAL(lim.tracked(), 0u);
}

CAF_TEST(the table of addresses stays bounded) {
  auto l = limits(10, 2);
  l.max_tracked = 100;
  connect_limiter lim{l};
  auto t = connect_limiter::clock::now();
  for (int i = 0; i < 1000; ++i)
    lim.admit("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
              t);
  CAF_CHECK_LESS_OR_EQUAL(lim.tracked(), 100u);
  // Idle addresses are forgotten first: after their refill time, a new
  // address prunes them instead of wiping busy ones.
  CAF_CHECK(lim.admit("10.9.9.9", t + 1s));
  CAF_CHECK_LESS_OR_EQUAL(lim.tracked(), 100u);
}
