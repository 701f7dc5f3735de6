#define CAF_SUITE directory
// The directory actor: registration, fleet announcements to sessions
// (telescope_discovered / telescope_lost), lookup, and cleanup on down.

#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <string>
#include <tuple>
#include <vector>

#include <rapidjson/document.h>

#include "actors/directory.hpp"

using namespace scopehub;

namespace {

// -- a session that records every fleet announcement
// ---------------------------

struct session_state {
  std::string label;
  std::vector<telescope_entry> entries;
  std::vector<std::string> frames;
  static inline const char* name = "fake_session";
};

// Fakes take a label because CAF 0.17.6 dereferences a null argument tuple
// when spawning a function without arguments (UBSan stops the test there).
caf::behavior fake_session(caf::stateful_actor<session_state>* self,
                           std::string label) {
  self->state.label = std::move(label);
  return {
    [self](fleet_atom, const telescope_entry& e, const std::string& frame) {
      self->state.entries.push_back(e);
      self->state.frames.push_back(frame);
    },
  };
}

/// Stands in for a telescope or a topic: alive until told to exit.
caf::behavior idle_actor(const std::string&) {
  return {
    [](update_atom, const std::string&, bool) {},
  };
}

rapidjson::Document parse(const std::string& frame) {
  rapidjson::Document d;
  d.Parse(frame.data(), frame.size());
  CAF_CHECK(!d.HasParseError());
  CAF_CHECK(d.IsObject());
  return d;
}

std::string str(const rapidjson::Value& x) {
  return x.IsString() ? std::string{x.GetString()} : std::string{"<none>"};
}

telescope_info make_info(std::string id, bool online) {
  telescope_info x;
  x.id = std::move(id);
  x.name = "Seestar " + x.id;
  x.model = "S50";
  x.host = "127.0.0.1";
  x.port = 4700;
  x.node = "local";
  x.online = online;
  return x;
}

using counts = std::tuple<uint64_t, uint64_t, uint64_t>;

struct fixture : test_coordinator_fixture<> {
  caf::actor dir;
  caf::actor sess;
  caf::actor tel;
  std::vector<caf::actor> topics;

  fixture() {
    dir = sys.spawn(directory_actor, directory_config{"d-"});
    sess = sys.spawn(fake_session, "sess");
    tel = sys.spawn(idle_actor, "tel");
    for (int i = 0; i < 4; ++i)
      topics.push_back(sys.spawn(idle_actor, "topic"));
    consume_messages();
  }

  session_state& seen(const caf::actor& x) {
    return deref<caf::stateful_actor<session_state>>(x).state;
  }

  std::tuple<std::vector<telescope_entry>, std::vector<std::string>>
  join(const caf::actor& s) {
    return request<std::vector<telescope_entry>, std::vector<std::string>>(
      dir, caf::subscribe_atom_v, s);
  }

  void register_telescope(const telescope_info& info, const caf::actor& t) {
    self->send(dir, register_atom_v, info, t, topics);
    expect((register_atom, telescope_info, caf::actor, std::vector<caf::actor>),
           from(self).to(dir));
  }

  void send_state(const telescope_info& info) {
    self->send(dir, state_atom_v, info);
    expect((state_atom, telescope_info), from(self).to(dir));
  }

  // CAF_CHECK_EQUAL binds `auto&&` to its arguments: std::get on a
  // temporary tuple would dangle, so this returns a value.
  uint64_t session_count() { return std::get<2>(health()); }

  counts health() {
    return request<uint64_t, uint64_t, uint64_t>(dir, caf::get_atom_v);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(directory_tests, fixture)

CAF_TEST(register announces telescope_discovered to joined sessions) {
  auto [entries, frames] = join(sess);
  CAF_CHECK(entries.empty());
  CAF_CHECK(frames.empty());
  register_telescope(make_info("seestar-001", true), tel);
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  auto& s = seen(sess);
  CAF_REQUIRE_EQUAL(s.frames.size(), 1u);
  CAF_CHECK_EQUAL(s.entries[0].info.id, "seestar-001");
  CAF_CHECK_EQUAL(s.entries[0].telescope, tel);
  CAF_CHECK_EQUAL(s.entries[0].topics.size(), 4u);
  auto d = parse(s.frames[0]);
  CAF_CHECK_EQUAL(str(d["id"]), "d-1");
  CAF_CHECK_EQUAL(str(d["type"]), "telescope_discovered");
  CAF_CHECK_EQUAL(str(d["telescope_id"]), "seestar-001");
  CAF_CHECK(d["timestamp"].IsInt64() && d["timestamp"].GetInt64() > 0);
  auto& t = d["payload"]["telescope"];
  CAF_CHECK_EQUAL(str(t["id"]), "seestar-001");
  CAF_CHECK_EQUAL(str(t["name"]), "Seestar seestar-001");
  CAF_CHECK_EQUAL(str(t["model"]), "S50");
  CAF_CHECK_EQUAL(str(t["host"]), "127.0.0.1");
  CAF_CHECK_EQUAL(t["port"].GetUint(), 4700u);
  CAF_CHECK_EQUAL(str(t["node"]), "local");
  CAF_CHECK_EQUAL(str(t["state"]), "online");
  CAF_CHECK_EQUAL(t.MemberCount(), 7u);
}

CAF_TEST(a joining session gets every known telescope with its state) {
  register_telescope(make_info("a", true), tel);
  register_telescope(make_info("b", false), sys.spawn(idle_actor, "tel2"));
  auto [entries, frames] = join(sess);
  CAF_REQUIRE_EQUAL(entries.size(), 2u);
  CAF_REQUIRE_EQUAL(frames.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto d = parse(frames[i]);
    CAF_CHECK_EQUAL(str(d["type"]), "telescope_discovered");
    CAF_CHECK_EQUAL(str(d["payload"]["telescope"]["id"]), entries[i].info.id);
  }
  CAF_CHECK_EQUAL(entries[0].info.id, "a");
  CAF_CHECK_EQUAL(entries[0].telescope, tel);
  CAF_CHECK_EQUAL(str(parse(frames[0])["payload"]["telescope"]["state"]),
                  "online");
  CAF_CHECK_EQUAL(str(parse(frames[1])["payload"]["telescope"]["state"]),
                  "offline");
  // Frames carry distinct server message ids.
  CAF_CHECK_NOT_EQUAL(str(parse(frames[0])["id"]), str(parse(frames[1])["id"]));
  CAF_CHECK(seen(sess).frames.empty());
}

CAF_TEST(going offline sends telescope_lost and online again discovered) {
  register_telescope(make_info("seestar-001", true), tel);
  join(sess);
  auto info = make_info("seestar-001", false);
  info.reason = "connection refused";
  send_state(info);
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  send_state(info); // still offline: no news
  disallow((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  info.online = true;
  info.reason.clear();
  send_state(info);
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  send_state(info); // still online: no news
  disallow((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  auto& s = seen(sess);
  CAF_REQUIRE_EQUAL(s.frames.size(), 2u);
  auto lost = parse(s.frames[0]);
  CAF_CHECK_EQUAL(str(lost["type"]), "telescope_lost");
  CAF_CHECK_EQUAL(str(lost["telescope_id"]), "seestar-001");
  CAF_CHECK_EQUAL(str(lost["payload"]["reason"]), "connection refused");
  CAF_CHECK_EQUAL(lost["payload"].MemberCount(), 1u);
  CAF_CHECK_EQUAL(s.entries[0].info.online, false);
  auto back = parse(s.frames[1]);
  CAF_CHECK_EQUAL(str(back["type"]), "telescope_discovered");
  CAF_CHECK_EQUAL(str(back["payload"]["telescope"]["state"]), "online");
  CAF_CHECK_EQUAL(s.entries[1].info.online, true);
}

CAF_TEST(every session gets the same announcement frame) {
  auto other = sys.spawn(fake_session, "other");
  join(sess);
  join(other);
  register_telescope(make_info("seestar-001", true), tel);
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(other));
  CAF_REQUIRE_EQUAL(seen(other).frames.size(), 1u);
  CAF_CHECK_EQUAL(seen(sess).frames[0], seen(other).frames[0]);
}

CAF_TEST(lookup finds a telescope and answers an error for an unknown id) {
  register_telescope(make_info("seestar-001", true), tel);
  auto e
    = request<telescope_entry>(dir, lookup_atom_v, std::string{"seestar-001"});
  CAF_CHECK_EQUAL(e.info.id, "seestar-001");
  CAF_CHECK_EQUAL(e.telescope, tel);
  CAF_CHECK_EQUAL(e.topics, topics);
  bool got_error = false;
  auto h
    = self->request(dir, caf::infinite, lookup_atom_v, std::string{"nope"});
  run(); // the test scheduler must run dir before the answer can arrive
  h.receive([](const telescope_entry&) { CAF_FAIL("lookup of nope found"); },
            [&](const caf::error& err) {
              got_error = true;
              CAF_CHECK(err == caf::error{directory_errc::telescope_not_found});
            });
  CAF_CHECK(got_error);
}

CAF_TEST(an id another node already serves is not taken over) {
  auto a = make_info("scope-x", true);
  a.node = "edge-a";
  register_telescope(a, tel);
  auto b = make_info("scope-x", true);
  b.node = "edge-b";
  auto other = sys.spawn(idle_actor, "tel-b");
  register_telescope(b, other);
  auto e = request<telescope_entry>(dir, lookup_atom_v, std::string{"scope-x"});
  CAF_CHECK_EQUAL(e.info.node, "edge-a");
  CAF_CHECK_EQUAL(e.telescope, tel);
  // Once the first one is gone, the other node may serve the id.
  caf::anon_send_exit(tel, caf::exit_reason::kill);
  run();
  register_telescope(b, other);
  e = request<telescope_entry>(dir, lookup_atom_v, std::string{"scope-x"});
  CAF_CHECK_EQUAL(e.info.node, "edge-b");
  CAF_CHECK_EQUAL(e.telescope, other);
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
}

CAF_TEST(list and health count the fleet) {
  register_telescope(make_info("a", true), tel);
  register_telescope(make_info("b", false), sys.spawn(idle_actor, "tel2"));
  join(sess);
  auto infos = request<std::vector<telescope_info>>(dir, list_atom_v);
  CAF_REQUIRE_EQUAL(infos.size(), 2u);
  CAF_CHECK_EQUAL(infos[0].id, "a");
  CAF_CHECK_EQUAL(infos[1].id, "b");
  CAF_CHECK_EQUAL(health(), (counts{2, 1, 1}));
}

CAF_TEST(a telescope actor that goes down is lost and its entry kept) {
  register_telescope(make_info("seestar-001", true), tel);
  join(sess);
  caf::anon_send_exit(tel, caf::exit_reason::user_shutdown);
  consume_messages();
  auto& s = seen(sess);
  CAF_REQUIRE_EQUAL(s.frames.size(), 1u);
  auto d = parse(s.frames[0]);
  CAF_CHECK_EQUAL(str(d["type"]), "telescope_lost");
  CAF_CHECK_EQUAL(str(d["telescope_id"]), "seestar-001");
  CAF_CHECK_EQUAL(str(d["payload"]["reason"]), "telescope actor down");
  CAF_CHECK(!s.entries[0].telescope);
  CAF_CHECK_EQUAL(health(), (counts{1, 0, 1}));
  auto e
    = request<telescope_entry>(dir, lookup_atom_v, std::string{"seestar-001"});
  CAF_CHECK_EQUAL(e.info.online, false);
  CAF_CHECK_EQUAL(e.info.reason, "telescope actor down");
  // A restarted telescope registers again under the same id.
  auto tel2 = sys.spawn(idle_actor, "tel2");
  register_telescope(make_info("seestar-001", true), tel2);
  expect((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  CAF_REQUIRE_EQUAL(s.frames.size(), 2u);
  CAF_CHECK_EQUAL(str(parse(s.frames[1])["type"]), "telescope_discovered");
  CAF_CHECK_EQUAL(s.entries[1].telescope, tel2);
  CAF_CHECK_EQUAL(health(), (counts{1, 1, 1}));
}

CAF_TEST(a replaced telescope actor going down is not news) {
  register_telescope(make_info("seestar-001", true), tel);
  auto tel2 = sys.spawn(idle_actor, "tel2");
  register_telescope(make_info("seestar-001", true), tel2);
  join(sess);
  caf::anon_send_exit(tel, caf::exit_reason::user_shutdown);
  consume_messages();
  CAF_CHECK(seen(sess).frames.empty());
  CAF_CHECK_EQUAL(health(), (counts{1, 1, 1}));
}

CAF_TEST(a session that goes down or unsubscribes leaves the fleet) {
  auto other = sys.spawn(fake_session, "other");
  join(sess);
  join(sess); // twice: still one member
  join(other);
  CAF_CHECK_EQUAL(session_count(), 2u);
  caf::anon_send_exit(sess, caf::exit_reason::user_shutdown);
  consume_messages();
  CAF_CHECK_EQUAL(session_count(), 1u);
  self->send(dir, caf::unsubscribe_atom_v, other);
  expect((caf::unsubscribe_atom, caf::actor),
         from(self).to(dir).with(_, other));
  self->send(dir, caf::unsubscribe_atom_v, other); // unknown: no-op
  expect((caf::unsubscribe_atom, caf::actor),
         from(self).to(dir).with(_, other));
  CAF_CHECK_EQUAL(session_count(), 0u);
  register_telescope(make_info("seestar-001", true), tel);
  disallow((fleet_atom, telescope_entry, std::string), from(dir).to(other));
  CAF_CHECK(seen(other).frames.empty());
}

CAF_TEST(state of an unknown telescope is ignored) {
  join(sess);
  send_state(make_info("ghost", true));
  disallow((fleet_atom, telescope_entry, std::string), from(dir).to(sess));
  CAF_CHECK_EQUAL(health(), (counts{0, 0, 1}));
}

CAF_TEST_FIXTURE_SCOPE_END()
