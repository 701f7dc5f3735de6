#define CAF_SUITE outbound
#include "caf/test/unit_test.hpp"

#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "actors/outbound.hpp"
#include "net/ws_pipe.hpp"
#include "protocol/builders.hpp"
#include "protocol/status.hpp"

using namespace scopehub;

namespace {

/// Records every frame; the test plays the socket by calling drained().
struct recording_pipe : net::ws_pipe {
  std::vector<std::shared_ptr<const std::string>> frames;
  std::string peer_ = "127.0.0.1:1";
  void send(std::shared_ptr<const std::string> frame) override {
    frames.push_back(std::move(frame));
  }
  void close(uint16_t, std::string) override {}
  void consumed(size_t) override {}
  size_t queued_bytes() const override { return 0; }
  const std::string& peer() const override { return peer_; }
  uint64_t id() const override { return 1; }
};

std::shared_ptr<const std::string> status(const std::string& telescope,
                                          protocol::category cat, uint64_t seq,
                                          const std::string& fields,
                                          bool full = false,
                                          const std::string& epoch = "e1") {
  rapidjson::Document doc;
  doc.Parse(fields.c_str());
  std::vector<std::string> changes;
  for (auto& m : doc.GetObject())
    changes.emplace_back(m.name.GetString());
  auto id = "t-" + std::to_string(seq);
  protocol::stamp s{id, 1000 + static_cast<int64_t>(seq), telescope};
  return std::make_shared<const std::string>(
    protocol::make_status_update(s, cat, seq, epoch, doc, changes, full));
}

std::shared_ptr<const std::string> other(const std::string& text) {
  return std::make_shared<const std::string>(text);
}

struct parsed_frame {
  rapidjson::Document doc;
  explicit parsed_frame(const std::string& text) { doc.Parse(text.c_str()); }
  const rapidjson::Value& payload() const { return doc["payload"]; }
  uint64_t seq() const { return payload()["seq"].GetUint64(); }
  uint32_t conflated() const {
    return payload().HasMember("conflated") ? payload()["conflated"].GetUint()
                                            : 0;
  }
  std::string status() const { return protocol::to_json(payload()["status"]); }
  std::vector<std::string> changes() const {
    std::vector<std::string> out;
    for (auto& c : payload()["changes"].GetArray())
      out.emplace_back(c.GetString());
    return out;
  }
  bool full() const { return payload()["full_update"].GetBool(); }
};

struct fixture {
  std::shared_ptr<recording_pipe> pipe = std::make_shared<recording_pipe>();
  // A soft limit of 1000 bytes; held frames go out at 500 or less.
  outbound out{std::weak_ptr<net::ws_pipe>{pipe}, 1000};

  /// Pushes the backlog over the soft limit with a never-held frame.
  void fill() { out.send(other(std::string(1200, 'x'))); }

  /// Plays the socket writing every frame sent so far.
  void drain_all() { out.drained(out.backlog()); }

  parsed_frame at(size_t i) { return parsed_frame{*pipe->frames.at(i)}; }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(outbound_tests, fixture)

CAF_TEST(below the soft limit every frame goes out at once and unchanged) {
  auto a = status("s1", protocol::category::position, 1, R"({"ra":1.0})");
  auto b = other(R"({"type":"heartbeat"})");
  out.send_status(a);
  out.send(b);
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 2u);
  CAF_CHECK(pipe->frames[0] == a); // the same shared buffer, no copy
  CAF_CHECK(pipe->frames[1] == b);
  CAF_CHECK_EQUAL(out.backlog(), a->size() + b->size());
  out.drained(a->size());
  CAF_CHECK_EQUAL(out.backlog(), b->size());
}

CAF_TEST(
  over the soft limit deltas of a topic merge into one conflated update) {
  fill();
  using protocol::category;
  out.send_status(status("s1", category::position, 5, R"({"ra":1.0,"dec":2})"));
  out.send_status(status("s1", category::position, 6, R"({"ra":1.5})"));
  out.send_status(
    status("s1", category::position, 7, R"({"ra":2.5,"slewing":true})"));
  // Responses and errors are never held.
  out.send(other(R"({"type":"command_response"})"));
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 2u);
  CAF_CHECK_EQUAL(out.held(), 1u);
  drain_all();
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 3u);
  auto f = at(2);
  CAF_CHECK_EQUAL(f.seq(), 7u);
  CAF_CHECK_EQUAL(f.conflated(), 3u);
  CAF_CHECK_EQUAL(f.status(), R"({"ra":2.5,"dec":2,"slewing":true})");
  CAF_CHECK_EQUAL(f.changes(),
                  (std::vector<std::string>{"ra", "dec", "slewing"}));
  CAF_CHECK_EQUAL(f.full(), false);
  CAF_CHECK_EQUAL(std::string{f.doc["id"].GetString()}, "t-7");
  CAF_CHECK_EQUAL(std::string{f.doc["telescope_id"].GetString()}, "s1");
  CAF_CHECK_EQUAL(out.conflated_total(), 2u);
  CAF_CHECK_EQUAL(out.held(), 0u);
}

CAF_TEST(a topic held once goes out as it came without a conflated count) {
  fill();
  auto a
    = status("s1", protocol::category::focus, 3, R"({"focus_position":9})");
  out.send_status(a);
  CAF_CHECK_EQUAL(pipe->frames.size(), 1u);
  drain_all();
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 2u);
  CAF_CHECK(pipe->frames[1] == a);
  CAF_CHECK_EQUAL(at(1).conflated(), 0u);
}

CAF_TEST(held topics go out oldest first once the backlog halves) {
  fill();
  using protocol::category;
  out.send_status(status("s2", category::system, 1, R"({"battery":90})"));
  out.send_status(status("s1", category::position, 4, R"({"ra":1})"));
  out.send_status(status("s2", category::system, 2, R"({"battery":89})"));
  CAF_CHECK_EQUAL(out.held(), 2u);
  // Down to 600 bytes: above half the soft limit, nothing moves yet.
  out.drained(out.backlog() - 600);
  CAF_CHECK_EQUAL(pipe->frames.size(), 1u);
  out.drained(100);
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 3u);
  CAF_CHECK_EQUAL(std::string{at(1).doc["telescope_id"].GetString()}, "s2");
  CAF_CHECK_EQUAL(at(1).seq(), 2u);
  CAF_CHECK_EQUAL(at(1).conflated(), 2u);
  CAF_CHECK_EQUAL(std::string{at(2).doc["telescope_id"].GetString()}, "s1");
  CAF_CHECK_EQUAL(at(2).seq(), 4u);
}

CAF_TEST(a topic with a held frame never lets a newer frame overtake it) {
  fill();
  using protocol::category;
  out.send_status(status("s1", category::position, 1, R"({"ra":1})"));
  // 600 bytes left: below the soft limit, above the release level.
  out.drained(out.backlog() - 600);
  out.send_status(status("s1", category::position, 2, R"({"ra":2})"));
  // Another topic without a held frame passes.
  out.send_status(status("s1", category::focus, 8, R"({"focus_position":1})"));
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 1u);
  CAF_CHECK_EQUAL(out.held(), 2u); // merging is required while held_ exists
  drain_all();
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 3u);
  CAF_CHECK_EQUAL(at(1).seq(), 2u);
  CAF_CHECK_EQUAL(at(1).conflated(), 2u);
  CAF_CHECK_EQUAL(at(2).seq(), 8u);
}

CAF_TEST(a full update supersedes held deltas and stays full) {
  fill();
  using protocol::category;
  out.send_status(status("s1", category::focus, 1, R"({"focus_position":1})"));
  out.send_status(status("s1", category::focus, 2,
                         R"({"focus_position":5,"focuser_moving":false})",
                         true));
  out.send_status(
    status("s1", category::focus, 3, R"({"focuser_moving":true})"));
  drain_all();
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 2u);
  auto f = at(1);
  CAF_CHECK_EQUAL(f.full(), true);
  CAF_CHECK_EQUAL(f.seq(), 3u);
  CAF_CHECK_EQUAL(f.conflated(), 3u);
  CAF_CHECK_EQUAL(f.status(), R"({"focus_position":5,"focuser_moving":true})");
}

CAF_TEST(a new epoch drops what was held of the old one) {
  fill();
  using protocol::category;
  out.send_status(status("s1", category::system, 7, R"({"battery":50})"));
  out.send_status(status("s1", category::system, 1,
                         R"({"battery":49,"charging":false})", true, "e2"));
  drain_all();
  CAF_REQUIRE_EQUAL(pipe->frames.size(), 2u);
  auto f = at(1);
  CAF_CHECK_EQUAL(std::string{f.payload()["epoch"].GetString()}, "e2");
  CAF_CHECK_EQUAL(f.seq(), 1u);
  CAF_CHECK_EQUAL(f.conflated(), 0u);
  CAF_CHECK_EQUAL(out.dropped_total(), 1u);
}

CAF_TEST(an unsubscribed topic loses its held frame) {
  fill();
  out.send_status(
    status("s1", protocol::category::imaging, 1, R"({"gain":80})"));
  out.forget("s1", "imaging");
  CAF_CHECK_EQUAL(out.held(), 0u);
  drain_all();
  CAF_CHECK_EQUAL(pipe->frames.size(), 1u);
}

CAF_TEST(conflation keeps the final state of every field exactly) {
  // 200 random-ish deltas over three fields while the client is slow:
  // applying what the client got gives the same state as applying all.
  fill();
  rapidjson::Document truth{rapidjson::kObjectType};
  rapidjson::Document seen{rapidjson::kObjectType};
  for (uint64_t seq = 1; seq <= 200; ++seq) {
    std::string fields = "{";
    if (seq % 2 == 0) fields += R"("ra":)" + std::to_string(seq) + ",";
    if (seq % 3 == 0)
      fields += R"("dec":)" + std::to_string(seq * 7 % 90) + ",";
    fields += R"("tracking":)" + std::string{seq % 5 == 0 ? "true" : "false"};
    fields += "}";
    rapidjson::Document d;
    d.Parse(fields.c_str());
    protocol::merge(truth, d);
    out.send_status(status("s1", protocol::category::position, seq, fields));
    if (seq % 50 == 0) drain_all(); // the client reads now and then
  }
  drain_all();
  uint64_t last_seq = 0;
  for (size_t i = 1; i < pipe->frames.size(); ++i) {
    auto f = at(i);
    CAF_CHECK_GREATER(f.seq(), last_seq);
    last_seq = f.seq();
    rapidjson::Document d;
    d.CopyFrom(f.payload()["status"], d.GetAllocator());
    protocol::merge(seen, d);
  }
  CAF_CHECK_EQUAL(last_seq, 200u);
  CAF_CHECK_EQUAL(protocol::to_json(seen), protocol::to_json(truth));
  CAF_CHECK_LESS(pipe->frames.size(), 60u);
}

CAF_TEST_FIXTURE_SCOPE_END()
