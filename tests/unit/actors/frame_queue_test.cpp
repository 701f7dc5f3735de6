#define CAF_SUITE frame_queue
#include "caf/test/unit_test.hpp"

#include <memory>
#include <string>

#include "net/frame_queue.hpp"

using scopehub::net::frame_queue;

namespace {

frame_queue::frame text(int i) {
  return std::make_shared<const std::string>(std::to_string(i));
}

} // namespace

CAF_TEST(an idle queue holds no storage) {
  frame_queue q;
  CAF_CHECK(q.empty());
  CAF_CHECK_EQUAL(q.capacity(), 0u);
  q.push_back(text(1));
  q.push_back(text(2));
  CAF_CHECK_EQUAL(q.size(), 2u);
  CAF_CHECK_EQUAL(*q.front(), "1");
  q.pop_front();
  CAF_CHECK_EQUAL(*q.front(), "2");
  q.pop_front();
  CAF_CHECK(q.empty());
  CAF_CHECK(q.capacity() <= 64u); // small storage is kept for the next burst
}

CAF_TEST(a backlog that never empties keeps its order in bounded storage) {
  frame_queue q;
  int next_in = 0;
  int next_out = 0;
  for (int i = 0; i < 10; ++i)
    q.push_back(text(next_in++));
  // One frame written, one queued, 100,000 times: the queue is never empty.
  int out_of_order = 0;
  for (int round = 0; round < 100000; ++round) {
    q.push_back(text(next_in++));
    out_of_order += *q.front() == std::to_string(next_out++) ? 0 : 1;
    q.pop_front();
  }
  CAF_CHECK_EQUAL(out_of_order, 0);
  CAF_CHECK_EQUAL(q.size(), 10u);
  CAF_CHECK(q.capacity() <= 256u);
  while (!q.empty()) {
    CAF_REQUIRE_EQUAL(*q.front(), std::to_string(next_out));
    ++next_out;
    q.pop_front();
  }
  CAF_CHECK_EQUAL(next_out, next_in);
}

CAF_TEST(truncate keeps the frame in flight and releases the rest) {
  frame_queue q;
  for (int i = 0; i < 200; ++i)
    q.push_back(text(i));
  q.pop_front();
  q.truncate(1);
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_CHECK_EQUAL(*q.front(), "1");
  q.truncate(0);
  CAF_CHECK(q.empty());
  CAF_CHECK(q.capacity() <= 64u);
}
