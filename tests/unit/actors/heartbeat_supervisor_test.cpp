#define CAF_SUITE heartbeat_supervisor
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <string>
#include <vector>

#include "actors/heartbeat_supervisor.hpp"
#include "actors/messages.hpp"
#include "caf/all.hpp"

using namespace scopehub;
using namespace std::chrono_literals;

namespace {

struct log_t {
  std::vector<std::string> events;
  size_t spawned = 0;
  std::vector<caf::actor> telescopes;
  std::vector<caf::actor> topics;
};

/// Records every message it gets as a short text.
caf::behavior recorder(caf::event_based_actor*, std::shared_ptr<log_t> log,
                       std::string name) {
  return {
    [=](heartbeat_atom) { log->events.push_back(name + ":tick"); },
    [=](caf::close_atom, uint16_t code, const std::string& reason) {
      log->events.push_back(name + ":close:" + std::to_string(code) + ":"
                            + reason);
    },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<log_t> log = std::make_shared<log_t>();
  caf::actor sup;

  fixture() {
    supervisor_config cfg;
    cfg.tick = 1s;
    cfg.restart_base = 500ms;
    cfg.restart_cap = 4s;
    cfg.seed = 3;
    auto lg = log;
    auto spawner
      = [this, lg](const telescope_spec& spec, std::vector<caf::actor> topics) {
          lg->spawned += 1;
          if (topics.empty())
            topics.push_back(sys.spawn(recorder, lg, spec.id + "/topic"));
          telescope_entry e;
          e.telescope = sys.spawn(recorder, lg, spec.id);
          e.topics = topics;
          lg->telescopes.push_back(e.telescope);
          lg->topics = topics;
          return e;
        };
    sup = sys.spawn(heartbeat_supervisor, cfg, telescope_spawner{spawner});
    consume_messages();
  }

  ~fixture() {
    self->send(sup, caf::delete_atom_v);
    consume_messages();
  }

  telescope_spec spec(const std::string& id) {
    telescope_spec s;
    s.id = id;
    s.host = "127.0.0.1";
    s.port = 4700;
    s.origin = "test";
    return s;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(every joined session is ticked until it goes away) {
  auto a = sys.spawn(recorder, log, std::string{"a"});
  auto b = sys.spawn(recorder, log, std::string{"b"});
  self->send(sup, caf::join_atom_v, a);
  self->send(sup, caf::join_atom_v, b);
  consume_messages();
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(log->events, (std::vector<std::string>{"a:tick", "b:tick"}));
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  consume_messages();
  log->events.clear();
  advance_time(1s);
  consume_messages();
  CAF_CHECK_EQUAL(log->events, (std::vector<std::string>{"a:tick"}));
  self->send(sup, caf::close_atom_v, uint16_t{1001},
             std::string{"server shutting down"});
  consume_messages();
  CAF_CHECK_EQUAL(log->events.back(), "a:close:1001:server shutting down");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST(a telescope is created once per id) {
  self->send(sup, supervise_atom_v, spec("t1"));
  self->send(sup, supervise_atom_v, spec("t1"));
  self->send(sup, supervise_atom_v, spec("t2"));
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 2u);
}

CAF_TEST(a crashed telescope is restarted with its topics after backoff) {
  self->send(sup, supervise_atom_v, spec("t1"));
  consume_messages();
  CAF_REQUIRE_EQUAL(log->telescopes.size(), 1u);
  auto topics = log->topics;
  self->send_exit(log->telescopes[0], caf::exit_reason::kill);
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 1u); // not at once: after the backoff
  advance_time(500ms); // the first delay is jittered within [250, 500] ms
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 2u);
  CAF_CHECK(log->topics == topics); // same topics: seq and epoch survive
  // A second crash soon after waits longer (exponential backoff).
  self->send_exit(log->telescopes[1], caf::exit_reason::kill);
  consume_messages();
  advance_time(499ms); // the second is within [500, 1000] ms
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 2u);
  advance_time(501ms);
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 3u);
  auto& st = deref<caf::stateful_actor<supervisor_state>>(sup).state;
  CAF_CHECK_EQUAL(st.telescopes.size(), 1u);
  CAF_CHECK_EQUAL(st.restarts, 2u);
}

CAF_TEST(a deliberate stop is not restarted) {
  self->send(sup, supervise_atom_v, spec("t1"));
  consume_messages();
  self->send_exit(log->telescopes[0], caf::exit_reason::user_shutdown);
  consume_messages();
  advance_time(10s);
  consume_messages();
  CAF_CHECK_EQUAL(log->spawned, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
