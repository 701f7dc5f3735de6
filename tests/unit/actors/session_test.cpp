#define CAF_SUITE session
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "actors/directory.hpp"
#include "actors/messages.hpp"
#include "actors/session.hpp"
#include "actors/topic.hpp"
#include "caf/all.hpp"
#include "net/ws_pipe.hpp"

using namespace scopehub;
using namespace std::chrono_literals;

namespace {

/// A WebSocket that records what the session writes.
struct fake_pipe : net::ws_pipe {
  std::vector<std::string> frames;
  uint16_t close_code = 0;
  std::string close_reason;
  std::string peer_ = "127.0.0.1:5555";
  void send(std::shared_ptr<const std::string> frame) override {
    frames.push_back(*frame);
  }
  void close(uint16_t code, std::string reason) override {
    if (close_code == 0) {
      close_code = code;
      close_reason = std::move(reason);
    }
  }
  void consumed(size_t n) override { consumed_total += n; }
  size_t consumed_total = 0;
  size_t queued_bytes() const override { return 0; }
  const std::string& peer() const override { return peer_; }
  uint64_t id() const override { return 1; }
};

struct frame_view {
  rapidjson::Document doc;
  std::string type() const { return doc["type"].GetString(); }
  const rapidjson::Value& payload() const { return doc["payload"]; }
};

/// A telescope stand-in that answers every command with a fixed result
/// and records what it got.
struct fake_scope_log {
  std::vector<command_request> got;
};

caf::behavior fake_scope(caf::event_based_actor*,
                         std::shared_ptr<fake_scope_log> log) {
  return {
    [log](command_atom, const command_request& req) {
      log->got.push_back(req);
      command_result r;
      r.success = true;
      r.result = R"({"status":"ok"})";
      r.duration_ms = 3;
      return r;
    },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<fake_pipe> pipe = std::make_shared<fake_pipe>();
  std::shared_ptr<fake_scope_log> log = std::make_shared<fake_scope_log>();
  caf::actor dir;
  caf::actor scope;
  std::vector<caf::actor> topics;
  caf::actor session;
  size_t seen = 0;

  fixture() {
    dir = sys.spawn(directory_actor, directory_config{});
    scope = sys.spawn(fake_scope, log);
    for (auto cat : protocol::all_categories) {
      topic_config tc;
      tc.telescope_id = "scope-1";
      tc.category = cat;
      tc.epoch = "e1";
      tc.history_size = 4;
      topics.push_back(sys.spawn(topic_actor, tc));
    }
    telescope_info info;
    info.id = "scope-1";
    info.name = "Scope One";
    info.online = true;
    self->send(dir, register_atom_v, info, scope, topics);
    consume_messages();
  }

  ~fixture() {
    for (auto& a : topics)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& a : {dir, scope, session})
      if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  void open(std::string bound = {}, std::string role = "operator") {
    session_config sc;
    sc.id = "s1";
    sc.peer = "127.0.0.1:5555";
    sc.role = std::move(role);
    sc.bound_telescope = std::move(bound);
    sc.heartbeat_interval = 10s;
    sc.stale_after = 25s;
    session = sys.spawn(session_actor, sc, std::weak_ptr<net::ws_pipe>{pipe},
                        dir, caf::actor{});
    consume_messages();
  }

  void client(const std::string& text) {
    self->send(session, ws_frame_atom_v, text);
    consume_messages();
  }

  void publish(protocol::category cat, const std::string& json,
               bool full = false) {
    self->send(topics[static_cast<size_t>(cat)], update_atom_v, json, full);
    consume_messages();
  }

  /// Frames written since the last call, parsed.
  std::vector<std::shared_ptr<frame_view>> fresh() {
    std::vector<std::shared_ptr<frame_view>> out;
    for (; seen < pipe->frames.size(); ++seen) {
      auto f = std::make_shared<frame_view>();
      f->doc.Parse(pipe->frames[seen].c_str());
      out.push_back(f);
    }
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(a new session gets a heartbeat then every known telescope) {
  open();
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->type(), "heartbeat");
  CAF_CHECK_EQUAL(fs[0]->payload()["session_id"].GetString(),
                  std::string{"s1"});
  CAF_CHECK_EQUAL(fs[0]->payload()["protocol"].GetInt(), 1);
  CAF_CHECK_EQUAL(fs[0]->payload()["role"].GetString(),
                  std::string{"operator"});
  CAF_CHECK_EQUAL(fs[1]->type(), "telescope_discovered");
  CAF_CHECK_EQUAL(fs[1]->payload()["telescope"]["id"].GetString(),
                  std::string{"scope-1"});
}

CAF_TEST(subscribe is acknowledged then snapshots then live deltas) {
  publish(protocol::category::position, R"({"ra":1.0,"dec":2.0})", true);
  open();
  fresh();
  client(R"({"id":"c-1","type":"subscribe","telescope_id":"scope-1",)"
         R"("payload":{"subscription_types":["position"]}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->type(), "command_response");
  CAF_CHECK_EQUAL(fs[0]->payload()["command_id"].GetString(),
                  std::string{"c-1"});
  CAF_CHECK_NOT_EQUAL(
    pipe->frames[seen - 2].find(R"("result":{"subscriptions":[{"telescope_id":)"
                                R"("scope-1","categories":["position"]}]})"),
    std::string::npos);
  CAF_CHECK_EQUAL(fs[1]->type(), "status_update");
  CAF_CHECK(fs[1]->payload()["full_update"].GetBool());
  CAF_CHECK_EQUAL(fs[1]->payload()["seq"].GetUint64(), 1u);
  publish(protocol::category::position, R"({"ra":1.5})");
  publish(protocol::category::focus, R"({"focus_position":10})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["seq"].GetUint64(), 2u);
  CAF_CHECK(!fs[0]->payload()["full_update"].GetBool());
  CAF_CHECK_EQUAL(fs[0]->payload()["status"]["ra"].GetDouble(), 1.5);
}

CAF_TEST(every bad frame gets a structured error and the session stays) {
  open();
  fresh();
  client("not json");
  client(R"({"id":"x-1","type":"launch_missiles"})");
  client(
    R"({"id":"x-2","type":"control_command","payload":{"action":"goto","parameters":{"ra":1,"dec":91}}})");
  client(
    R"({"id":"x-3","type":"control_command","payload":{"action":"park"}})");
  self->send(session, ws_binary_atom_v, uint64_t{4});
  consume_messages();
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 5u);
  const char* codes[] = {"INVALID_JSON", "UNKNOWN_TYPE", "INVALID_PARAMETERS",
                         "MISSING_TELESCOPE_ID", "UNSUPPORTED_FRAME"};
  const char* refs[] = {nullptr, "x-1", "x-2", "x-3", nullptr};
  for (size_t i = 0; i < 5; ++i) {
    CAF_CHECK_EQUAL(fs[i]->type(), "error");
    CAF_CHECK_EQUAL(fs[i]->payload()["error_code"].GetString(),
                    std::string{codes[i]});
    if (refs[i] == nullptr)
      CAF_CHECK(fs[i]->payload()["ref_id"].IsNull());
    else
      CAF_CHECK_EQUAL(fs[i]->payload()["ref_id"].GetString(),
                      std::string{refs[i]});
  }
  CAF_CHECK_EQUAL(std::string{fs[2]->payload()["message"].GetString()},
                  "payload.parameters.dec: must be <= 90");
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
}

CAF_TEST(commands are routed to the telescope and answered once) {
  open();
  fresh();
  client(R"({"id":"c-9","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"set_gain","parameters":{"gain":42}}})");
  CAF_REQUIRE_EQUAL(log->got.size(), 1u);
  auto& req = log->got[0];
  CAF_CHECK_EQUAL(req.id, "c-9");
  CAF_CHECK_EQUAL(req.action, "set_gain");
  CAF_CHECK_EQUAL(req.params, R"({"gain":42})");
  CAF_CHECK_EQUAL(req.session, "s1");
  CAF_CHECK_EQUAL(req.identity, "s1");
  CAF_CHECK_EQUAL(req.role, "operator");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "command_response");
  auto& p = fs[0]->payload();
  CAF_CHECK_EQUAL(p["command_id"].GetString(), std::string{"c-9"});
  CAF_CHECK(p["success"].GetBool());
  CAF_CHECK_EQUAL(p["result"]["status"].GetString(), std::string{"ok"});
  CAF_CHECK_EQUAL(p["duration_ms"].GetInt(), 3);
  CAF_CHECK_EQUAL(fs[0]->doc["telescope_id"].GetString(),
                  std::string{"scope-1"});
  // response_expected false: executed, not answered.
  client(R"({"id":"c-10","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop","response_expected":false}})");
  CAF_CHECK_EQUAL(log->got.size(), 2u);
  CAF_CHECK_EQUAL(fresh().size(), 0u);
}

CAF_TEST(commands to unknown telescopes and by observers fail) {
  open("", "observer");
  fresh();
  client(R"({"id":"c-1","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"park"}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"FORBIDDEN"});
  CAF_CHECK(!fs[0]->payload()["success"].GetBool());
  CAF_CHECK(log->got.empty());
}

CAF_TEST(unknown telescopes and admin actions are refused before routing) {
  open();
  fresh();
  client(R"({"id":"c-1","type":"control_command","telescope_id":"nope",)"
         R"("payload":{"action":"park"}})");
  client(R"({"id":"c-2","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"reboot"}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"TELESCOPE_NOT_FOUND"});
  CAF_CHECK_EQUAL(fs[1]->payload()["error_code"].GetString(),
                  std::string{"FORBIDDEN"});
  CAF_CHECK(log->got.empty());
}

CAF_TEST(a bound session is subscribed to all and commands default to it) {
  publish(protocol::category::focus, R"({"focus_position":7})", true);
  publish(protocol::category::system, R"({"connected":true})", true);
  open("scope-1");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 4u); // heartbeat, discovered, 2 snapshots
  CAF_CHECK_EQUAL(fs[2]->type(), "status_update");
  CAF_CHECK_EQUAL(fs[3]->type(), "status_update");
  client(
    R"({"id":"c-1","type":"control_command","payload":{"action":"park"}})");
  CAF_REQUIRE_EQUAL(log->got.size(), 1u);
  CAF_CHECK_EQUAL(log->got[0].action, "park");
}

CAF_TEST(subscriptions to unknown telescopes are kept until they appear) {
  open();
  fresh();
  client(R"({"id":"c-1","type":"subscribe","telescope_id":"later-1"})");
  client(R"({"id":"c-2","type":"subscribe","payload":{)"
         R"("telescope_pattern":"site-*","subscription_types":["focus"]}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 3u);
  CAF_CHECK_EQUAL(fs[0]->type(), "error");
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"TELESCOPE_NOT_FOUND"});
  CAF_CHECK(fs[0]->payload()["subscription_kept"].GetBool());
  CAF_CHECK_EQUAL(fs[1]->type(), "command_response");
  CAF_CHECK_EQUAL(fs[2]->payload()["result"]["subscriptions"].Size(), 2u);
  // A telescope matching the pattern appears: discovered, then its focus.
  std::vector<caf::actor> more;
  for (auto cat : protocol::all_categories) {
    topic_config tc;
    tc.telescope_id = "site-7";
    tc.category = cat;
    more.push_back(sys.spawn(topic_actor, tc));
  }
  telescope_info info;
  info.id = "site-7";
  info.online = true;
  self->send(dir, register_atom_v, info, scope, more);
  consume_messages();
  self->send(more[1], update_atom_v, std::string{R"({"focus_position":3})"},
             true);
  self->send(more[0], update_atom_v, std::string{R"({"ra":3.0})"}, true);
  consume_messages();
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->type(), "telescope_discovered");
  CAF_CHECK_EQUAL(fs[1]->type(), "status_update");
  CAF_CHECK_EQUAL(fs[1]->payload()["category"].GetString(),
                  std::string{"focus"});
  for (auto& a : more)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST(unsubscribe stops deltas and resume replays what was missed) {
  publish(protocol::category::position, R"({"ra":1.0})", true); // seq 1
  open();
  client(R"({"id":"c-1","type":"subscribe","telescope_id":"scope-1",)"
         R"("payload":{"subscription_types":["position"]}})");
  publish(protocol::category::position, R"({"ra":2.0})"); // seq 2
  client(R"({"id":"c-2","type":"unsubscribe","telescope_id":"scope-1",)"
         R"("payload":{"subscription_types":["position"]}})");
  fresh();
  publish(protocol::category::position, R"({"ra":3.0})"); // seq 3, missed
  publish(protocol::category::position, R"({"ra":4.0})"); // seq 4, missed
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  client(R"({"id":"c-3","type":"subscribe","telescope_id":"scope-1",)"
         R"("payload":{"subscription_types":["position"],)"
         R"("resume_from":{"position":2}}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 3u);
  CAF_CHECK_EQUAL(fs[0]->type(), "command_response");
  CAF_CHECK_EQUAL(fs[1]->payload()["seq"].GetUint64(), 3u);
  CAF_CHECK(!fs[1]->payload()["full_update"].GetBool());
  CAF_CHECK_EQUAL(fs[2]->payload()["seq"].GetUint64(), 4u);
  // Unsubscribing what was never subscribed is acknowledged, no-op.
  client(R"({"id":"c-4","type":"unsubscribe","telescope_id":"nope"})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK(fs[0]->payload()["success"].GetBool());
}

CAF_TEST(heartbeats follow the interval and a silent client is closed 4001) {
  open();
  fresh();
  advance_time(10s);
  self->send(session, heartbeat_atom_v);
  consume_messages();
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "heartbeat");
  CAF_CHECK(!fs[0]->payload().HasMember("server"));
  advance_time(10s);
  client(R"({"id":"h-1","type":"heartbeat"})"); // liveness at t = 20 s
  advance_time(20s);                            // t = 40 s: 20 s silent < 25 s
  self->send(session, heartbeat_atom_v);
  consume_messages();
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
  advance_time(5s); // 25 s silent
  self->send(session, heartbeat_atom_v);
  consume_messages();
  CAF_CHECK_EQUAL(pipe->close_code, 4001u);
  CAF_CHECK_EQUAL(pipe->close_reason, "heartbeat timeout");
}

CAF_TEST(pongs count as liveness) {
  open();
  advance_time(20s);
  self->send(session, alive_atom_v);
  consume_messages();
  advance_time(20s);
  self->send(session, heartbeat_atom_v);
  consume_messages();
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
}

CAF_TEST(a closed pipe ends the session and its topic subscriptions) {
  publish(protocol::category::position, R"({"ra":1.0})", true);
  open("scope-1");
  auto& ts = deref<caf::stateful_actor<topic_state>>(topics[0]).state;
  CAF_CHECK_EQUAL(ts.subscribers.size(), 1u);
  self->send(session, closed_atom_v, uint16_t{1000}, std::string{"bye"});
  consume_messages();
  CAF_CHECK_EQUAL(ts.subscribers.size(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- issue 6: rate limit, caps, telescope scoping
// ------------------------------

namespace {

/// A telescope that never answers (its commands stay pending). The
/// unused argument avoids spawning a function of only `self` (CAF 0.17.6
/// crashes under UBSan there).
caf::behavior mute_scope(caf::event_based_actor*, int) {
  return {
    [](command_atom, const command_request&) {
      return caf::delegated<command_result>{};
    },
  };
}

struct limits_fixture : fixture {
  /// Opens a session with `adjust` applied to the default test config.
  template<class F>
  void open_with(F adjust) {
    session_config sc;
    sc.id = "s1";
    sc.peer = "127.0.0.1:5555";
    sc.heartbeat_interval = 10s;
    sc.stale_after = 25s;
    adjust(sc);
    session = sys.spawn(session_actor, sc, std::weak_ptr<net::ws_pipe>{pipe},
                        dir, caf::actor{});
    consume_messages();
  }

  /// Adds telescope `id` with fresh topics (stopped by the destructor).
  void add_scope(const std::string& id, caf::actor telescope = {}) {
    std::vector<caf::actor> ts;
    for (auto cat : protocol::all_categories) {
      topic_config tc;
      tc.telescope_id = id;
      tc.category = cat;
      ts.push_back(sys.spawn(topic_actor, tc));
    }
    telescope_info info;
    info.id = id;
    info.online = true;
    self->send(dir, register_atom_v, info, telescope ? telescope : scope, ts);
    consume_messages();
    extra.insert(extra.end(), ts.begin(), ts.end());
  }

  ~limits_fixture() {
    for (auto& a : extra)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  std::string heartbeat(int i) {
    return R"({"id":"h-)" + std::to_string(i) + R"(","type":"heartbeat"})";
  }

  std::vector<caf::actor> extra;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_limit_tests, limits_fixture)

CAF_TEST(the message budget allows the burst and refuses the next one) {
  open_with([](session_config& sc) {
    sc.message_rate = 2;
    sc.message_burst = 5;
    sc.rate_abuse_limit = 3;
  });
  fresh();
  for (int i = 1; i <= 5; ++i)
    client(heartbeat(i)); // N = burst: all executed (not answered)
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  client(heartbeat(6)); // N + 1
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "error");
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"RATE_LIMITED"});
  CAF_CHECK_EQUAL(fs[0]->payload()["ref_id"].GetString(), std::string{"h-6"});
  // A limited command is not executed.
  client(R"({"id":"c-1","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"RATE_LIMITED"});
  CAF_CHECK_EQUAL(fs[0]->payload()["ref_id"].GetString(), std::string{"c-1"});
  CAF_CHECK(log->got.empty());
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
  // Refill: 2/s, so after 1 s two more pass and the streak resets.
  advance_time(1s);
  client(R"({"id":"c-2","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  CAF_CHECK_EQUAL(log->got.size(), 1u);
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "command_response");
  client(heartbeat(7));
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
}

CAF_TEST(sustained rate limit abuse closes the session with 1008) {
  open_with([](session_config& sc) {
    sc.message_rate = 1;
    sc.message_burst = 2;
    sc.rate_abuse_limit = 3;
  });
  fresh();
  client(heartbeat(1));
  client(heartbeat(2));
  client(heartbeat(3)); // limited 1
  client(heartbeat(4)); // limited 2
  CAF_CHECK_EQUAL(pipe->close_code, 0u);
  CAF_CHECK_EQUAL(fresh().size(), 2u);
  client(heartbeat(5)); // limited 3: abuse
  CAF_CHECK_EQUAL(pipe->close_code, 1008u);
  CAF_CHECK_EQUAL(pipe->close_reason, "rate limit abuse");
  // Binary frames count as well (nothing more is written once closing).
  self->send(session, ws_binary_atom_v, uint64_t{4});
  consume_messages();
  CAF_CHECK_EQUAL(fresh().size(), 0u);
}

CAF_TEST(subscriptions and pending commands are capped) {
  open_with([](session_config& sc) {
    sc.max_subscriptions = 2;
    sc.max_pending_commands = 1;
  });
  fresh();
  client(R"({"id":"c-1","type":"subscribe","telescope_id":"scope-1"})");
  client(R"({"id":"c-2","type":"subscribe","payload":{)"
         R"("telescope_pattern":"site-*"}})");
  // The same key again is not a new entry.
  client(R"({"id":"c-3","type":"subscribe","telescope_id":"scope-1",)"
         R"("payload":{"subscription_types":["focus"]}})");
  fresh();
  client(R"({"id":"c-4","type":"subscribe"})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "error");
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"OVERLOADED"});
  CAF_CHECK_EQUAL(fs[0]->payload()["ref_id"].GetString(), std::string{"c-4"});
  // One command in flight (the telescope has not answered yet): the
  // second is refused without reaching it; answered ones do not count.
  auto mute = sys.spawn(mute_scope, 0);
  extra.push_back(mute);
  client(R"({"id":"c-5","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  CAF_CHECK_EQUAL(log->got.size(), 1u);
  add_scope("mute-1", mute);
  fresh();
  client(R"({"id":"c-6","type":"control_command","telescope_id":"mute-1",)"
         R"("payload":{"action":"stop"}})");
  CAF_CHECK_EQUAL(fresh().size(), 0u); // pending
  client(R"({"id":"c-7","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["command_id"].GetString(),
                  std::string{"c-7"});
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"OVERLOADED"});
  CAF_CHECK_EQUAL(log->got.size(), 1u);
}

CAF_TEST(commands pending at a telescope actor that ends are answered once) {
  open_with([](session_config&) {});
  auto mute = sys.spawn(mute_scope, 0);
  add_scope("mute-1", mute);
  fresh();
  client(R"({"id":"c-1","type":"control_command","telescope_id":"mute-1",)"
         R"("payload":{"action":"stop"}})");
  client(R"({"id":"c-2","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u); // c-2 answered, c-1 pending
  CAF_CHECK_EQUAL(fs[0]->payload()["command_id"].GetString(),
                  std::string{"c-2"});
  // The actor ends (a crash, or its farm node is lost): no answer will
  // come from it, so the session gives the one answer itself.
  caf::anon_send_exit(mute, caf::exit_reason::kill);
  consume_messages();
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->type(), "telescope_lost");
  CAF_CHECK_EQUAL(fs[1]->type(), "command_response");
  CAF_CHECK_EQUAL(fs[1]->payload()["command_id"].GetString(),
                  std::string{"c-1"});
  CAF_CHECK_EQUAL(fs[1]->payload()["error_code"].GetString(),
                  std::string{"TELESCOPE_UNAVAILABLE"});
  CAF_CHECK(std::string{fs[1]->payload()["error"].GetString()}.find(
              telescope_down_reason)
            != std::string::npos);
  // The request's own timeout later adds nothing.
  sched.trigger_timeouts();
  consume_messages();
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  // And the pending slot is free again.
  client(R"({"id":"c-3","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"stop"}})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["success"].GetBool(), true);
}

CAF_TEST(a telescope that never answers gets one timeout from the session) {
  open_with([](session_config& sc) { sc.command_grace = 500ms; });
  auto mute = sys.spawn(mute_scope, 0);
  extra.push_back(mute);
  add_scope("mute-1", mute);
  fresh();
  auto timers = sched.clock().schedule().size();
  client(R"({"id":"c-1","type":"control_command","telescope_id":"mute-1",)"
         R"("payload":{"action":"stop","timeout_ms":3000}})");
  client(R"({"id":"c-2","type":"control_command","telescope_id":"mute-1",)"
         R"("payload":{"action":"stop","timeout_ms":3000}})");
  client(R"({"id":"c-3","type":"control_command","telescope_id":"mute-1",)"
         R"("payload":{"action":"stop","timeout_ms":1000}})");
  // Two clock entries for three commands: c-2 fits c-1's timer, c-3 is
  // due earlier and arms its own.
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), timers + 2);
  advance_time(1499ms);
  consume_messages();
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  advance_time(1ms); // c-3: 1000 ms + 500 ms of grace
  consume_messages();
  auto fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["command_id"].GetString(),
                  std::string{"c-3"});
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"COMMAND_TIMEOUT"});
  advance_time(1999ms);
  consume_messages();
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  advance_time(1ms);
  consume_messages();
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 2u);
  CAF_CHECK_EQUAL(fs[0]->payload()["command_id"].GetString(),
                  std::string{"c-1"});
  CAF_CHECK_EQUAL(fs[1]->payload()["command_id"].GetString(),
                  std::string{"c-2"});
  for (auto& f : fs)
    CAF_CHECK_EQUAL(f->payload()["error_code"].GetString(),
                    std::string{"COMMAND_TIMEOUT"});
  sched.trigger_timeouts(); // nothing more, ever
  consume_messages();
  CAF_CHECK_EQUAL(fresh().size(), 0u);
}

CAF_TEST(a scoped token sees and commands only its telescopes) {
  add_scope("site-a1");
  add_scope("other-1");
  open_with([](session_config& sc) { sc.telescopes = {"scope-1", "site-*"}; });
  auto fs = fresh();
  // heartbeat + discovered for scope-1 and site-a1, not other-1
  CAF_REQUIRE_EQUAL(fs.size(), 3u);
  std::set<std::string> seen_ids;
  for (size_t i = 1; i < fs.size(); ++i)
    seen_ids.insert(fs[i]->payload()["telescope"]["id"].GetString());
  CAF_CHECK_EQUAL(seen_ids.count("other-1"), 0u);
  CAF_CHECK_EQUAL(seen_ids.count("site-a1"), 1u);
  CAF_CHECK_EQUAL(seen_ids.count("scope-1"), 1u);
  client(R"({"id":"c-1","type":"control_command","telescope_id":"other-1",)"
         R"("payload":{"action":"stop"}})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"FORBIDDEN"});
  CAF_CHECK(log->got.empty());
  client(R"({"id":"c-2","type":"subscribe","telescope_id":"other-1"})");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "error");
  CAF_CHECK_EQUAL(fs[0]->payload()["error_code"].GetString(),
                  std::string{"FORBIDDEN"});
  // all_telescopes covers only the allowed ones.
  client(R"({"id":"c-3","type":"subscribe",)"
         R"("payload":{"subscription_types":["focus"]}})");
  fresh();
  auto& st = deref<caf::stateful_actor<session_state>>(session).state;
  for (auto& [id, cat] : st.active)
    CAF_CHECK_NOT_EQUAL(id, "other-1");
  CAF_CHECK_EQUAL(st.active.size(), 2u); // focus of scope-1 and site-a1
  // A telescope appearing later out of scope stays invisible.
  add_scope("other-2");
  CAF_CHECK_EQUAL(fresh().size(), 0u);
  add_scope("site-b2");
  fs = fresh();
  CAF_REQUIRE_EQUAL(fs.size(), 1u);
  CAF_CHECK_EQUAL(fs[0]->type(), "telescope_discovered");
  CAF_CHECK_EQUAL(st.active.size(), 3u);
  client(R"({"id":"c-4","type":"control_command","telescope_id":"site-a1",)"
         R"("payload":{"action":"stop"}})");
  CAF_CHECK_EQUAL(log->got.size(), 1u);
}

CAF_TEST(the identity of an authenticated session reaches the telescope) {
  open_with([](session_config& sc) {
    sc.identity = "token:alice";
    sc.role = "admin";
  });
  client(R"({"id":"c-1","type":"control_command","telescope_id":"scope-1",)"
         R"("payload":{"action":"reboot"}})");
  CAF_REQUIRE_EQUAL(log->got.size(), 1u);
  CAF_CHECK_EQUAL(log->got[0].identity, "token:alice");
  CAF_CHECK_EQUAL(log->got[0].role, "admin");
}

CAF_TEST_FIXTURE_SCOPE_END()
