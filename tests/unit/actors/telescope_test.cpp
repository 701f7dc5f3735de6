#define CAF_SUITE telescope
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "actors/messages.hpp"
#include "actors/telescope.hpp"
#include "actors/telescope_state.hpp"
#include "caf/all.hpp"
#include "protocol/backoff.hpp"

using namespace scopehub;
using namespace std::chrono_literals;

namespace {

/// A device link that records what the telescope writes.
struct fake_link : net::device_link {
  std::vector<std::string> lines;
  bool closed = false;
  void write(std::string line) override { lines.push_back(std::move(line)); }
  void close() override { closed = true; }
};

/// What the probes saw.
struct record {
  std::vector<std::pair<std::string, command_result>> results;
  std::vector<std::string> progress;                 // "id:state:detail"
  std::vector<std::pair<std::string, bool>> updates; // (json, full)
  std::vector<telescope_info> states;
};

struct request_line {
  int64_t id = 0;
  std::string method;
  std::string params;
};

request_line parse_request(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  request_line r;
  if (!doc.IsObject()) return r;
  r.id = doc["id"].GetInt64();
  r.method = doc["method"].GetString();
  if (doc.HasMember("params")) r.params = protocol::to_json(doc["params"]);
  return r;
}

caf::behavior topic_probe(caf::event_based_actor*,
                          std::shared_ptr<record> rec) {
  return {
    [rec](update_atom, const std::string& json, bool full) {
      rec->updates.emplace_back(json, full);
    },
  };
}

caf::behavior directory_probe(caf::event_based_actor*,
                              std::shared_ptr<record> rec) {
  return {
    [rec](state_atom, const telescope_info& info) {
      rec->states.push_back(info);
    },
  };
}

/// Issues commands like a session does and records the single answers.
caf::behavior issuer(caf::event_based_actor* self, caf::actor tel,
                     std::shared_ptr<record> rec) {
  return {
    [=](command_request req) {
      auto id = req.id;
      self->request(tel, caf::infinite, command_atom_v, std::move(req))
        .then(
          [=](const command_result& r) {
            if (r.error_code != "SUPERSEDED") rec->results.emplace_back(id, r);
          },
          [=](caf::error&) {
            command_result r;
            r.error_code = "REQUEST_FAILED";
            rec->results.emplace_back(id, r);
          });
    },
    [=](progress_atom, const std::string& id, const std::string& state,
        const std::string& detail) {
      rec->progress.push_back(id + ":" + state + ":" + detail);
    },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<record> rec = std::make_shared<record>();
  std::shared_ptr<fake_link> link;
  uint64_t link_id = 0;
  size_t connects = 0;
  caf::actor tel;
  caf::actor client;
  caf::actor client_b;
  std::shared_ptr<record> rec_b = std::make_shared<record>();
  size_t read_pos = 0; // lines already handled by the test

  fixture() {
    telescope_config cfg;
    cfg.id = "scope-1";
    cfg.seed = 42;
    cfg.stall_timeout = 3600s; // tests drive time explicitly
    cfg.poll_interval = 3s;
    auto links = [this](caf::actor, uint64_t id, const std::string&, uint16_t,
                        std::chrono::milliseconds) {
      link = std::make_shared<fake_link>();
      link_id = id;
      connects += 1;
      read_pos = 0;
      calls.clear();
      return std::shared_ptr<net::device_link>{link};
    };
    auto topic = sys.spawn(topic_probe, rec);
    std::vector<caf::actor> topics(4, topic);
    auto dir = sys.spawn(directory_probe, rec);
    tel
      = sys.spawn(telescope_actor, cfg, net::link_factory{links}, dir, topics);
    client = sys.spawn(issuer, tel, rec);
    client_b = sys.spawn(issuer, tel, rec_b);
    consume_messages();
  }

  ~fixture() {
    for (auto& a : {tel, client, client_b})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    consume_messages();
  }

  auto& state() {
    return deref<caf::stateful_actor<telescope_state>>(tel).state;
  }

  void line(const std::string& text) {
    self->send(tel, link_line_atom_v, link_id, text);
    consume_messages();
  }

  void reply(const request_line& r, const std::string& result) {
    line(R"({"jsonrpc":"2.0","Timestamp":"12.000000001","method":")" + r.method
         + R"(","result":)" + result + R"(,"code":0,"id":)"
         + std::to_string(r.id) + "}");
  }

  void reply_error(const request_line& r, int code, const std::string& text) {
    line(R"({"jsonrpc":"2.0","Timestamp":"12.000000001","method":")" + r.method
         + R"(","error":")" + text + R"(","code":)" + std::to_string(code)
         + R"(,"id":)" + std::to_string(r.id) + "}");
  }

  /// Requests written since the last call (poll traffic included).
  std::vector<request_line> written() {
    std::vector<request_line> out;
    for (; read_pos < link->lines.size(); ++read_pos)
      out.push_back(parse_request(link->lines[read_pos]));
    return out;
  }

  std::deque<request_line> calls; // written, not yet taken by next_call

  /// Next written request that is not heartbeat/poll traffic.
  request_line next_call() {
    for (auto& r : written())
      if (r.method != "test_connection" && r.method != "scope_get_equ_coord"
          && r.method != "scope_get_horiz_coord")
        calls.push_back(r);
    if (calls.empty()) return {};
    auto r = calls.front();
    calls.pop_front();
    return r;
  }

  /// Answers the initial reads like a Seestar at focuser step 1580.
  void connect_and_sync() {
    self->send(tel, link_up_atom_v, link_id);
    consume_messages();
    for (auto& r : written()) {
      if (r.method == "get_device_state")
        reply(
          r,
          R"({"device":{"firmware_ver_string":"5.82","product_model":"Seestar S50"},"mount":{"close":false,"tracking":true},"focuser":{"step":1580,"max_step":2600},"pi_status":{"battery_capacity":90,"temp":30.5,"charger_status":"Discharging"}})");
      else if (r.method == "get_focuser_position")
        reply(r, "1580");
      else if (r.method == "scope_get_equ_coord")
        reply(r, R"({"ra":10.5,"dec":45.0})");
      else if (r.method == "scope_get_horiz_coord")
        reply(r, "[30.0,120.0]");
      else if (r.method == "get_view_state")
        reply(r, R"({"View":{"state":"working","mode":"star"}})");
      else
        reply(r, "0");
    }
  }

  void send_cmd(caf::actor who, std::string id, std::string action,
                std::string params = "{}", int64_t timeout_ms = 0,
                std::string session = "sess-a", std::string role = "operator") {
    command_request req;
    req.id = std::move(id);
    req.identity = session;
    req.session = std::move(session);
    req.role = std::move(role);
    req.action = std::move(action);
    req.params = std::move(params);
    req.timeout_ms = timeout_ms;
    self->send(who, std::move(req));
    consume_messages();
  }

  const command_result* result_of(const std::string& id,
                                  const record& r) const {
    const command_result* found = nullptr;
    for (auto& [rid, res] : r.results)
      if (rid == id) found = &res;
    return found;
  }

  size_t count_results(const std::string& id, const record& r) const {
    size_t n = 0;
    for (auto& [rid, res] : r.results)
      n += rid == id ? 1 : 0;
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(telescope_tests, fixture)

CAF_TEST(sync reads the device and publishes full snapshots then online) {
  CAF_CHECK_EQUAL(connects, 1u);
  CAF_CHECK(rec->updates.empty());
  connect_and_sync();
  CAF_CHECK(state().phase == link_phase::ready);
  size_t full = 0;
  for (auto& [json, is_full] : rec->updates)
    full += is_full ? 1 : 0;
  CAF_CHECK_EQUAL(full, 4u);
  CAF_REQUIRE_EQUAL(rec->states.size(), 1u);
  CAF_CHECK(rec->states.back().online);
  CAF_CHECK_EQUAL(rec->states.back().model, "Seestar S50");
  auto& pos = status_of(&deref<caf::stateful_actor<telescope_state>>(tel),
                        protocol::category::position);
  CAF_CHECK_EQUAL(pos["ra"].GetDouble(), 10.5);
  CAF_CHECK_EQUAL(pos["alt"].GetDouble(), 30.0);
}

CAF_TEST(commands before the link is ready are unavailable) {
  send_cmd(client, "c-1", "set_gain", R"({"gain":80})");
  auto r = result_of("c-1", *rec);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK(!r->success);
  CAF_CHECK_EQUAL(r->error_code, "TELESCOPE_UNAVAILABLE");
}

CAF_TEST(short commands run in fifo order one device call at a time) {
  state().cfg.max_calls_in_flight = 1;
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  send_cmd(client, "c-2", "set_gain", R"({"gain":20})");
  send_cmd(client, "c-3", "set_exposure", R"({"exposure_ms":5000})");
  auto first = next_call();
  CAF_CHECK_EQUAL(first.method, "set_control_value");
  CAF_CHECK_EQUAL(first.params, R"(["gain",10])");
  CAF_CHECK_EQUAL(next_call().method, ""); // c-2 waits for c-1's reply
  reply(first, "0");
  auto second = next_call();
  CAF_CHECK_EQUAL(second.params, R"(["gain",20])");
  reply(second, "0");
  auto third = next_call();
  CAF_CHECK_EQUAL(third.method, "set_setting");
  CAF_CHECK_EQUAL(third.params, R"({"exp_ms":{"stack_l":5000}})");
  reply(third, "0");
  CAF_REQUIRE_EQUAL(rec->results.size(), 3u);
  CAF_CHECK_EQUAL(rec->results[0].first, "c-1");
  CAF_CHECK_EQUAL(rec->results[1].first, "c-2");
  CAF_CHECK_EQUAL(rec->results[2].first, "c-3");
  for (auto& [id, r] : rec->results) {
    CAF_CHECK(r.success);
    CAF_CHECK_EQUAL(r.error_code, "");
  }
  CAF_CHECK_EQUAL(rec->results[0].second.result, R"({"status":"gain_set"})");
}

CAF_TEST(settings share the link up to max calls in flight other calls alone) {
  state().cfg.max_calls_in_flight = 2;
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  send_cmd(client, "c-2", "set_gain", R"({"gain":20})");
  send_cmd(client, "c-3", "set_exposure", R"({"exposure_ms":5000})");
  send_cmd(client, "f-1", "focus", R"({"position":1580})");
  send_cmd(client, "c-4", "set_gain", R"({"gain":40})");
  auto first = next_call();
  auto second = next_call();
  CAF_CHECK_EQUAL(first.params, R"(["gain",10])");
  CAF_CHECK_EQUAL(second.params, R"(["gain",20])");
  CAF_CHECK_EQUAL(next_call().method, ""); // c-3: two calls in flight
  reply(second, "0");                      // replies in any order
  auto third = next_call();
  CAF_CHECK_EQUAL(third.method, "set_setting");
  CAF_CHECK_EQUAL(next_call().method, ""); // the limit again
  reply(first, "0");
  CAF_CHECK_EQUAL(next_call().method, ""); // f-1 is no setting: waits
  reply(third, "0");
  auto focus = next_call();
  CAF_CHECK_EQUAL(focus.method, "move_focuser");
  CAF_CHECK_EQUAL(next_call().method, ""); // c-4 never joins the focus call
  reply(focus, R"({"step":1580})");
  auto last = next_call();
  CAF_CHECK_EQUAL(last.params, R"(["gain",40])");
  reply(last, "0");
  std::vector<std::string> order;
  for (auto& [id, r] : rec->results) {
    order.push_back(id);
    CAF_CHECK(r.success);
  }
  CAF_CHECK_EQUAL(
    order, (std::vector<std::string>{"c-2", "c-1", "c-3", "f-1", "c-4"}));
  auto& imaging = status_of(&deref<caf::stateful_actor<telescope_state>>(tel),
                            protocol::category::imaging);
  CAF_CHECK_EQUAL(imaging["gain"].GetInt(), 40);
}

CAF_TEST(replies are matched by id even out of order and around events) {
  connect_and_sync();
  advance_time(3s); // a poll tick: heartbeat and coordinate reads in flight
  consume_messages();
  auto polls = written();
  CAF_REQUIRE_EQUAL(polls.size(), 3u);
  send_cmd(client, "c-1", "focus", R"({"position":1600})");
  auto call = next_call();
  CAF_CHECK_EQUAL(call.method, "move_focuser");
  CAF_CHECK_EQUAL(call.params, R"({"step":1600,"ret_step":true})");
  // The completion event arrives before the reply, as on real hardware.
  line(
    R"({"Event":"FocuserMove","Timestamp":"13.0","state":"complete","position":1600,"lapse_ms":20})");
  CAF_CHECK(rec->results.empty());
  reply(call, R"({"step":1580})");
  reply(polls[2], "[31.0,121.0]"); // poll replies after, in reverse order
  reply(polls[1], R"({"ra":11.0,"dec":44.0})");
  reply(polls[0], R"("server connected!")");
  CAF_REQUIRE_EQUAL(rec->results.size(), 1u);
  CAF_CHECK(rec->results[0].second.success);
  CAF_CHECK_EQUAL(rec->results[0].second.result,
                  R"({"status":"focus_complete"})");
  auto& pos = status_of(&deref<caf::stateful_actor<telescope_state>>(tel),
                        protocol::category::position);
  CAF_CHECK_EQUAL(pos["alt"].GetDouble(), 31.0);
  CAF_CHECK_EQUAL(pos["ra"].GetDouble(), 11.0);
  auto& focus = status_of(&deref<caf::stateful_actor<telescope_state>>(tel),
                          protocol::category::focus);
  CAF_CHECK_EQUAL(focus["focus_position"].GetInt(), 1600);
}

CAF_TEST(goto answers on completion with progress in between) {
  connect_and_sync();
  send_cmd(client, "g-1", "goto",
           R"({"ra":5.5,"dec":22.0,"target_name":"M1"})");
  auto call = next_call();
  CAF_CHECK_EQUAL(call.method, "iscope_start_view");
  CAF_CHECK_EQUAL(
    call.params,
    R"({"mode":"star","target_ra_dec":[5.5,22.0],"target_name":"M1","lp_filter":false})");
  reply(call, "0");
  CAF_CHECK(rec->results.empty());
  line(
    R"({"Event":"ScopeGoto","Timestamp":"14.0","state":"working","lapse_ms":300,"cur_ra_dec":[6.0,25.0],"dist_deg":12.5})");
  line(
    R"({"Event":"AutoGoto","Timestamp":"20.0","state":"complete","lapse_ms":6000})");
  CAF_REQUIRE_EQUAL(rec->results.size(), 1u);
  CAF_CHECK(rec->results[0].second.success);
  CAF_CHECK_EQUAL(rec->results[0].second.result,
                  R"({"status":"goto_complete"})");
  CAF_REQUIRE_EQUAL(rec->progress.size(), 2u);
  CAF_CHECK_EQUAL(rec->progress[0], "g-1:accepted:{}");
  CAF_CHECK_EQUAL(rec->progress[1], "g-1:working:{\"dist_deg\":12.500000}");
}

CAF_TEST(device errors map to protocol errors with the device text) {
  connect_and_sync();
  send_cmd(client, "g-1", "goto", R"({"ra":5.5,"dec":-89.0})");
  reply_error(next_call(), 270, "below horizon");
  auto r = result_of("g-1", *rec);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK(!r->success);
  CAF_CHECK_EQUAL(r->error_code, "INVALID_PARAMETERS");
  CAF_CHECK_EQUAL(r->message,
                  "device refused iscope_start_view: below horizon (270)");
  CAF_CHECK_EQUAL(r->result, R"({"device_code":270})");
}

CAF_TEST(a second motion while one runs is busy) {
  connect_and_sync();
  send_cmd(client, "g-1", "goto", R"({"ra":5.5,"dec":22.0})");
  reply(next_call(), "0");
  send_cmd(client_b, "g-2", "goto", R"({"ra":1.0,"dec":10.0})", 0, "sess-b");
  auto r = result_of("g-2", *rec_b);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->error_code, "TELESCOPE_BUSY");
  // Non-motion commands still run while the goto slews.
  send_cmd(client_b, "s-1", "set_gain", R"({"gain":5})", 0, "sess-b");
  reply(next_call(), "0");
  CAF_CHECK(result_of("s-1", *rec_b) != nullptr);
  CAF_CHECK(result_of("g-1", *rec) == nullptr);
}

CAF_TEST(a dispatched command without reply times out once) {
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})", 2000);
  auto call = next_call();
  CAF_CHECK_EQUAL(call.method, "set_control_value");
  advance_time(2s);
  consume_messages();
  auto r = result_of("c-1", *rec);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->error_code, "COMMAND_TIMEOUT");
  CAF_CHECK_EQUAL(r->result, R"({"dispatched":true})");
  reply(call, "0"); // late reply: ignored, no second answer
  CAF_CHECK_EQUAL(count_results("c-1", *rec), 1u);
}

CAF_TEST(one timer serves every deadline and each command expires on time) {
  connect_and_sync();
  auto timers = sched.clock().schedule().size();
  for (int i = 0; i < 20; ++i)
    send_cmd(client, "q-" + std::to_string(i), "set_gain", R"({"gain":1})",
             2000);
  // One clock entry for twenty deadlines (each entry wakes CAF's clock).
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), timers + 1);
  advance_time(1s);
  consume_messages();
  send_cmd(client, "late", "set_gain", R"({"gain":2})", 500); // due at 1.5 s
  advance_time(499ms);
  consume_messages();
  CAF_CHECK(rec->results.empty());
  advance_time(1ms);
  consume_messages();
  CAF_REQUIRE_EQUAL(rec->results.size(), 1u);
  CAF_CHECK_EQUAL(rec->results[0].first, "late");
  CAF_CHECK_EQUAL(rec->results[0].second.error_code, "COMMAND_TIMEOUT");
  advance_time(499ms);
  consume_messages();
  CAF_CHECK_EQUAL(rec->results.size(), 1u);
  advance_time(1ms);
  consume_messages();
  CAF_REQUIRE_EQUAL(rec->results.size(), 21u);
  for (int i = 0; i < 20; ++i) {
    auto& [id, r] = rec->results[i + 1];
    CAF_CHECK_EQUAL(id, "q-" + std::to_string(i));
    CAF_CHECK_EQUAL(r.error_code, "COMMAND_TIMEOUT");
    // 16 settings were on the link (max-calls-in-flight), 4 still queued.
    CAF_CHECK_EQUAL(r.result, i < 16 ? R"({"dispatched":true})"
                                     : R"({"dispatched":false})");
  }
}

CAF_TEST(a command still queued at its deadline is never sent) {
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})", 5000);
  auto first = next_call();
  send_cmd(client, "m-1", "move", R"({"direction":"up","duration":1000})",
           1000);
  advance_time(1s);
  consume_messages();
  auto r = result_of("m-1", *rec);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->error_code, "COMMAND_TIMEOUT");
  CAF_CHECK_EQUAL(r->result, R"({"dispatched":false})");
  reply(first, "0");
  CAF_CHECK_EQUAL(next_call().method, ""); // the stale move never went out
  for (auto& l : link->lines)
    CAF_CHECK(l.find("scope_speed_move") == std::string::npos);
}

CAF_TEST(cancel answers a queued command cancelled and stops a running one) {
  state().cfg.max_calls_in_flight = 1; // so that c-2 stays queued
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  auto first = next_call();
  send_cmd(client, "c-2", "set_gain", R"({"gain":20})");
  send_cmd(client, "x-1", "cancel", R"({"command_id":"c-2"})");
  auto c2 = result_of("c-2", *rec);
  CAF_REQUIRE(c2 != nullptr);
  CAF_CHECK_EQUAL(c2->error_code, "COMMAND_CANCELLED");
  CAF_CHECK(result_of("x-1", *rec)->success);
  reply(first, "0");
  // Running goto: cancel sends the stop calls and answers after them.
  send_cmd(client, "g-1", "goto", R"({"ra":5.5,"dec":22.0})");
  reply(next_call(), "0");
  send_cmd(client, "x-2", "cancel", R"({"command_id":"g-1"})");
  auto stop1 = next_call();
  auto stop2 = next_call();
  CAF_CHECK_EQUAL(stop1.method, "iscope_stop_view");
  CAF_CHECK_EQUAL(stop2.method, "scope_move");
  CAF_CHECK(result_of("g-1", *rec) == nullptr);
  reply(stop1, "0");
  reply(stop2, "0");
  auto g = result_of("g-1", *rec);
  CAF_REQUIRE(g != nullptr);
  CAF_CHECK_EQUAL(g->error_code, "COMMAND_CANCELLED");
  line(R"({"Event":"AutoGoto","Timestamp":"20.0","state":"cancel"})");
  CAF_CHECK_EQUAL(count_results("g-1", *rec), 1u);
  // Cancelling another client's command is refused.
  send_cmd(client, "c-3", "set_gain", R"({"gain":20})");
  send_cmd(client_b, "x-3", "cancel", R"({"command_id":"c-3"})", 0, "sess-b");
  CAF_CHECK_EQUAL(result_of("x-3", *rec_b)->error_code, "INVALID_PARAMETERS");
}

CAF_TEST(stop acts at once and ends running motions) {
  connect_and_sync();
  send_cmd(client, "m-1", "move",
           R"({"direction":"left","duration":5000,"speed":50})");
  auto mv = next_call();
  CAF_CHECK_EQUAL(mv.params, R"({"speed":750,"angle":180,"dur_sec":5.0})");
  reply(mv, "0");
  send_cmd(client_b, "st-1", "stop", "{}", 0, "sess-b");
  auto st = next_call();
  CAF_CHECK_EQUAL(st.method, "scope_move");
  CAF_CHECK_EQUAL(st.params, R"(["none"])");
  reply(st, "0");
  CAF_CHECK(result_of("st-1", *rec_b)->success);
  auto m = result_of("m-1", *rec);
  CAF_REQUIRE(m != nullptr);
  CAF_CHECK_EQUAL(m->error_code, "COMMAND_CANCELLED");
  advance_time(5s);
  consume_messages();
  CAF_CHECK_EQUAL(count_results("m-1", *rec), 1u);
}

CAF_TEST(a timed move answers when its duration elapsed) {
  connect_and_sync();
  send_cmd(client, "m-1", "move", R"({"direction":"up","duration":1500})");
  reply(next_call(), "0");
  advance_time(1s);
  consume_messages();
  CAF_CHECK(result_of("m-1", *rec) == nullptr);
  advance_time(500ms);
  consume_messages();
  auto m = result_of("m-1", *rec);
  CAF_REQUIRE(m != nullptr);
  CAF_CHECK(m->success);
  CAF_CHECK_EQUAL(m->result, R"({"status":"movement_completed"})");
}

CAF_TEST(start imaging answers on the first page form frame complete) {
  connect_and_sync();
  send_cmd(client, "i-1", "start_imaging", R"({"exposure_ms":1000})");
  auto set = next_call();
  CAF_CHECK_EQUAL(set.method, "set_setting");
  reply(set, "0");
  auto stack = next_call();
  CAF_CHECK_EQUAL(stack.method, "iscope_start_stack");
  reply(stack, "0");
  // Page-form events other than frame_complete do not finish it.
  line(
    R"({"Event":"Stack","Timestamp":"30.0","state":"start","page":"stack"})");
  CAF_CHECK(result_of("i-1", *rec) == nullptr);
  // As the device (and the sim) send it: page form, per frame.
  line(
    R"({"Event":"Stack","Timestamp":"31.5","state":"frame_complete","page":"stack","frame_type":"light","stacked_frame":1,"dropped_frame":0,"total_frame":1})");
  auto r = result_of("i-1", *rec);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK(r->success);
  CAF_CHECK_EQUAL(r->result, R"({"status":"stacking"})");
}

CAF_TEST(the control lease blocks other sessions until released) {
  connect_and_sync();
  send_cmd(client, "l-1", "acquire_control", R"({"ttl_ms":60000})");
  CAF_CHECK(result_of("l-1", *rec)->success);
  CAF_CHECK_EQUAL(state().lease.session, "sess-a");
  send_cmd(client_b, "g-1", "goto", R"({"ra":1.0,"dec":10.0})", 0, "sess-b");
  auto r = result_of("g-1", *rec_b);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->error_code, "CONTROL_HELD");
  CAF_CHECK_EQUAL(r->result, R"({"controller":"sess-a"})");
  send_cmd(client_b, "l-2", "acquire_control", "{}", 0, "sess-b");
  CAF_CHECK_EQUAL(result_of("l-2", *rec_b)->error_code, "CONTROL_HELD");
  send_cmd(client_b, "l-3", "acquire_control", R"({"force":true})", 0,
           "sess-b");
  CAF_CHECK_EQUAL(result_of("l-3", *rec_b)->error_code, "FORBIDDEN");
  send_cmd(client_b, "l-4", "acquire_control", R"({"force":true})", 0, "sess-b",
           "admin");
  CAF_CHECK(result_of("l-4", *rec_b)->success);
  CAF_CHECK_EQUAL(state().lease.session, "sess-b");
  send_cmd(client_b, "l-5", "release_control", "{}", 0, "sess-b");
  CAF_CHECK(state().lease.session.empty());
  send_cmd(client, "g-2", "goto", R"({"ra":1.0,"dec":10.0})");
  CAF_CHECK_EQUAL(next_call().method, "iscope_start_view");
}

CAF_TEST(the lease ends at its ttl and when its holder goes down) {
  connect_and_sync();
  send_cmd(client, "l-1", "acquire_control", R"({"ttl_ms":4000})");
  CAF_CHECK_EQUAL(state().lease.session, "sess-a");
  advance_time(3s);
  consume_messages();
  CAF_CHECK_EQUAL(state().lease.session, "sess-a");
  advance_time(3s);
  consume_messages();
  CAF_CHECK(state().lease.session.empty());
  send_cmd(client_b, "l-2", "acquire_control", "{}", 0, "sess-b");
  CAF_CHECK_EQUAL(state().lease.session, "sess-b");
  caf::anon_send_exit(client_b, caf::exit_reason::user_shutdown);
  consume_messages();
  CAF_CHECK(state().lease.session.empty());
}

CAF_TEST(a repeated command id replays the stored outcome) {
  connect_and_sync();
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  reply(next_call(), "0");
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  CAF_CHECK_EQUAL(next_call().method, ""); // not executed twice
  CAF_REQUIRE_EQUAL(count_results("c-1", *rec), 2u);
  CAF_CHECK(!rec->results[0].second.duplicate);
  CAF_CHECK(rec->results[1].second.duplicate);
  CAF_CHECK(rec->results[1].second.success);
  // The same id from another identity is another command.
  send_cmd(client_b, "c-1", "set_gain", R"({"gain":10})", 0, "sess-b");
  CAF_CHECK_EQUAL(next_call().method, "set_control_value");
}

CAF_TEST(a duplicate of a running command answers only the latest issuer) {
  connect_and_sync();
  send_cmd(client, "g-1", "goto", R"({"ra":5.5,"dec":22.0})");
  reply(next_call(), "0");
  // Same identity reconnected as another actor (client_b) resends g-1.
  send_cmd(client_b, "g-1", "goto", R"({"ra":5.5,"dec":22.0})");
  CAF_CHECK_EQUAL(next_call().method, "");
  line(R"({"Event":"AutoGoto","Timestamp":"20.0","state":"complete"})");
  CAF_CHECK_EQUAL(count_results("g-1", *rec), 0u);
  CAF_CHECK_EQUAL(count_results("g-1", *rec_b), 1u);
}

CAF_TEST(link loss answers every pending command and reconnects) {
  connect_and_sync();
  send_cmd(client, "g-1", "goto", R"({"ra":5.5,"dec":22.0})");
  reply(next_call(), "0");
  send_cmd(client, "c-1", "set_gain", R"({"gain":10})");
  send_cmd(client, "c-2", "set_gain", R"({"gain":20})");
  self->send(tel, link_down_atom_v, link_id, std::string{"connection reset"});
  consume_messages();
  for (auto id : {"g-1", "c-1", "c-2"}) {
    auto r = result_of(id, *rec);
    CAF_REQUIRE(r != nullptr);
    CAF_CHECK_EQUAL(r->error_code, "TELESCOPE_UNAVAILABLE");
  }
  CAF_REQUIRE_EQUAL(rec->states.size(), 2u);
  CAF_CHECK(!rec->states.back().online);
  CAF_CHECK_EQUAL(rec->states.back().reason, "connection reset");
  CAF_CHECK(state().phase == link_phase::backing_off);
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(connects, 2u);
  connect_and_sync();
  CAF_CHECK(rec->states.back().online);
}

CAF_TEST(a silent device is declared stalled) {
  connect_and_sync();
  state().cfg.stall_timeout = 5s;
  advance_time(3s);
  consume_messages();
  CAF_CHECK(state().phase == link_phase::ready);
  advance_time(3s);
  consume_messages();
  CAF_CHECK(state().phase == link_phase::backing_off);
  CAF_CHECK(link->closed);
}

CAF_TEST(batch runs its steps in order and stops at the first failure) {
  connect_and_sync();
  send_cmd(client, "b-1", "batch",
           R"({"commands":[{"action":"set_gain","parameters":{"gain":50}},)"
           R"({"action":"focus","parameters":{"position":1580}},)"
           R"({"action":"set_exposure","parameters":{"exposure_ms":100}},)"
           R"({"action":"set_gain","parameters":{"gain":60}}]})");
  send_cmd(client_b, "o-1", "set_gain", R"({"gain":1})", 0, "sess-b");
  reply(next_call(), "0");  // step 1
  auto focus = next_call(); // step 2 (already there: no event)
  CAF_CHECK_EQUAL(focus.method, "move_focuser");
  reply(focus, R"({"step":1580})");
  auto exp = next_call(); // step 3, not the other client's
  CAF_CHECK_EQUAL(exp.method, "set_setting");
  reply_error(exp, 207, "fail to operate");
  auto b = result_of("b-1", *rec);
  CAF_REQUIRE(b != nullptr);
  CAF_CHECK(!b->success);
  rapidjson::Document doc;
  doc.Parse(b->result.c_str());
  CAF_REQUIRE(doc.IsObject() && doc.HasMember("steps"));
  CAF_CHECK_EQUAL(doc["steps"].Size(), 3u);
  CAF_CHECK(doc["steps"][0]["success"].GetBool());
  CAF_CHECK(!doc["steps"][2]["success"].GetBool());
  // Only now does the other client's command reach the device.
  auto other = next_call();
  CAF_CHECK_EQUAL(other.params, R"(["gain",1])");
}

CAF_TEST(reboot needs the admin role) {
  connect_and_sync();
  send_cmd(client, "r-1", "reboot");
  CAF_CHECK_EQUAL(result_of("r-1", *rec)->error_code, "FORBIDDEN");
  send_cmd(client, "r-2", "reboot", "{}", 0, "sess-a", "admin");
  CAF_CHECK_EQUAL(next_call().method, "pi_reboot");
}

CAF_TEST(status deltas carry only changed fields) {
  connect_and_sync();
  rec->updates.clear();
  line(R"({"Event":"PiStatus","Timestamp":"30.0","battery_capacity":89})");
  CAF_REQUIRE_EQUAL(rec->updates.size(), 1u);
  CAF_CHECK_EQUAL(rec->updates[0].first, R"({"battery_capacity":89})");
  CAF_CHECK(!rec->updates[0].second);
  line(R"({"Event":"PiStatus","Timestamp":"31.0","battery_capacity":89})");
  CAF_CHECK_EQUAL(rec->updates.size(), 1u); // no change, no delta
}

CAF_TEST(slew events become position deltas) {
  connect_and_sync();
  rec->updates.clear();
  line(
    R"({"Event":"ScopeGoto","Timestamp":"40.0","state":"working","lapse_ms":0,"cur_ra_dec":[1.25,50.5],"dist_deg":20.0,"route":["View","AutoGoto"]})");
  CAF_REQUIRE_EQUAL(rec->updates.size(), 1u);
  CAF_CHECK_EQUAL(rec->updates[0].first,
                  R"({"ra":1.25,"dec":50.5,"slewing":true})");
  line(
    R"({"Event":"ScopeGoto","Timestamp":"41.0","state":"complete","lapse_ms":900,"cur_ra_dec":[2.5,60.0],"dist_deg":0.0})");
  CAF_REQUIRE_EQUAL(rec->updates.size(), 2u);
  CAF_CHECK_EQUAL(rec->updates[1].first,
                  R"({"ra":2.5,"dec":60.0,"slewing":false})");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(backoff grows exponentially with jitter up to its cap) {
  std::minstd_rand rng{7};
  for (unsigned attempt = 0; attempt < 12; ++attempt) {
    int64_t step = std::min<int64_t>(1000LL << attempt, 30000);
    for (int i = 0; i < 50; ++i) {
      auto d = backoff_delay(attempt, 1000ms, 30000ms, rng).count();
      CAF_CHECK_GREATER_OR_EQUAL(d, step - step / 2);
      CAF_CHECK_LESS_OR_EQUAL(d, step);
    }
  }
}
